import ExchangeSimulator
import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import _TestSupport

/// Replays a capture through the gateway's own pipeline (Venues + Normalizer) and returns each
/// instrument's final book, keyed by native symbol, as `[price, qty]` text pairs best first.
/// Only books the gateway considers valid are returned.
func replayedBooks(_ capture: String) throws -> [String: (bids: [[String]], asks: [[String]])] {
    var options = PipelineOptions()
    options.emit = [.books, .status, .trades]
    var replayer = FeedPipeline(options: options)
    var instruments: [String: Instrument] = [:]
    try replayer.run(paths: [Fixtures.path(capture)]) { event in
        switch event {
        case .status(let s): if let i = s.instrument { instruments[i.nativeSymbol] = i }
        case .bookSnapshot(let b): instruments[b.instrument.nativeSymbol] = b.instrument
        case .trade(let t): instruments[t.instrument.nativeSymbol] = t.instrument
        default: break
        }
    }
    var out: [String: (bids: [[String]], asks: [[String]])] = [:]
    for (native, instrument) in instruments {
        guard let sync = replayer.synchronizer(for: instrument), sync.isValid else { continue }
        out[native] = (
            sync.book.levels(.buy).map { [$0.price.description, $0.quantity.description] },
            sync.book.levels(.sell).map { [$0.price.description, $0.quantity.description] }
        )
    }
    return out
}

struct BinanceCase: Sendable, CustomTestStringConvertible {
    var venue: Venue
    var capture: String
    var apiPrefix: String
    var testDescription: String { venue.id }
}

@Suite struct BinanceModelTests {
    static let spot = "binance/spot-multi-2021-10-12.jsonl.gz"
    static let usdm = "binance/usdm-multi-2021-07-22.jsonl.gz"

    static let cases = [
        BinanceCase(venue: .binance, capture: spot, apiPrefix: "/api/v3"),
        BinanceCase(venue: .binanceUSDM, capture: usdm, apiPrefix: "/fapi/v1"),
        BinanceCase(venue: .binanceCOINM, capture: "binance/coinm-multi-2021-07-22.jsonl.gz", apiPrefix: "/dapi/v1"),
    ]

    /// Independent cross-check: the simulator's REST depth after the timeline equals the book the
    /// gateway's own replay builds from the same capture, level for level, digits included.
    @Test(arguments: cases)
    func depthAfterTheTimelineEqualsTheReplayedBook(_ c: BinanceCase) async throws {
        let replayed = try replayedBooks(c.capture)
        try #require(!replayed.isEmpty)
        try await withSimulator(speed: .infinity, [(c.venue, c.capture)]) { sim in
            let probe = Probe(url: sim.wsURL(venue: c.venue, path: "stream"))
            probe.send(binanceSubscribe)
            await sim.waitUntilFinished(venue: c.venue)
            let model = try #require(await sim.model(venue: c.venue) as? BinanceModel)
            for (symbol, book) in replayed.sorted(by: { $0.key < $1.key }) {
                let answer = try await httpGet(sim.restBaseURL(venue: c.venue) + "\(c.apiPrefix)/depth?symbol=\(symbol)&limit=5000")
                #expect(answer.status == 200)
                let obj = try #require(jsonObject(answer.body))
                #expect(levelPairs(obj["bids"]) == book.bids, "\(symbol) bids")
                #expect(levelPairs(obj["asks"]) == book.asks, "\(symbol) asks")
                #expect((obj["lastUpdateId"] as? NSNumber)?.int64Value == model.lastUpdateID(symbol: symbol))
                // `limit` is honoured.
                let top = try #require(jsonObject(try await httpGet(
                    sim.restBaseURL(venue: c.venue) + "\(c.apiPrefix)/depth?symbol=\(symbol)&limit=5").body))
                #expect(levelPairs(top["bids"]) == Array(book.bids.prefix(5)))
                #expect(levelPairs(top["asks"]) == Array(book.asks.prefix(5)))
            }
        }
    }

    /// Before the timeline reaches a symbol's REST line, depth answers that recorded body unchanged.
    @Test func depthBeforeTheRESTLineIsTheRecordedBody() async throws {
        let rest = try Fixtures.records(Self.spot).filter { $0.kind == .rest }
        try #require(rest.count == 4)
        try await withSimulator(speed: 20, [(.binance, Self.spot)]) { sim in
            for r in rest {
                let symbol = try #require(URLComponents(string: r.url!)?.queryItems?.first { $0.name == "symbol" }?.value)
                let answer = try await httpGet(sim.restBaseURL(venue: .binance) + "/api/v3/depth?symbol=\(symbol)&limit=1000")
                #expect(answer.body == String(decoding: r.frame, as: UTF8.self))
            }
        }
    }

    @Test func aggTradesAnswerIdRanges() async throws {
        // SUSHIUSDT has 40 aggregated trades in the USD-M capture.
        let frames = try captureFrames(Self.usdm).compactMap { jsonObject($0)?["data"] as? [String: Any] }
            .filter { $0["e"] as? String == "aggTrade" && $0["s"] as? String == "SUSHIUSDT" }
        let ids = frames.map { ($0["a"] as! NSNumber).int64Value }
        try #require(ids.count == 40)
        try await withSimulator(speed: .infinity, [(.binanceUSDM, Self.usdm)]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .binanceUSDM, path: "stream"))
            probe.send(binanceSubscribe)
            await sim.waitUntilFinished(venue: .binanceUSDM)
            let base = sim.restBaseURL(venue: .binanceUSDM) + "/fapi/v1/aggTrades?symbol=SUSHIUSDT"

            let page = try #require(jsonArray(try await httpGet(base + "&fromId=\(ids[10])&limit=5").body))
            #expect(page.map { ($0["a"] as! NSNumber).int64Value } == Array(ids[10..<15]))
            for (row, frame) in zip(page, frames[10..<15]) {
                #expect(row["p"] as? String == frame["p"] as? String)
                #expect(row["q"] as? String == frame["q"] as? String)
                for key in ["f", "l", "T"] { #expect((row[key] as? NSNumber) == (frame[key] as? NSNumber)) }
                #expect((row["m"] as? Bool) == (frame["m"] as? Bool))
            }
            let recent = try #require(jsonArray(try await httpGet(base + "&limit=3").body))
            #expect(recent.map { ($0["a"] as! NSNumber).int64Value } == Array(ids.suffix(3)))
            let beyond = try #require(jsonArray(try await httpGet(base + "&fromId=\(ids.last! + 1)").body))
            #expect(beyond.isEmpty)
            let all = try #require(jsonArray(try await httpGet(base + "&fromId=0&limit=1000").body))
            #expect(all.count == 40)
        }
    }

    @Test func historicalTradesAnswerIdRanges() async throws {
        // The first 3,000 lines of the BTCUSDT capture: ~500 raw trades, REST snapshot included.
        let reader = try CaptureReader(path: Fixtures.path("binance/spot-btcusdt-2024-08-08.jsonl.gz"))
        var text = ""
        for _ in 0..<3000 {
            guard let line = try reader.nextLineBytes() else { break }
            text += String(decoding: line, as: UTF8.self) + "\n"
        }
        let excerpt = FileManager.default.temporaryDirectory.appendingPathComponent("sim-btcusdt-\(UUID().uuidString).jsonl")
        try text.write(to: excerpt, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: excerpt) }

        let trades = try CaptureReader.allFrames(excerpt.path).compactMap { jsonObject($0)?["data"] as? [String: Any] }
            .filter { $0["e"] as? String == "trade" }
        let ids = trades.map { ($0["t"] as! NSNumber).int64Value }
        try #require(ids.count > 100)

        try await withSimulator(speed: .infinity, [(.binance, excerpt.path)]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .binance, path: "stream"))
            probe.send(binanceSubscribe)
            await sim.waitUntilFinished(venue: .binance)
            let base = sim.restBaseURL(venue: .binance) + "/api/v3/historicalTrades?symbol=BTCUSDT"

            let page = try #require(jsonArray(try await httpGet(base + "&fromId=\(ids[50])&limit=7").body))
            #expect(page.map { ($0["id"] as! NSNumber).int64Value } == Array(ids[50..<57]))
            for (row, t) in zip(page, trades[50..<57]) {
                #expect(row["price"] as? String == t["p"] as? String)
                #expect(row["qty"] as? String == t["q"] as? String)
                #expect((row["time"] as? NSNumber) == (t["T"] as? NSNumber))
                #expect((row["isBuyerMaker"] as? Bool) == (t["m"] as? Bool))
                #expect(row["isBestMatch"] as? Bool == true)
                let quote = Decimal(string: row["quoteQty"] as! String)!
                #expect(quote == Decimal(string: t["p"] as! String)! * Decimal(string: t["q"] as! String)!)
            }
            // Default limit 500, at most 1000; without fromId the most recent ones.
            #expect(try #require(jsonArray(try await httpGet(base + "&fromId=\(ids[0])").body)).count == min(500, ids.count))
            #expect(try #require(jsonArray(try await httpGet(base + "&fromId=\(ids[0])&limit=5000").body)).count == min(1000, ids.count))
            let recent = try #require(jsonArray(try await httpGet(base + "&limit=2").body))
            #expect(recent.map { ($0["id"] as! NSNumber).int64Value } == Array(ids.suffix(2)))
        }
    }

    @Test func spotAggTradesCarryBestMatch() async throws {
        try await withSimulator(speed: .infinity, [(.binance, Self.spot)]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .binance, path: "stream"))
            probe.send(binanceSubscribe)
            await sim.waitUntilFinished(venue: .binance)
            let body = try await httpGet(sim.restBaseURL(venue: .binance) + "/api/v3/aggTrades?symbol=NKNUSDT&fromId=15683430").body
            #expect(body == #"[{"a":15683430,"p":"0.35280000","q":"58.00000000","f":19862790,"l":19862790,"T":1633998523963,"m":false,"M":true}]"#)
        }
    }

    @Test func clientFramesAndErrors() {
        let m = BinanceModel(venue: .binance)
        #expect(m.classify(clientText: #"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":3}"#) == .subscribe([StreamTopic(.trades, "BTCUSDT")]))
        #expect(
            m.classify(clientText: #"{"method":"UNSUBSCRIBE","params":["nknusdt@depth@100ms","nknusdt@bookTicker","nknusdt@aggTrade"],"id":4}"#)
                == .unsubscribe([StreamTopic(.book, "NKNUSDT"), StreamTopic(.trades, "NKNUSDT")]))
        #expect(m.classify(clientText: #"{"method":"LIST_SUBSCRIPTIONS","id":5}"#) == .other)
        #expect(m.classify(clientText: "nonsense") == .other)
        #expect(m.subscriptionError(for: #"{"method":"SUBSCRIBE","id":"x"}"#) == #"{"error":{"code":-1121,"msg":"Invalid symbol."},"id":"x"}"#)
        #expect(m.snapshotFrames().isEmpty)
        #expect(m.corruptingChecksum("{}") == nil)
    }
}

extension CaptureReader {
    /// The `ws` frames of a capture file in order.
    static func allFrames(_ path: String) throws -> [String] {
        let reader = try CaptureReader(path: path)
        var out: [String] = []
        while let r = try reader.next() {
            if r.kind == .ws { out.append(String(decoding: r.frame, as: UTF8.self)) }
        }
        return out
    }
}
