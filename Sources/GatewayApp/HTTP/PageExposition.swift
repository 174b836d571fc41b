/// One sample line of the Prometheus text exposition: `name{label="value",…} value`.
struct MetricSeries: Sendable, Hashable, Codable {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// Reads the Prometheus text format that ``GatewayMetrics/exposition()`` writes, so the ops page
/// shows exactly the figures `/metrics` has, under the same names.
enum Exposition {
    /// Every sample line; histogram buckets (`_bucket`) and non-finite values are left out (the
    /// page uses a histogram's `_sum` and `_count`; JSON has no infinity).
    static func parse(_ text: [UInt8]) -> [MetricSeries] {
        var out: [MetricSeries] = []
        for line in text.split(separator: UInt8(ascii: "\n")) {
            guard let first = line.first, first != UInt8(ascii: "#"), let s = parseLine(line) else { continue }
            if s.name.hasSuffix("_bucket") || !s.value.isFinite { continue }
            out.append(s)
        }
        return out
    }

    static func parseLine(_ line: ArraySlice<UInt8>) -> MetricSeries? {
        var i = line.startIndex
        while i < line.endIndex, line[i] != UInt8(ascii: "{"), line[i] != UInt8(ascii: " ") { i += 1 }
        let name = String(decoding: line[line.startIndex..<i], as: UTF8.self)
        guard !name.isEmpty, i < line.endIndex else { return nil }
        var labels: [String: String] = [:]
        if line[i] == UInt8(ascii: "{") {
            i += 1
            while i < line.endIndex, line[i] != UInt8(ascii: "}") {
                let keyStart = i
                while i < line.endIndex, line[i] != UInt8(ascii: "=") { i += 1 }
                let key = String(decoding: line[keyStart..<i], as: UTF8.self)
                i += 1  // =
                guard i < line.endIndex, line[i] == UInt8(ascii: "\"") else { return nil }
                i += 1
                var value: [UInt8] = []
                // Escapes of the text format: \\, \" and \n.
                while i < line.endIndex, line[i] != UInt8(ascii: "\"") {
                    if line[i] == UInt8(ascii: "\\"), i + 1 < line.endIndex {
                        i += 1
                        value.append(line[i] == UInt8(ascii: "n") ? UInt8(ascii: "\n") : line[i])
                    } else {
                        value.append(line[i])
                    }
                    i += 1
                }
                guard i < line.endIndex else { return nil }
                i += 1  // closing quote
                labels[key] = String(decoding: value, as: UTF8.self)
                if i < line.endIndex, line[i] == UInt8(ascii: ",") { i += 1 }
            }
            guard i < line.endIndex else { return nil }
            i += 1  // }
        }
        let rest = String(decoding: line[i...], as: UTF8.self).split(separator: " ")
        guard let text = rest.first else { return nil }
        let value: Double?
        switch text {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default: value = Double(text)
        }
        guard let value else { return nil }
        return MetricSeries(name: name, labels: labels, value: value)
    }

    /// The sum of `name`'s series whose labels include `matching`.
    static func sum(_ series: [MetricSeries], _ name: String, matching: [String: String] = [:]) -> Double {
        series.reduce(0) { total, s in
            s.name == name && matching.allSatisfy({ s.labels[$0.key] == $0.value }) ? total + s.value : total
        }
    }
}
