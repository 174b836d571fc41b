import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import _TestSupport
import Feeds
import MarketCore
import Storage

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

    /// The quick start run twice in one data directory: the second run stores and serves new
    /// trades at once. Before, the simulator replayed its capture from the start while the feed
    /// resumed after the stored trade ids, so every trade was dropped as a duplicate until
    /// playback caught up with where the first run stopped ("trades stored 0").
    @Test(.timeLimit(.minutes(3)))
    func aSecondRunInTheSameDataDirectoryContinuesAfterTheFirst() async throws {
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("demo-again-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let args = ["demo", "--duration", "6", "--port", "0", "--data-dir", data, "--feeds", Fixtures.repository("feeds"), "--speed", "20"]
        func btcusdt() async throws -> [StoredTradeMark] {
            let store = try await SQLiteStore(path: data + "/gateway.sqlite")
            let trades = try await store.recentTrades(venue: "binance", symbol: "BTC-USDT", limit: 1_000_000)
            await store.close()
            return trades
        }

        let first = try RecordReplayTests.run(binary, args, in: dir)
        #expect(first.status == 0, "\(first.err.suffix(2000))")
        #expect(!first.out.contains("continues after"))
        let before = try await btcusdt()
        let lastBefore = try #require(before.first, "the first run stored no BTC-USDT trade")

        let second = try RecordReplayTests.run(binary, args, in: dir)
        #expect(second.status == 0, "\(second.err.suffix(2000))")
        #expect(second.out.contains("demo: binance continues after the data of earlier runs"), "\(second.out.prefix(2000))")
        let after = try await btcusdt()
        let earlier = Set(before)
        let new = after.filter { !earlier.contains($0) }
        #expect(new.count > 100, "the second run stored \(new.count) BTC-USDT trades")
        // All of them after the first run's last trade: ids and times go on, nothing is re-stored.
        #expect(new.allSatisfy { Int64($0.id)! > Int64(lastBefore.id)! && $0.time > lastBefore.time })
        #expect(after.count == before.count + new.count)
    }

    /// What a websocket client and curl see while the demo runs (issue 15's bugs): candle updates
    /// say `closed:false`, each bucket closes once with revision 0, and every close of a bucket
    /// the capture covers whole equals the candle `gateway replay` builds from the same capture;
    /// the orderbook endpoint serves the live book; unknown instruments and routes are JSON
    /// errors; every metric family has HELP text and is exported once.
    @Test(.timeLimit(.minutes(4)))
    func whatAClientSeesMatchesReplay() async throws {
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let feeds = Fixtures.repository("feeds")
        // Replay of each capture: the closed 1m/5m candles, keyed by venue, symbol, interval, start.
        var replayed: [String: String] = [:]
        var lastTrade: [String: Int64] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: feeds) where file.hasSuffix(".jsonl.gz") {
            var options = PipelineOptions()
            options.emit = [.candles, .trades]
            var replayer = FeedPipeline(options: options)
            try replayer.run(paths: ["\(feeds)/\(file)"]) { e in
                switch e {
                case .candle(let c) where c.closed && c.revision == 0:
                    replayed["\(c.instrument.venue.id) \(c.instrument.symbol) \(c.interval.name) \(c.start.rawValue / 1_000_000_000)"] = MarketEvent.candle(c).jsonLine
                case .trade(let t): lastTrade[t.instrument.venue.id] = max(lastTrade[t.instrument.venue.id] ?? 0, t.eventTime.rawValue)
                default: break
                }
            }
        }
        let (p, output) = try RecordReplayTests.launch(
            binary,
            ["demo", "--port", "0", "--data-dir", dir.appendingPathComponent("data").path, "--feeds", feeds, "--speed", "4"],
            in: dir)
        defer { if p.isRunning { p.terminate() } }
        var port: Int?
        for _ in 0..<1200 where port == nil {
            let out = (try? output().out) ?? ""
            if let r = out.range(of: "serving ws://127.0.0.1:") { port = Int(out[r.upperBound...].prefix { $0.isNumber }) }
            if !p.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let bound = try #require(port, "no port printed: \((try? output()) ?? ("", ""))")

        let client = try RawWebSocket(port: bound)
        client.send(#"{"op":"subscribe","id":1,"channels":["candles.1m.*.*","candles.5m.*.*"]}"#)
        let payloads: [[UInt8]] = await onThread {
            var out: [[UInt8]] = []
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline { if let f = client.readFrame(timeout: 2), f.opcode == 0x1 { out.append(f.payload) } }
            return out
        }
        client.close()
        // (At --speed 4 the debug-built gateway keeps up even on a loaded 2-core machine; a gateway
        // that falls far behind a fast simulator stamps frames late and may see late trades, as a
        // lagging gateway would live: that is what revisions are for.)
        let frames = payloads.compactMap { (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] }
        var updates = 0
        var closes: [String: [Int]] = [:]
        var compared = 0
        for f in frames where f["type"] as? String == "candle" {
            let d = try #require(f["data"] as? [String: Any])
            guard d["closed"] as? Bool == true else {
                updates += 1
                continue
            }
            let venue = d["venue"] as! String
            let start = try #require(UnixNanos.parseISO8601(d["start"] as! String)).rawValue
            let key = "\(venue) \(d["symbol"]!) \(d["interval"]!) \(start / 1_000_000_000)"
            closes[key, default: []].append((d["revision"] as? NSNumber)?.intValue ?? -1)
            // Buckets the capture covers whole (a loop's next pass never reaches into them).
            let length: Int64 = d["interval"] as? String == "5m" ? 300_000_000_000 : 60_000_000_000
            if start + length <= (lastTrade[venue] ?? 0), let want = replayed[key], d["revision"] as? NSNumber == 0 {
                let got = try JSONSerialization.data(withJSONObject: d, options: [.sortedKeys])
                let expected = try JSONSerialization.data(
                    withJSONObject: try JSONSerialization.jsonObject(with: Data(want.utf8)), options: [.sortedKeys])
                #expect(got == expected, "\(key):\n live \(String(decoding: got, as: UTF8.self))\n replay \(want)")
                compared += 1
            }
        }
        #expect(updates > 0, "no open-candle updates")
        #expect(compared >= 3, "compared only \(compared) closes with replay")
        for (bucket, revisions) in closes {
            #expect(revisions == Array(0..<revisions.count), "\(bucket): closes with revisions \(revisions)")
        }

        func get(_ path: String) async throws -> (Int, [String: Any]) {
            let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(bound)\(path)")!)
            return ((response as! HTTPURLResponse).statusCode, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
        }
        // The live book, once the binance book is synchronized.
        var book: (Int, [String: Any]) = (0, [:])
        for _ in 0..<100 {
            book = try await get("/api/v1/market/orderbook/BTC-USDT?venue=binance&depth=5")
            if book.0 == 200 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(book.0 == 200 && book.1["source"] as? String == "live" && book.1["valid"] as? Bool == true, "\(book)")
        let bids = (book.1["bids"] as? [[String]]) ?? []
        let asks = (book.1["asks"] as? [[String]]) ?? []
        #expect(bids.count == 5 && asks.count == 5)
        if let bid = bids.first.flatMap({ Decimal(string: $0[0]) }), let ask = asks.first.flatMap({ Decimal(string: $0[0]) }) {
            #expect(bid < ask)
        }
        let unknown = try await get("/api/v1/market/ohlcv/ETH-USDT?venue=binance")
        #expect(unknown.0 == 404 && (unknown.1["error"] as? [String: Any])?["code"] as? String == "unknown_instrument", "\(unknown)")
        let noRoute = try await get("/no-such-route")
        #expect(noRoute.0 == 404 && (noRoute.1["error"] as? [String: Any])?["code"] as? String == "not_found", "\(noRoute)")

        // Metrics: every family has HELP, each is exported once.
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(bound)/metrics")!)
        let text = String(decoding: data, as: UTF8.self)
        var types: [String] = []
        var helps: Set<String> = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if line.hasPrefix("# TYPE "), parts.count >= 3 { types.append(String(parts[2])) }
            if line.hasPrefix("# HELP "), parts.count >= 4 { helps.insert(String(parts[2])) }
        }
        #expect(types.count > 10, "\(text.prefix(500))")
        #expect(Set(types).count == types.count, "families exported twice: \(types)")
        #expect(Set(types).subtracting(helps).isEmpty, "no HELP for \(Set(types).subtracting(helps).sorted())")
        #expect(!types.contains { $0.hasPrefix("gateway_store_") }, "store metrics exported under two names")
        p.terminate()
        p.waitUntilExit()
    }
}
