#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Histogram

/// The run's figures, printed as a table and optionally as one JSON object.
struct Report {
    let options: LoadGen
    let counts: Progress.Counts
    let stats: Snapshot
    let endedBy: String
    let connectSeconds: Double
    let wallSeconds: Double
    let runSeconds: Double
    let cpuSubscribed: (user: Double, sys: Double)
    let cpuEnd: (user: Double, sys: Double)
    let rss: RSSSampler
    let fdLimit: UInt64

    /// First data frame to last (receive times), as wsload measures it.
    var dataSeconds: Double {
        stats.lastRxNs > stats.firstRxNs ? Double(stats.lastRxNs - stats.firstRxNs) / 1e9 : 0
    }
    var msgsPerSecond: Double { dataSeconds > 0 ? Double(stats.delivered) / dataSeconds : 0 }
    var cpuSeconds: Double { cpuEnd.user + cpuEnd.sys }
    /// CPU over the whole process life (connects included), in % of one core.
    var cpuPercent: Double { wallSeconds > 0 ? cpuSeconds / wallSeconds * 100 : 0 }
    /// CPU after all clients subscribed (the delivery phase), in % of one core.
    var runCpuPercent: Double {
        let cpu = cpuSeconds - (cpuSubscribed.user + cpuSubscribed.sys)
        return runSeconds > 0 ? cpu / runSeconds * 100 : 0
    }
    var bytesPerConnection: Double? {
        guard let before = rss.before, let after = rss.subscribed, counts.upgraded > 0 else { return nil }
        return Double(after - before) / Double(counts.upgraded)
    }

    /// Latency percentile in ms (the histogram holds ns).
    func latencyMs(_ percentile: Double) -> Double {
        stats.timed > 0 ? Double(stats.latency.valueAtPercentile(percentile)) / 1e6 : 0
    }
    var maxLatencyMs: Double { stats.timed > 0 ? Double(stats.latency.max) / 1e6 : 0 }
    var meanLatencyMs: Double { stats.timed > 0 ? stats.latency.mean / 1e6 : 0 }

    var closeCodesText: String {
        stats.closeCodes.isEmpty ? "-" : stats.closeCodes.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " ")
    }

    func printTable() {
        let mb = { (v: Int?) in v.map { fmt(Double($0) / 1_048_576, 1) + " MiB" } ?? "-" }
        var rows: [(String, String)] = [
            ("clients connected / failed", "\(counts.upgraded) / \(counts.failed) of \(options.clients)"),
            ("subscribed (acked) / got end", "\(counts.acked) / \(counts.ended)"),
            ("connect time", fmt(connectSeconds, 2) + " s"),
            ("messages delivered", "\(stats.delivered) (timed \(stats.timed), server sent \(stats.sentByServer))"),
            ("duration (first→last data)", fmt(dataSeconds, 3) + " s"),
            ("delivered msgs/s", fmt(msgsPerSecond, 0)),
            ("latency p50 / p99 / p99.9 / max", [latencyMs(50), latencyMs(99), latencyMs(99.9), maxLatencyMs].map { fmt($0, 3) }.joined(separator: " / ") + " ms"),
            ("gaps / missing / duplicates", "\(stats.gaps) / \(stats.missing) / \(stats.duplicates)"),
            ("short of sent at end", "\(stats.shortOfSent)"),
            ("close codes", closeCodesText + " (closed before end: \(stats.closedBeforeEnd))"),
            ("run ended by", endedBy),
            ("loadgen CPU", "\(fmt(cpuEnd.user, 2)) s user + \(fmt(cpuEnd.sys, 2)) s sys; \(fmt(cpuPercent, 0)) % of a core overall, \(fmt(runCpuPercent, 0)) % after subscribe"),
        ]
        if let first = counts.firstError { rows.append(("first error", first)) }
        if options.serverPid != nil {
            rows.append(("server RSS before / subscribed / end / peak", [rss.before, rss.subscribed, rss.end, rss.peak].map(mb).joined(separator: " / ")))
            rows.append(("server bytes per connection", bytesPerConnection.map { fmt($0, 0) } ?? "-"))
        }
        let width = rows.map(\.0.count).max() ?? 0
        let text = rows.map { $0.0 + String(repeating: " ", count: width - $0.0.count) + "  " + $0.1 }.joined(separator: "\n") + "\n"
        // With --json, stdout carries only the JSON object.
        if options.json {
            var bytes = Array(text.utf8)
            _ = write(2, &bytes, bytes.count)
        } else {
            print(text, terminator: "")
        }
    }

    func json() -> String {
        var o = JSONObject()
        o["clients_requested"] = options.clients
        o["clients_connected"] = counts.upgraded
        o["clients_failed"] = counts.failed
        o["clients_subscribed"] = counts.acked
        o["clients_got_end"] = counts.ended
        o["first_error"] = counts.firstError
        o["event_loops"] = options.eventLoops
        o["connect_s"] = connectSeconds
        o["messages_delivered"] = Int(stats.delivered)
        o["messages_timed"] = Int(stats.timed)
        o["sent_by_server"] = Int(stats.sentByServer)
        o["short_of_sent"] = Int(stats.shortOfSent)
        o["duration_s"] = dataSeconds
        o["msgs_per_s"] = msgsPerSecond
        o["per_conn_min"] = stats.perConnMin == .max ? 0 : Int(stats.perConnMin)
        o["per_conn_max"] = Int(stats.perConnMax)
        var lat = JSONObject()
        lat["p50"] = latencyMs(50)
        lat["p90"] = latencyMs(90)
        lat["p99"] = latencyMs(99)
        lat["p99_9"] = latencyMs(99.9)
        lat["max"] = maxLatencyMs
        lat["mean"] = meanLatencyMs
        o["latency_ms"] = lat
        o["latency_negative"] = Int(stats.negativeLatency)
        o["gaps"] = Int(stats.gaps)
        o["missing"] = Int(stats.missing)
        o["duplicates"] = Int(stats.duplicates)
        var codes = JSONObject()
        for (code, n) in stats.closeCodes.sorted(by: { $0.key < $1.key }) { codes["\(code)"] = n }
        o["close_codes"] = codes
        o["closed_before_end"] = stats.closedBeforeEnd
        o["other_frames"] = Int(stats.otherFrames)
        o["error_frames"] = Int(stats.errorFrames)
        o["pings"] = Int(stats.pings)
        o["ended_by"] = endedBy
        o["wall_s"] = wallSeconds
        o["cpu_user_s"] = cpuEnd.user
        o["cpu_sys_s"] = cpuEnd.sys
        o["cpu_pct"] = cpuPercent
        o["run_cpu_pct"] = runCpuPercent
        o["fd_limit"] = Int(fdLimit)
        if let pid = options.serverPid {
            var r = JSONObject()
            r["pid"] = Int(pid)
            r["before"] = rss.before
            r["subscribed"] = rss.subscribed
            r["end"] = rss.end
            r["peak"] = rss.peak
            r["bytes_per_conn"] = bytesPerConnection
            o["server_rss_bytes"] = r
        }
        return o.text
    }
}

func fmt(_ v: Double, _ decimals: Int) -> String {
    var buf = [CChar](repeating: 0, count: 64)
    _ = withVaList([v]) { vsnprintf(&buf, buf.count, "%.\(decimals)f", $0) }
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func jsonEscaped(_ s: String) -> String {
    var out = ""
    for ch in s.unicodeScalars {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case _ where ch.value < 0x20: out += "\\u" + String(ch.value, radix: 16).leftPad(4)
        default: out.unicodeScalars.append(ch)
        }
    }
    return out
}

private extension String {
    func leftPad(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

/// A minimal ordered JSON object writer (keys keep insertion order; nil becomes null).
struct JSONObject {
    private var fields: [(String, String)] = []

    subscript(key: String) -> Int? {
        get { nil }
        set { fields.append((key, newValue.map(String.init) ?? "null")) }
    }
    subscript(key: String) -> Double? {
        get { nil }
        set { fields.append((key, newValue.map { $0.isFinite ? fmt($0, 3) : "null" } ?? "null")) }
    }
    subscript(key: String) -> String? {
        get { nil }
        set { fields.append((key, newValue.map { "\"\(jsonEscaped($0))\"" } ?? "null")) }
    }
    subscript(key: String) -> JSONObject? {
        get { nil }
        set { fields.append((key, newValue?.text ?? "null")) }
    }

    var text: String { "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}" }
}
