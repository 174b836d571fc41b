import Foundation
import Testing
import _TestSupport
@testable import GatewayApp

/// `/ops` in a real headless Chromium against a running `gateway demo`: within 10 s every demo
/// venue shows non-zero frames/s, the connected test client is counted in `clients`, and every
/// figure named after a `/metrics` family is within 20 % of what `/metrics` says at that moment.
@Suite("ops page", .serialized)
struct PageOpsTests {
    /// `name{labels}` → value, from the Prometheus text (an independent reader: the page's own
    /// parser lives in the gateway).
    static func parseMetrics(_ text: String) -> [(name: String, labels: [String: String], value: Double)] {
        var out: [(String, [String: String], Double)] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let s = String(line)
            guard let space = s.lastIndex(of: " "), let value = Double(s[s.index(after: space)...]) else { continue }
            let head = String(s[..<space])
            var labels: [String: String] = [:]
            var name = head
            if let open = head.firstIndex(of: "{"), head.hasSuffix("}") {
                name = String(head[..<open])
                let body = head[head.index(after: open)..<head.index(before: head.endIndex)]
                // Label values here hold no commas or quotes (venues, tables, codes, types).
                for pair in body.split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2 { labels[String(kv[0])] = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
                }
            }
            out.append((name, labels, value))
        }
        return out
    }

    /// The sum of `name`'s series whose labels include `labels`; nil when the family is absent.
    static func sum(_ series: [(name: String, labels: [String: String], value: Double)], _ name: String, _ labels: [String: String]) -> Double? {
        let matching = series.filter { s in s.name == name && labels.allSatisfy { k, v in s.labels[k] == v } }
        return series.contains { $0.name == name } ? matching.reduce(0) { $0 + $1.value } : nil
    }

    /// Every `[data-metric]` element: name, its data-* labels, and its text.
    static let readFigures = """
        [...document.querySelectorAll('[data-metric]')].map(e => {
          const labels = {};
          for (const [k, v] of Object.entries(e.dataset)) if (k !== 'metric') labels[k] = v;
          return {name: e.dataset.metric, labels, text: e.textContent};
        })
        """

    // Queue lengths and the write-ahead log size move with every batch: no two reads agree.
    // Books flip valid → invalid → valid within a second when a demo capture loops and its book
    // resyncs; the page may catch the flip between two /metrics reads. Their total per venue is
    // stable, and is compared on its own below.
    static let instantaneous: Set<String> = ["store_queue_depth", "gateway_ws_queued_frames", "store_write_ahead_bytes", "store_spill_bytes",
                                             "normalizer_books"]

    @Test(.timeLimit(.minutes(3)))
    func opsPageShowsLiveFiguresThatAgreeWithMetrics() async throws {
        let demo = try await PageDemo()
        defer { demo.stop() }
        let browser = try Browser()
        defer { browser.close() }
        // The test's own websocket client, which `clients` must count.
        let client = try RawWebSocket(port: demo.port)
        defer { client.close() }
        client.send(#"{"op":"subscribe","id":1,"channels":["trades.*.*"]}"#)
        #expect(client.readJSON()?["type"] as? String == "ack")
        let venues = try demo.venues()
        #expect(venues.count >= 3, "demo venues: \(venues)")

        let page = try browser.newPage()
        defer { page.close() }
        try page.navigate(demo.base + "/ops")
        // Within 10 s of opening the page: frames/s above zero for every venue.
        let allRates = venues.map { "parseFloat(document.querySelector('[data-metric=frames_per_second][data-venue=\"\($0)\"]')?.textContent) > 0" }
            .joined(separator: " && ")
        let live = try page.waitFor(allRates, seconds: 10)
        let shown = try page.evaluate(
            "[...document.querySelectorAll('[data-metric=frames_per_second]')].map(e => e.dataset.venue + '=' + e.textContent).join(' ')")
        #expect(live, "frames/s per venue after 10 s: \(shown ?? "none")")
        #expect(try page.waitFor("parseInt(document.querySelector('[data-metric=clients]')?.textContent) >= 1", seconds: 5))

        // Let the counters grow, then compare the page with /metrics at the same moment, a few times.
        try await Task.sleep(for: .seconds(6))
        var compared: Set<String> = []
        var worst: [String] = []
        // "The same moment": /metrics read just before the page shows a report built after that read
        // (two refreshes later), and again just after; the page's figure must lie within 20 % of
        // the range the two reads span (counters grow in between, by whole store batches).
        let refreshed = "window.__tick !== document.getElementById('updated').textContent && (window.__tick = document.getElementById('updated').textContent)"
        for round in 0..<3 {
            let before = Self.parseMetrics(try demo.metricsText())
            _ = try page.waitFor(refreshed, seconds: 3)
            _ = try page.waitFor(refreshed, seconds: 3)
            let figures = try #require(try page.evaluate(Self.readFigures) as? [[String: Any]])
            let after = Self.parseMetrics(try demo.metricsText())
            // Books per venue, valid + invalid, as the page shows them, against /metrics.
            var pageBooks: [String: Double] = [:]
            for f in figures where f["name"] as? String == "normalizer_books" {
                guard let text = f["text"] as? String, let value = Double(text),
                      let venue = (f["labels"] as? [String: String])?["venue"] else { continue }
                pageBooks[venue, default: 0] += value
            }
            for (venue, shown) in pageBooks {
                let first = Self.sum(before, "normalizer_books", ["venue": venue]) ?? -1
                let second = Self.sum(after, "normalizer_books", ["venue": venue]) ?? -1
                if shown != first && shown != second {
                    worst.append("round \(round) books of \(venue): page \(shown), /metrics \(first) then \(second)")
                }
                compared.insert("books of \(venue)")
            }
            for f in figures {
                guard var name = f["name"] as? String, let text = f["text"] as? String, let value = Double(text) else { continue }
                // Queue lengths change many times a second: no two reads agree, on the page or not.
                if Self.instantaneous.contains(name) { continue }
                if name == "clients" { name = "gateway_ws_clients" }
                let labels = f["labels"] as? [String: String] ?? [:]
                guard let first = Self.sum(before, name, labels), let second = Self.sum(after, name, labels) else { continue }
                let key = "\(name)\(labels.sorted { $0.key < $1.key })"
                compared.insert(key)
                let low = min(first, second), high = max(first, second)
                // 20 %, and at least ±1 (a count of 0 vs 1 is not a 100 % error worth failing on).
                let tolerance = max(0.2 * max(abs(low), abs(high)), 1)
                if value < low - tolerance || value > high + tolerance {
                    worst.append("round \(round) \(key): page \(value), /metrics \(first) then \(second)")
                }
            }
        }
        #expect(worst.isEmpty, "\(worst)")
        for v in venues {
            for name in ["feed_frames_total", "feed_reconnects_total", "normalizer_gaps_total", "normalizer_resyncs_total", "normalizer_checksum_failures_total"] {
                #expect(compared.contains("\(name)[(key: \"venue\", value: \"\(v)\")]"), "\(name) of \(v) not compared: \(compared.sorted())")
            }
        }
        #expect(compared.contains("gateway_ws_clients[]"))
        #expect(compared.count >= 30, "compared only \(compared.count) figures")
        // The test client is among the clients the page shows (it is the only other websocket).
        let clientsText = try page.evaluate("document.querySelector('[data-metric=clients]').textContent") as? String
        #expect(clientsText == "1", "clients on the page: \(clientsText ?? "none")")

        // The other sections are filled in.
        for name in ["delivered_per_second", "delivered_bytes_per_second", "store_backend", "store_queue_depth", "store_spill_bytes",
                     "process_resident_memory_bytes", "cpu_percent", "uptime_seconds", "version", "normalizer_candle_revisions_total",
                     "gateway_ws_frames_conflated_total", "gateway_ws_frames_dropped_total", "store_batch_seconds_average"] {
            #expect(try page.evaluate("!!document.querySelector('[data-metric=\(name)]')") as? Bool == true, "no \(name) on the page")
        }
        #expect(try page.evaluate("document.querySelector('[data-metric=store_backend]').textContent") as? String == "sqlite")
        #expect(try page.evaluate("parseFloat(document.querySelector('[data-metric=process_resident_memory_bytes]').textContent) > 1e6") as? Bool == true)
        let states = try page.evaluate("[...document.querySelectorAll('[data-metric=state]')].map(e => e.textContent)") as? [String] ?? []
        #expect(states.count == venues.count && states.allSatisfy { ["connected", "resyncing", "stale"].contains($0) }, "\(states)")
        #expect(try page.evaluate("document.querySelectorAll('svg.spark polyline').length > 3") as? Bool == true, "no sparklines drawn")

        // Every metric the alerts and the dashboard read is on the running gateway's /metrics.
        let (alerts, dashboard) = try PromQL.opsExpressions()
        let families = Set(try demo.metricsText().split(separator: "\n").compactMap { line -> String? in
            line.hasPrefix("# TYPE ") ? line.split(separator: " ").dropFirst(2).first.map(String.init) : nil
        })
        // Labelled by close or error code: their first series appears with the first close or error.
        let firstEvent: Set<String> = ["gateway_ws_closes_total", "gateway_ws_client_errors_total"]
        let absent = Set((Array(alerts.values) + dashboard).flatMap { PromQL.metricNames($0).map(PromQL.family) })
            .subtracting(families).subtracting(firstEvent)
        // Only a cluster node exports the cluster families (this demo is one process); their names
        // are held to the gateway's own table of families instead.
        let clusterOnly = absent.filter { $0.hasPrefix("cluster_") && MetricHelp.text[$0] != nil }
        #expect(absent.subtracting(clusterOnly).isEmpty, "read by ops/ but not on /metrics: \(absent.sorted())")

        if let dir = screenshotDirectory { try page.screenshot(to: "\(dir)/ops.png") }
        page.drainEvents()
        #expect(page.errors.isEmpty, "console errors: \(page.errors)")
        let err = demo.stop()
        #expect(!err.contains("routes missing from openapi.yaml"), "\(err.suffix(2000))")
    }
}
