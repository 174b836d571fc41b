import ExchangeSimulator
import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import Venues
import _TestSupport

// The simulator's Bybit model against the recorded orderbook.500 stream and the documented trade
// samples, cross-checked with the gateway's own adapter and normalizer and with substring counts.

@Suite("Bybit model")
struct BybitModelTests {
    static let fixture = "bybit/v5-orderbook500-xrpusdt-2024-12-01.jsonl.gz"

    static func docSample(_ name: String) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("VenuesTests/BybitDocSamples/\(name)")
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// The `"u":` number of a frame, by text search.
    static func u(_ frame: String) -> Int64 {
        let r = frame.range(of: "\"u\":")!
        return Int64(String(frame[r.upperBound...].prefix { $0.isNumber }))!
    }

    @Test func classificationMatchesSubstringCounts() throws {
        let frames = try Fixtures.records(Self.fixture).filter { $0.kind == .ws }.map(text)
        var model = BybitModel()
        let roles = frames.map { model.observe(frame: $0) }
        let snapshots = frames.count { $0.contains("\"type\":\"snapshot\"") }
        let deltas = frames.count { $0.contains("\"type\":\"delta\"") }
        #expect(snapshots == 1 && deltas == 49)
        #expect(roles.count { $0 == .bookSnapshot(symbol: "XRPUSDT") } == snapshots)
        #expect(roles.count { $0 == .bookDelta(symbol: "XRPUSDT") } == deltas)
        #expect(roles.count == snapshots + deltas)
    }

    /// Right after the venue's snapshot the model writes it back byte for byte (same key order, the
    /// 500 levels a side as sent, `u`, `seq`, `ts`, `cts`).
    @Test func snapshotAfterVenueSnapshotReproducesItExactly() throws {
        let frame = try #require(try Fixtures.records(Self.fixture).map(text).first { $0.contains("\"type\":\"snapshot\"") })
        var model = BybitModel()
        _ = model.observe(frame: frame)
        #expect(model.snapshotFrames() == [frame])
        #expect(model.corruptingChecksum(frame) == nil)
    }

    /// Mid-stream: the gateway reading the model's snapshot holds the book it built from the
    /// original frames, takes the remaining deltas (`u` + 1 each) without a gap, and ends with the
    /// same book as the original replay.
    @Test func midStreamSnapshotEqualsGatewayBookAndLaterDeltasFollow() throws {
        let records = try Fixtures.records(Self.fixture)
        let k = records.count / 2
        var model = BybitModel()
        var reference = GatewayPipeline(.bybit)
        for r in records[..<k] {
            if r.kind == .ws { _ = model.observe(frame: text(r)) }
            reference.feed(r)
        }
        let frames = model.snapshotFrames()
        #expect(frames.count == 1)
        let snapshot = try #require(frames.first)
        #expect(Self.u(snapshot) == Self.u(text(records[k - 1])))

        var synthesized = GatewayPipeline(.bybit)
        let events = synthesized.feed(connection: records[k].connection, frame: Array(snapshot.utf8), receiveTime: records[k - 1].receiveTime)
        guard events.count == 1, case .book(let u) = events[0], u.isSnapshot else {
            Issue.record("not one snapshot: \(events)")
            return
        }
        let ref = try #require(reference.book(u.instrument))
        let syn = try #require(synthesized.book(u.instrument))
        #expect(syn.bids.count == 500 && syn.asks.count == 500)
        #expect(syn.bids == ref.bids && syn.asks == ref.asks)
        #expect(synthesized.statuses.map(\.kind.name) == ["synced"])

        for r in records[k...] {
            synthesized.feed(r)
            reference.feed(r)
        }
        #expect(synthesized.statuses.map(\.kind.name) == ["synced"])
        #expect(synthesized.normalizer.counters.bookGaps == 0)
        let refEnd = try #require(reference.book(u.instrument))
        let synEnd = try #require(synthesized.book(u.instrument))
        #expect(synEnd.bids == refEnd.bids && synEnd.asks == refEnd.asks)
    }

    /// A delta whose `u` is not above the book's is stale: classified, not applied. A new snapshot
    /// (here `u` 1, Bybit's service-restart case) resets the book and its `u`.
    @Test func staleDeltasAreIgnoredAndSnapshotsReset() throws {
        var model = BybitModel()
        let topic = #""topic":"orderbook.50.BTCUSDT""#
        _ = model.observe(frame: #"{\#(topic),"type":"snapshot","ts":10,"data":{"s":"BTCUSDT","b":[["100.0","1"]],"a":[["101.0","2"]],"u":7,"seq":70},"cts":9}"#)
        let before = model.snapshotFrames()
        #expect(model.observe(frame: #"{\#(topic),"type":"delta","ts":11,"data":{"s":"BTCUSDT","b":[["100.0","0"]],"a":[],"u":7,"seq":71},"cts":10}"#) == .bookDelta(symbol: "BTCUSDT"))
        #expect(model.snapshotFrames() == before)
        _ = model.observe(frame: #"{\#(topic),"type":"delta","ts":12,"data":{"s":"BTCUSDT","b":[["99.5","3"]],"a":[["101.0","0"]],"u":8,"seq":72},"cts":11}"#)
        #expect(
            model.snapshotFrames() == [
                #"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":12,"data":{"s":"BTCUSDT","b":[["100.0","1"],["99.5","3"]],"a":[],"u":8,"seq":72},"cts":11}"#
            ])
        _ = model.observe(frame: #"{\#(topic),"type":"snapshot","ts":13,"data":{"s":"BTCUSDT","b":[["98","1"]],"a":[["102","1"]],"u":1,"seq":80},"cts":12}"#)
        #expect(
            model.snapshotFrames() == [
                #"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":13,"data":{"s":"BTCUSDT","b":[["98","1"]],"a":[["102","1"]],"u":1,"seq":80},"cts":12}"#
            ])
    }

    /// `publicTrade`: UUID ids (derivatives) are not numeric ids; spot's digit ids are. The REST
    /// recent-trade list answers them newest first.
    @Test func tradesAndRecentTradeREST() throws {
        var model = BybitModel()
        for name in ["public-trade.json", "public-trade-usdc-perpetual.json"] {
            let sample = try Self.docSample(name)
            let object = try #require(json(sample) as? [String: Any])
            let data = try #require(object["data"] as? [[String: Any]])
            let symbol = try #require(data.first?["s"] as? String)
            #expect(model.observe(frame: sample) == .trade(symbol: symbol, ids: []))
        }
        let spot = #"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":2,"data":[{"T":1,"s":"BTCUSDT","S":"Sell","v":"0.5","p":"16000.10","L":"MinusTick","i":"2290000000061666327","BT":false},{"T":2,"s":"BTCUSDT","S":"Buy","v":"0.25","p":"16000.20","L":"PlusTick","i":"2290000000061666328","BT":false}]}"#
        #expect(model.observe(frame: spot) == .trade(symbol: "BTCUSDT", ids: [2_290_000_000_061_666_327, 2_290_000_000_061_666_328]))

        let body = try #require(model.rest(path: "/v5/market/recent-trade", query: ["category": "spot", "symbol": "BTCUSDT", "limit": "2"]))
        let object = try #require(json(body) as? [String: Any])
        #expect(object["retCode"] as? Int == 0)
        let list = try #require((object["result"] as? [String: Any])?["list"] as? [[String: Any]])
        #expect(list.map { $0["execId"] as? String } == ["2290000000061666328", "2290000000061666327"])
        #expect(list.map { $0["price"] as? String } == ["16000.20", "16000.10"])
        #expect(list.first?["time"] as? String == "2")
        let missing = try #require(json(model.rest(path: "/v5/market/recent-trade", query: [:])) as? [String: Any])
        #expect(missing["retCode"] as? Int == 10001)
        #expect(model.rest(path: "/v5/market/kline", query: [:]) == nil)
    }

    /// The REST order book is the best `limit` levels of the model's current book.
    @Test func restOrderbook() throws {
        var model = BybitModel()
        let frames = try Fixtures.records(Self.fixture).map(text)
        for f in frames { _ = model.observe(frame: f) }
        let body = try #require(model.rest(path: "/v5/market/orderbook", query: ["category": "linear", "symbol": "XRPUSDT", "limit": "5"]))
        let result = try #require((json(body) as? [String: Any])?["result"] as? [String: Any])
        let bids = try #require(result["b"] as? [[String]])
        let asks = try #require(result["a"] as? [[String]])
        #expect(bids.count == 5 && asks.count == 5)
        #expect(result["u"] as? Int == Int(Self.u(frames.last!)))
        // The same levels as the top of the websocket snapshot the model writes.
        let snapshot = try #require(json(model.snapshotFrames()[0]) as? [String: Any])
        let data = try #require(snapshot["data"] as? [String: Any])
        let snapshotBids = try #require(data["b"] as? [[String]])
        let snapshotAsks = try #require(data["a"] as? [[String]])
        #expect(bids == Array(snapshotBids.prefix(5)) && asks == Array(snapshotAsks.prefix(5)))
    }

    @Test func clientRequests() throws {
        let model = BybitModel()
        let subscribe = #"{"req_id":"1","op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT"]}"#
        #expect(model.classify(clientText: subscribe) == .subscribe([StreamTopic(.book, "BTCUSDT"), StreamTopic(.trades, "BTCUSDT")]))
        #expect(
            model.classify(clientText: #"{"op":"ping"}"#)
                == .ping(reply: #"{"success":true,"ret_msg":"pong","conn_id":"sim","op":"ping"}"#))
        #expect(
            model.classify(clientText: #"{"req_id":"hb3","op":"ping"}"#)
                == .ping(reply: #"{"success":true,"ret_msg":"pong","conn_id":"sim","req_id":"hb3","op":"ping"}"#))
        #expect(model.classify(clientText: #"{"op":"unsubscribe","args":["orderbook.500.XRPUSDT"]}"#) == .unsubscribe([StreamTopic(.book, "XRPUSDT")]))
        #expect(model.classify(clientText: #"{"op":"auth","args":[]}"#) == .other)
        #expect(model.classify(clientText: "ping") == .other)

        let refusal = model.subscriptionError(for: #"{"op":"subscribe","args":["orderbook.50.NOPE"]}"#)
        #expect(refusal == #"{"success":false,"ret_msg":"error:handler not found","conn_id":"sim","op":"subscribe"}"#)
        let object = try #require(json(model.subscriptionError(for: subscribe)) as? [String: Any])
        #expect(object["success"] as? Bool == false && object["req_id"] as? String == "1" && object["op"] as? String == "subscribe")

        // The gateway reads the pong as control and the refusal as a venue error.
        var pipeline = GatewayPipeline(.bybit)
        guard case .ping(let pong) = model.classify(clientText: #"{"req_id":"hb3","op":"ping"}"#) else { return }
        pipeline.feed(connection: nil, frame: Array(pong.utf8), receiveTime: UnixNanos(1))
        pipeline.feed(connection: nil, frame: Array(refusal.utf8), receiveTime: UnixNanos(2))
        #expect(pipeline.statuses.map(\.kind.name) == ["venue_error"])
    }
}
