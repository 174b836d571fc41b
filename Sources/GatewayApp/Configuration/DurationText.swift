/// Durations as configuration writes them: `500ms`, `30s`, `5m`, `24h`, `23h30m`, `1d`.
///
/// A duration is one or more `<whole number><unit>` parts with units `d`, `h`, `m`, `s`, `ms`,
/// largest first, each at most once (`1h30m`, not `30m1h`). A bare `0` is zero. No fractions,
/// no signs, no spaces: `1.5s` is written `1s500ms`.
public enum DurationText {
    /// The units, largest first, with their length in milliseconds.
    static let units: [(name: String, milliseconds: Int64)] = [
        ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1),
    ]

    /// Parses `text`; nil when it is not a duration.
    public static func parse(_ text: String) -> Duration? {
        let bytes = Array(text.utf8)
        if bytes == [UInt8(ascii: "0")] { return .zero }
        var total: Int64 = 0
        var index = 0
        var lastUnit = -1
        while index < bytes.count {
            var number: Int64 = 0
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                let (m, o1) = number.multipliedReportingOverflow(by: 10)
                let (n, o2) = m.addingReportingOverflow(Int64(bytes[index] - UInt8(ascii: "0")))
                guard !o1, !o2 else { return nil }
                number = n
                index += 1
            }
            guard index > start else { return nil }
            // "ms" before "m": the longest unit name that matches.
            guard let unit = units.indices.filter({ i in
                let name = Array(units[i].name.utf8)
                return bytes[index...].starts(with: name)
                    && (index + name.count == bytes.count || !isLetter(bytes[index + name.count]))
            }).first, unit > lastUnit else { return nil }
            index += units[unit].name.utf8.count
            lastUnit = unit
            let (part, o1) = number.multipliedReportingOverflow(by: units[unit].milliseconds)
            let (sum, o2) = total.addingReportingOverflow(part)
            guard !o1, !o2 else { return nil }
            total = sum
        }
        return lastUnit >= 0 ? .milliseconds(total) : nil
    }

    /// Writes `duration` the way ``parse(_:)`` reads it (`23h30m`, `250ms`, `0s`); sub-millisecond
    /// parts are dropped.
    public static func format(_ duration: Duration) -> String {
        let negative = duration < .zero
        let (seconds, attoseconds) = (negative ? .zero - duration : duration).components
        // Saturate rather than trap on durations no configuration can hold.
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        var rest = overflow || ms > Int64.max - 1000 ? Int64.max : ms + attoseconds / 1_000_000_000_000_000
        if rest == 0 { return "0s" }
        var text = negative ? "-" : ""
        for (name, size) in units where rest >= size {
            // Whole days only when they are a round number of days: `36h` reads better than `1d12h`.
            if name == "d", rest % size != 0 { continue }
            text += "\(rest / size)\(name)"
            rest %= size
        }
        return text
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }
}
