import Feeds
import Foundation
import MarketCore
import Testing
import Venues
import _TestSupport

private func parse(_ adapter: inout BinanceAdapter, _ frame: String, kind: FrameKind = .ws, url: String? = nil, recv: Int64 = 42) -> [VenueEvent] {
    var out: [VenueEvent] = []
    var f = frame
    f.withUTF8 { adapter.handle(kind: kind, url: url, connection: nil, frame: UnsafeRawBufferPointer($0), receiveTime: UnixNanos(recv), into: &out) }
    return out
}

@Suite("BinanceAdapter")
struct BinanceAdapterTests {
    // Frames below are real, copied from Tests/Fixtures/binance captures.

    @Test func tradeInCombinedEnvelope() throws {
        var a = BinanceAdapter()
        let events = parse(&a, #"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#)
        guard case .trade(let t) = try #require(events.first), events.count == 1 else {
            Issue.record("\(events)")
            return
        }
        #expect(t.instrument.symbol == "BTC-USDT" && t.instrument.nativeSymbol == "BTCUSDT" && t.instrument.venue == .binance)
        #expect(t.id == .number(3_735_683_259))
        #expect(t.price.description == "61837.63000000" && t.quantity.description == "0.02000000")
        #expect(t.side == .sell)  // m:true → buyer is maker → taker sold
        #expect(t.eventTime == .milliseconds(1_723_161_255_342))  // T, not E
        #expect(t.receiveTime == UnixNanos(42) && t.count == 1 && t.stream == .raw)
    }

    /// Binance writes "e" first; the same payload with keys in another order gives the same events.
    @Test func keyOrderDoesNotMatter() {
        var a = BinanceAdapter()
        let usual = parse(&a, #"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#)
        let reordered = parse(&a, #"{"data":{"s":"BTCUSDT","p":"61837.63000000","t":3735683259,"q":"0.02000000","m":true,"e":"trade","T":1723161255342,"M":true,"E":1723161255343},"stream":"btcusdt@trade"}"#)
        #expect(usual.count == 1 && usual == reordered)
        let depth = parse(&a, #"{"s":"BTCUSDT","U":1,"u":2,"b":[["1.0","2"]],"a":[],"E":5,"e":"depthUpdate"}"#)
        guard case .book(let u) = depth.first else {
            Issue.record("\(depth)")
            return
        }
        #expect(u.sequence == .range(first: 1, last: 2) && u.bids.count == 1 && u.asks.isEmpty)
    }

    /// Every trade frame of the spot captures (most take the exact-layout reader) against an
    /// independent reading with Foundation's JSONSerialization; the same payload with a space added
    /// (the key-by-key reader) must give the same event.
    @Test func everyRecordedTradeFrameAgreesWithJSONSerialization() throws {
        var checked = 0
        for capture in ["binance/spot-btcusdt-2024-08-08.jsonl.gz", "binance/spot-multi-2021-10-12.jsonl.gz"] {
            var a = BinanceAdapter()
            for r in try Fixtures.records(capture) where r.kind == .ws {
                let object = try JSONSerialization.jsonObject(with: Data(r.frame)) as? [String: Any]
                let payload = (object?["data"] as? [String: Any]) ?? object
                guard let p = payload, p["e"] as? String == "trade" else { continue }
                let text = String(decoding: r.frame, as: UTF8.self)
                let events = parse(&a, text)
                guard case .trade(let t)? = events.first, events.count == 1 else {
                    Issue.record("\(text): \(events)")
                    continue
                }
                #expect(t.id == .number((p["t"] as! NSNumber).int64Value))
                #expect(t.price.description == p["p"] as! String && t.quantity.description == p["q"] as! String)
                #expect(t.eventTime == .milliseconds((p["T"] as! NSNumber).int64Value))
                #expect(t.side == ((p["m"] as! Bool) ? .sell : .buy))
                #expect(t.instrument.nativeSymbol == p["s"] as! String)
                let spaced = text.replacingOccurrences(of: #","T":"#, with: #", "T":"#)
                #expect(parse(&a, spaced) == events, "\(spaced)")
                checked += 1
            }
        }
        #expect(checked > 19_000)
    }

    /// The spot aggTrade layout (the exact-layout reader) against JSONSerialization and against the
    /// key-by-key reader (a space added), on the recorded spot aggTrade frames and on every recorded
    /// spot trade frame rewritten as an aggTrade (`a` = `t`, `f` = `t`, `l` = `t` + 0…2; reversed
    /// `f`/`l` must fail the same way in both readers).
    @Test func spotAggTradeLayoutAgreesWithJSONSerializationAndKeyByKeyReader() throws {
        var frames: [String] = []
        for r in try Fixtures.records("binance/spot-multi-2021-10-12.jsonl.gz") where r.kind == .ws {
            let text = String(decoding: r.frame, as: UTF8.self)
            if text.contains(#""e":"aggTrade""#) { frames.append(text) }
        }
        #expect(frames.count == 2)
        for r in try Fixtures.records("binance/spot-btcusdt-2024-08-08.jsonl.gz") where r.kind == .ws {
            let object = try JSONSerialization.jsonObject(with: Data(r.frame)) as? [String: Any]
            guard let p = object?["data"] as? [String: Any], p["e"] as? String == "trade" else { continue }
            let t = (p["t"] as! NSNumber).int64Value
            let m = (p["m"] as! Bool) ? "true" : "false"
            let last = t % 4 == 3 ? t - 1 : t + t % 3
            frames.append(
                #"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":\#((p["E"] as! NSNumber).int64Value),"s":"BTCUSDT","a":\#(t),"p":"\#(p["p"] as! String)","q":"\#(p["q"] as! String)","f":\#(t),"l":\#(last),"T":\#((p["T"] as! NSNumber).int64Value),"m":\#(m),"M":true}}"#)
        }
        var a = BinanceAdapter()
        var checked = 0
        var refused = 0
        for text in frames {
            let events = parse(&a, text)
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            let p = try #require(object?["data"] as? [String: Any])
            let f = (p["f"] as! NSNumber).int64Value
            let l = (p["l"] as! NSNumber).int64Value
            guard l >= f else {
                guard case .parseError? = events.first, events.count == 1 else {
                    Issue.record("\(text): \(events)")
                    continue
                }
                refused += 1
                continue
            }
            guard case .trade(let t)? = events.first, events.count == 1 else {
                Issue.record("\(text): \(events)")
                continue
            }
            let spaced = text.replacingOccurrences(of: #","T":"#, with: #", "T":"#)
            #expect(parse(&a, spaced) == events, "\(spaced)")
            #expect(t.id == .number((p["a"] as! NSNumber).int64Value) && t.count == l - f + 1 && t.stream == .aggregated)
            #expect(t.price.description == p["p"] as! String && t.quantity.description == p["q"] as! String)
            #expect(t.eventTime == .milliseconds((p["T"] as! NSNumber).int64Value))
            #expect(t.side == ((p["m"] as! Bool) ? .sell : .buy))
            #expect(t.instrument.nativeSymbol == p["s"] as! String)
            checked += 1
        }
        #expect(checked > 14_000 && refused > 4_000)
    }

    @Test func rawAggTradeOnCOINM() throws {
        var a = BinanceAdapter(venue: .binanceCOINM)
        let events = parse(&a, #"{"e":"aggTrade","E":1626916404006,"a":11285749,"s":"BCHUSD_PERP","p":"427.91","q":"3","f":16034449,"l":16034452,"T":1626916403852,"m":false}"#)
        guard case .trade(let t) = try #require(events.first) else {
            Issue.record("\(events)")
            return
        }
        #expect(t.instrument.symbol == "BCH-USD-PERP")
        #expect(t.id == .number(11_285_749) && t.count == 4 && t.stream == .aggregated && t.side == .buy)
        #expect(t.price.description == "427.91" && t.quantity.description == "3")
    }

    @Test func spotDepthUpdate() throws {
        var a = BinanceAdapter()
        let events = parse(&a, #"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"],["61844.30000000","0.40163000"],["61862.50000000","0.05019000"],["61862.51000000","0.00000000"]]}}"#)
        guard case .book(let u) = try #require(events.first) else {
            Issue.record("\(events)")
            return
        }
        #expect(!u.isSnapshot && u.rule == .binanceSpot && u.sequence == .range(first: 50_093_239_203, last: 50_093_239_207))
        #expect(u.eventTime == .milliseconds(1_723_161_255_308) && u.timeSource == .venue)
        #expect(u.bids.map { "\($0.price)/\($0.quantity)" } == ["55653.87000000/0.00000000"])
        #expect(u.asks.map { "\($0.price)/\($0.quantity)" } == [
            "61838.04000000/0.32332000", "61844.30000000/0.40163000", "61862.50000000/0.05019000", "61862.51000000/0.00000000",
        ])
    }

    @Test func futuresDepthUpdateCarriesPreviousUpdateID() throws {
        var a = BinanceAdapter(venue: .binanceUSDM)
        let events = parse(&a, #"{"stream":"sushiusdt@depth@100ms","data":{"e":"depthUpdate","E":1626992741037,"T":1626992741024,"s":"SUSHIUSDT","U":600859599090,"u":600859600917,"pu":600859598061,"b":[["7.5040","813"],["7.6090","0"],["7.6110","2"]],"a":[["7.6150","1563"],["7.6220","3284"]]}}"#)
        guard case .book(let u) = try #require(events.first) else {
            Issue.record("\(events)")
            return
        }
        #expect(u.instrument.symbol == "SUSHI-USDT-PERP")
        #expect(u.rule == .binanceFutures && u.sequence == .linked(first: 600_859_599_090, last: 600_859_600_917, previous: 600_859_598_061))
        #expect(u.eventTime == .milliseconds(1_626_992_741_024))  // transaction time T
        #expect(u.bids.count == 3 && u.asks.count == 2)
    }

    @Test func restSnapshotTakesSymbolFromURLOrBody() throws {
        var a = BinanceAdapter()
        let spot = parse(&a, #"{"lastUpdateId":499869752,"bids":[["0.35210000","672.00000000"]],"asks":[["0.35260000","3199.00000000"]]}"#,
                         kind: .rest, url: "https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000", recv: 7)
        guard case .book(let s) = try #require(spot.first) else {
            Issue.record("\(spot)")
            return
        }
        #expect(s.isSnapshot && s.sequence == .snapshot(lastUpdateID: 499_869_752) && s.instrument.symbol == "NKN-USDT")
        #expect(s.timeSource == .receive && s.eventTime == UnixNanos(7))
        var c = BinanceAdapter(venue: .binanceCOINM)
        let coinm = parse(&c, #"{"lastUpdateId":167006132946,"E":1626916408268,"T":1626916408265,"symbol":"BTCUSD_211231","pair":"BTCUSD","bids":[["32623.3","72"]],"asks":[["32630.1","5"]]}"#, kind: .rest, url: nil)
        guard case .book(let f) = try #require(coinm.first) else {
            Issue.record("\(coinm)")
            return
        }
        #expect(f.instrument.symbol == "BTC-USD-20211231" && f.timeSource == .venue && f.eventTime == .milliseconds(1_626_916_408_265))
    }

    @Test func spotBookTickerHasNoVenueTime() throws {
        var a = BinanceAdapter()
        let events = parse(&a, #"{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}"#, recv: 99)
        guard case .ticker(let t) = try #require(events.first) else {
            Issue.record("\(events)")
            return
        }
        #expect(t.updateID == 50_093_239_212 && t.timeSource == .receive && t.eventTime == UnixNanos(99))
        #expect(t.bestBid == BookLevel(price: FixedDecimal("61837.63")!, quantity: FixedDecimal("3.78826")!))
        #expect(t.bestAsk?.price.description == "61837.64000000" && t.bestAsk?.quantity.description == "1.54698000")
    }

    @Test(arguments: [
        ("BTCUSDT", Venue.binance, "BTC-USDT"), ("BLZETH", .binance, "BLZ-ETH"), ("RUNEEUR", .binance, "RUNE-EUR"),
        ("BTCFDUSD", .binance, "BTC-FDUSD"), ("SUSHIUSDT", .binanceUSDM, "SUSHI-USDT-PERP"),
        ("BTCUSDT_210924", .binanceUSDM, "BTC-USDT-20210924"), ("BTCUSD_PERP", .binanceCOINM, "BTC-USD-PERP"),
        ("ETHUSD_210924", .binanceCOINM, "ETH-USD-20210924"),
    ])
    func symbolMapping(_ native: String, _ venue: Venue, _ canonical: String) {
        #expect(BinanceSymbols.instrument(native: native, venue: venue, quotes: .builtIn)?.symbol == canonical)
    }

    @Test func unknownSymbolsAndControlMessages() {
        var a = BinanceAdapter()
        #expect(BinanceSymbols.instrument(native: "FOOBAR", venue: .binance, quotes: .builtIn) == nil)
        let unknown = parse(&a, #"{"e":"trade","E":1,"s":"FOOBAR","t":1,"p":"1","q":"1","T":1,"m":true}"#)
        guard case .parseError(_, let detail) = unknown.first else {
            Issue.record("\(unknown)")
            return
        }
        #expect(detail.hasPrefix("unknown symbol FOOBAR"))
        #expect(parse(&a, #"{"result":null,"id":1}"#).isEmpty)
        let err = parse(&a, #"{"code":2,"msg":"Invalid request: unknown variable"}"#)
        guard case .status(let s) = err.first else {
            Issue.record("\(err)")
            return
        }
        #expect(s.kind.name == "venue_error" && s.detail.contains("Invalid request"))
    }

    /// Every prefix of real frames (truncated JSON) and single-byte corruptions: never a crash,
    /// and a truncated frame is never taken as a valid event.
    @Test func truncatedAndCorruptedRealFramesNeverCrash() throws {
        let records = try Fixtures.records("binance/spot-multi-2021-10-12.jsonl.gz").filter { $0.kind == .ws }
        var a = BinanceAdapter()
        var out: [VenueEvent] = []
        var rng = SystemRandomNumberGenerator()
        for r in records.prefix(60) {
            for cut in stride(from: 0, to: r.frame.count - 1, by: max(1, r.frame.count / 40)) {
                out.removeAll()
                Array(r.frame.prefix(cut)).withUnsafeBytes {
                    a.handle(kind: .ws, url: nil, connection: nil, frame: $0, receiveTime: UnixNanos(0), into: &out)
                }
                #expect(out.allSatisfy { if case .parseError = $0 { true } else { false } }, "cut \(cut): \(out)")
            }
            for _ in 0..<20 {
                var bytes = r.frame
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                out.removeAll()
                bytes.withUnsafeBytes { a.handle(kind: .ws, url: nil, connection: nil, frame: $0, receiveTime: UnixNanos(0), into: &out) }
            }
        }
    }

    @Test func subscribeMessagesAreSplitAndValidJSON() throws {
        let streams = (0..<450).map { "s\($0)usdt@trade" }
        let messages = BinanceSubscriptions.subscribeMessages(streams: streams, maxPerMessage: 200)
        #expect(messages.count == 3)
        var all: [String] = []
        for (i, m) in messages.enumerated() {
            let obj = try JSONSerialization.jsonObject(with: Data(m.utf8)) as! [String: Any]
            #expect(obj["method"] as? String == "SUBSCRIBE" && obj["id"] as? Int == i + 1)
            all += obj["params"] as! [String]
        }
        #expect(all == streams)
        #expect(BinanceSubscriptions.streams(native: "BTCUSDT") == ["btcusdt@trade", "btcusdt@depth@100ms"])
    }
}
