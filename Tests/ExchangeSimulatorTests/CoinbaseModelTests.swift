import ExchangeSimulator
import Foundation
import MarketCore
import Testing
import _TestSupport

@Suite struct CoinbaseModelTests {
    static let capture = "coinbase/exchange-level2-2021-04-17.jsonl.gz"

    /// Independent cross-check: the snapshots a late subscriber would get after the timeline equal
    /// the books the gateway's own replay builds from the same capture.
    @Test func snapshotFramesEqualTheReplayedBooks() async throws {
        let replayed = try replayedBooks(Self.capture)
        try #require(replayed.count == 10)
        try await withSimulator(speed: .infinity, [(.coinbase, Self.capture)]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .coinbase))
            probe.send(coinbaseSubscribe)
            await sim.waitUntilFinished(venue: .coinbase)
            let model = try #require(await sim.model(venue: .coinbase))
            let snapshots = model.snapshotFrames().compactMap(jsonObject)
            #expect(snapshots.count == 10)
            for s in snapshots {
                let product = try #require(s["product_id"] as? String)
                #expect(s["type"] as? String == "snapshot")
                let book = try #require(replayed[product], "\(product) replayed")
                #expect(levelPairs(s["bids"]) == book.bids, "\(product) bids")
                #expect(levelPairs(s["asks"]) == book.asks, "\(product) asks")
            }
        }
    }

    @Test func tradesFollowCoinbaseCursorSemantics() async throws {
        // Trade ids per product, from the capture itself.
        var byProduct: [String: [(id: Int64, frame: [String: Any])]] = [:]
        for frame in try captureFrames(Self.capture) {
            guard let o = jsonObject(frame), ["match", "last_match"].contains(o["type"] as? String ?? ""),
                let p = o["product_id"] as? String, let id = (o["trade_id"] as? NSNumber)?.int64Value
            else { continue }
            if !(byProduct[p]?.contains { $0.id == id } ?? false) { byProduct[p, default: []].append((id, o)) }
        }
        let (product, trades) = try #require(byProduct.max { $0.value.count < $1.value.count })
        let sorted = trades.sorted { $0.id < $1.id }
        try #require(sorted.count >= 8)
        try await withSimulator(speed: .infinity, [(.coinbase, Self.capture)]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .coinbase))
            probe.send(coinbaseSubscribe)
            await sim.waitUntilFinished(venue: .coinbase)
            let base = sim.restBaseURL(venue: .coinbase) + "/products/\(product)/trades"
            func ids(_ query: String) async throws -> [Int64] {
                let rows = try #require(jsonArray(try await httpGet(base + query).body))
                return rows.map { ($0["trade_id"] as! NSNumber).int64Value }
            }
            let all = sorted.map(\.id)
            // Newest first.
            #expect(try await ids("?limit=3") == Array(all.suffix(3).reversed()))
            // after=<id>: older trades (id < after), newest of those first.
            let cursor = all[6]
            #expect(try await ids("?after=\(cursor)&limit=4") == Array(all[2..<6].reversed()))
            #expect(try await ids("?after=\(all[0])").isEmpty)
            // before=<id>: the page of newer trades right after it.
            #expect(try await ids("?before=\(all[1])&limit=2") == [all[3], all[2]])
            // Default limit 100.
            #expect(try await ids("").count == min(100, all.count))
            // Fields are the stream's strings.
            let rows = try #require(jsonArray(try await httpGet(base + "?limit=1").body))
            let newest = sorted.last!.frame
            for key in ["price", "size", "side", "time"] { #expect(rows[0][key] as? String == newest[key] as? String) }
            #expect(try await httpGet(sim.restBaseURL(venue: .coinbase) + "/products/NOPE-USD/trades").status == 404)
        }
    }

    @Test func framesAndClientRequests() {
        var m = CoinbaseModel()
        #expect(m.observe(frame: #"{"type":"l2update","product_id":"BTC-USD","changes":[["buy","1.0","2"]]}"#) == .bookDelta(symbol: "BTC-USD"))
        #expect(m.book(product: "BTC-USD") == nil, "no book before its snapshot")
        #expect(m.observe(frame: #"{"type":"snapshot","product_id":"BTC-USD","bids":[["10.00","1.5"]],"asks":[["11.00","2"]]}"#) == .bookSnapshot(symbol: "BTC-USD"))
        _ = m.observe(frame: #"{"type":"l2update","product_id":"BTC-USD","changes":[["buy","10.50","3"],["sell","11.00","0"],["sell","12.0","1"]]}"#)
        #expect(m.observe(frame: #"{"type":"match","trade_id":5,"product_id":"BTC-USD","price":"10.50","size":"0.1","side":"sell","time":"2021-04-17T16:43:37.075687Z"}"#) == .trade(symbol: "BTC-USD", ids: [5]))
        #expect(m.observe(frame: #"{"type":"ticker","product_id":"BTC-USD"}"#) == .other)
        #expect(m.snapshotFrames() == [#"{"type":"snapshot","product_id":"BTC-USD","asks":[["12.0","1"]],"bids":[["10.50","3"],["10.00","1.5"]]}"#])
        #expect(m.rest(path: "/products/BTC-USD/trades", query: [:]) == #"[{"time":"2021-04-17T16:43:37.075687Z","trade_id":5,"price":"10.50","size":"0.1","side":"sell"}]"#)
        #expect(m.classify(clientText: #"{"type":"subscribe","product_ids":["BTC-USD"],"channels":["level2"]}"#) == .subscribe([StreamTopic(.book, "BTC-USD")]))
        #expect(
            m.classify(clientText: #"{"type":"unsubscribe","product_ids":["ETH-USD"],"channels":["level2_batch","matches",{"name":"ticker","product_ids":["ETH-USD"]},"heartbeat"]}"#)
                == .unsubscribe([StreamTopic(.book, "ETH-USD"), StreamTopic(.trades, "ETH-USD")]))
        #expect(m.classify(clientText: #"{"type":"unsubscribe"}"#) == .unsubscribe([]))
        #expect(m.classify(clientText: #"{"type":"hello"}"#) == .other)
        #expect(m.corruptingChecksum("{}") == nil)
    }
}
