import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import _TestSupport

/// `gateway demo`, the real binary, on the shipped captures: a websocket client receives trades,
/// candles and book snapshots, the health and metrics endpoints answer, and `--duration` stops it
/// cleanly with the data stored in SQLite under `--data-dir`.
@Suite("gateway demo", .serialized)
struct DemoTests {
    @Test func demoServesTradesCandlesAndBooksToAWebsocketClient() async throws {
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (p, output) = try RecordReplayTests.launch(
            binary,
            ["demo", "--duration", "30", "--port", "0", "--data-dir", dir.appendingPathComponent("data").path,
             "--feeds", Fixtures.repository("feeds"), "--speed", "20"],
            in: dir)
        defer { if p.isRunning { p.terminate() } }

        // The port is printed (`--port 0`).
        var port: Int?
        for _ in 0..<600 where port == nil {
            let out = (try? output().out) ?? ""
            if let r = out.range(of: "serving ws://127.0.0.1:") {
                port = Int(out[r.upperBound...].prefix { $0.isNumber })
            }
            if !p.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let bound = try #require(port, "no port printed: \((try? output()) ?? ("", ""))")

        let client = try RawWebSocket(port: bound)
        client.send(#"{"op":"subscribe","id":1,"channels":["trades.*.*","candles.1m.*.*","book.*.*"]}"#)
        #expect(client.readJSON()?["type"] as? String == "ack")
        var types: [String: Int] = [:]
        var lastSeq: [String: Int] = [:]
        var disorder = 0
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, types["trade"] == nil || types["candle"] == nil || types["book_snapshot"] == nil {
            guard let f = client.readJSON(timeout: 5), let type = f["type"] as? String, let ch = f["ch"] as? String else { continue }
            types[type, default: 0] += 1
            let seq = (f["seq"] as? NSNumber)?.intValue ?? 0
            if f["conflated"] as? Bool != true, let last = lastSeq[ch], seq != last + 1, type != "status" { disorder += 1 }
            lastSeq[ch] = seq
        }
        #expect(types["trade", default: 0] > 0, "\(types)")
        #expect(types["candle", default: 0] > 0, "\(types)")
        #expect(types["book_snapshot", default: 0] > 0, "\(types)")
        #expect(disorder == 0)

        func get(_ path: String) async throws -> String {
            let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(bound)\(path)")!)
            return String(decoding: data, as: UTF8.self)
        }
        let health = try await get("/api/v1/health")
        #expect(health.contains(#""clients":1"#), "\(health)")
        // Bus and fan-out series are sampled once a second.
        var metrics = ""
        for _ in 0..<50 where !metrics.contains("gateway_bus_events_published_total{") {
            metrics = try await get("/metrics")
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(metrics.contains("feed_frames_total{"))
        #expect(metrics.contains("gateway_bus_events_published_total{"))
        #expect(metrics.contains("gateway_ws_clients 1"))
        client.close()

        p.waitUntilExit()
        let (out, err) = try output()
        #expect(p.terminationReason == .exit && p.terminationStatus == 0, "demo exited \(p.terminationStatus): \(err.suffix(2000))")
        #expect(out.contains("| frames/s "), "no status line: \(out.suffix(500))")
        #expect(out.contains("demo: stopped"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("data/gateway.sqlite").path))
    }
}
