import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import Venues
import _TestSupport

private let btc = Instrument(venue: .binance, base: "BTC", quote: "USDT", nativeSymbol: "BTCUSDT")
private let minute: Int64 = 60_000_000_000

private func trade(_ id: Int64, _ price: String, _ qty: String, at ms: Int64, _ side: Side = .buy) -> Trade {
    Trade(
        instrument: btc, id: .number(id), price: FixedDecimal(price)!, quantity: FixedDecimal(qty)!, side: side,
        eventTime: .milliseconds(ms), receiveTime: .milliseconds(ms))
}

/// An independent candle computed with Foundation `Decimal` from raw fields.
struct ReferenceCandle {
    var open = Decimal(), high = Decimal(), low = Decimal(), close = Decimal()
    var volume = Decimal(), quote = Decimal(), takerBuy = Decimal()
    var trades = 0
    var firstMs = Int64.max, lastMs = Int64.min

    mutating func add(price: Decimal, qty: Decimal, ms: Int64, takerBuy buy: Bool, count: Int = 1) {
        if trades == 0 || price > high { high = price }
        if trades == 0 || price < low { low = price }
        if ms < firstMs { (open, firstMs) = (price, ms) }
        if ms >= lastMs { (close, lastMs) = (price, ms) }
        volume += qty
        quote += price * qty
        if buy { takerBuy += qty }
        trades += count
    }

    var vwap: Decimal {
        var q = quote / volume
        var r = Decimal()
        NSDecimalRound(&r, &q, 10, .bankers)
        return r
    }
}

private func dec(_ s: String) -> Decimal { Decimal(string: s)! }
private func dec(_ d: FixedDecimal) -> Decimal { Decimal(string: d.description)! }
private func dec(_ d: WideDecimal) -> Decimal { Decimal(string: d.description)! }

@Suite("CandleBuilder")
struct CandleBuilderTests {
    /// Real BTCUSDT trades: every closed 1m candle equals a reference computed in the test from the
    /// raw frames (parsed with JSONSerialization, summed with Foundation Decimal).
    @Test func realTradesMatchAnIndependentComputation() throws {
        let records = try Fixtures.records("binance/spot-btcusdt-2024-08-08.jsonl.gz")
        var reference: [Int64: ReferenceCandle] = [:]
        for r in records where r.kind == .ws {
            guard let obj = try JSONSerialization.jsonObject(with: Data(r.frame)) as? [String: Any],
                let data = obj["data"] as? [String: Any], data["e"] as? String == "trade"
            else { continue }
            let ms = (data["T"] as! NSNumber).int64Value
            reference[ms / 60_000 * 60_000, default: ReferenceCandle()].add(
                price: dec(data["p"] as! String), qty: dec(data["q"] as! String), ms: ms, takerBuy: !(data["m"] as! Bool))
        }
        var options = PipelineOptions()
        options.emit = [.candles]
        var replayer = FeedPipeline(options: options)
        var candles: [Candle] = []
        try replayer.run(paths: [Fixtures.path("binance/spot-btcusdt-2024-08-08.jsonl.gz")]) { e in
            if case .candle(let c) = e { candles.append(c) }
        }
        let oneMinute = candles.filter { $0.interval == .oneMinute }
        #expect(oneMinute.count == reference.count)
        for c in oneMinute {
            let ref = try #require(reference[c.start.rawValue / 1_000_000])
            #expect(dec(c.open) == ref.open && dec(c.high) == ref.high && dec(c.low) == ref.low && dec(c.close) == ref.close, "\(c.start)")
            #expect(dec(c.volume) == ref.volume && dec(c.quoteVolume) == ref.quote && dec(c.takerBuyVolume) == ref.takerBuy)
            #expect(c.trades == Int64(ref.trades))
            #expect(dec(c.vwap) == ref.vwap)
            #expect(c.revision == 0 && c.closed)
        }
        // The first bucket was not observed from its start; the rest were.
        #expect(oneMinute.first?.complete == false)
        #expect(oneMinute.dropFirst().allSatisfy { $0.complete })
        // 5m = aggregate of its 1m candles.
        for c5 in candles.filter({ $0.interval == .fiveMinutes }) {
            let parts = oneMinute.filter { $0.start >= c5.start && $0.start < c5.end }
            try expectAggregate(c5, parts)
        }
    }

    /// Cross-check with the exchange's own klines (USD-M capture): for each minute whose first trade
    /// we saw, the candle built from aggregated trades up to the kline's last trade id `L` equals the kline.
    @Test func aggregatedTradesReproduceBinanceKlines() throws {
        let records = try Fixtures.records("binance/usdm-multi-2021-07-22.jsonl.gz")
        var adapter = BinanceAdapter(venue: .binanceUSDM)
        var trades: [String: [(first: Int64, last: Int64, trade: Trade)]] = [:]
        var klines: [[String: Any]] = []
        for r in records where r.kind == .ws {
            var events: [VenueEvent] = []
            r.frame.withUnsafeBytes { adapter.handle(kind: .ws, url: nil, connection: nil, frame: $0, receiveTime: r.receiveTime, into: &events) }
            let obj = try JSONSerialization.jsonObject(with: Data(r.frame)) as! [String: Any]
            let data = obj["data"] as! [String: Any]
            if data["e"] as? String == "kline" { klines.append(data["k"] as! [String: Any]) }
            for case .trade(let t) in events {
                trades[t.instrument.nativeSymbol, default: []].append(
                    ((data["f"] as! NSNumber).int64Value, (data["l"] as! NSNumber).int64Value, t))
            }
        }
        var checked = 0
        for k in klines {
            let symbol = k["s"] as! String
            let f = (k["f"] as! NSNumber).int64Value
            let L = (k["L"] as! NSNumber).int64Value
            guard let list = trades[symbol], list.contains(where: { $0.first == f }), list.contains(where: { $0.last == L }) else { continue }
            let start = UnixNanos.milliseconds((k["t"] as! NSNumber).int64Value)
            var builder = CandleBuilder(instrument: list[0].trade.instrument, interval: .oneMinute)
            var out: [Candle] = []
            for t in list where t.first >= f && t.last <= L { builder.add(t.trade, into: &out) }
            let c = try #require(builder.openCandle)
            #expect(c.start == start)
            #expect(c.open == FixedDecimal(k["o"] as! String) && c.high == FixedDecimal(k["h"] as! String))
            #expect(c.low == FixedDecimal(k["l"] as! String) && c.close == FixedDecimal(k["c"] as! String))
            #expect(dec(c.volume) == dec(k["v"] as! String) && dec(c.quoteVolume) == dec(k["q"] as! String), "\(symbol) \(start)")
            #expect(dec(c.takerBuyVolume) == dec(k["V"] as! String))
            #expect(c.trades == (k["n"] as! NSNumber).int64Value)
            checked += 1
        }
        #expect(checked >= 4, "too few klines could be checked: \(checked)")
    }

    @Test func emptyBucketsCarryThePreviousCloseWithZeroVolume() {
        var b = CandleBuilder(instrument: btc, interval: .oneMinute)
        var out: [Candle] = []
        b.add(trade(1, "100.5", "2", at: 0), into: &out)
        b.add(trade(2, "101", "1", at: 10_000, .sell), into: &out)
        #expect(out.isEmpty)
        // Three minutes later: minutes 1 and 2 are empty.
        b.add(trade(3, "99", "1", at: 3 * 60_000 + 5), into: &out)
        #expect(out.count == 3)
        #expect(out[0].close == FixedDecimal("101") && out[0].volume.description == "3" && out[0].trades == 2)
        #expect(out[0].takerBuyVolume.description == "2")
        // vwap = (100.5×2 + 101×1) / 3 = 302/3 = 100.6666666667
        #expect(out[0].vwap.description == "100.6666666667")
        for e in out[1...] {
            #expect(e.open == FixedDecimal("101") && e.high == e.open && e.low == e.open && e.close == e.open)
            #expect(e.volume.isZero && e.trades == 0 && e.vwap == WideDecimal(FixedDecimal("101")!))
            #expect(e.complete)
        }
        #expect(out.map(\.start.rawValue) == [0, minute, 2 * minute])
    }

    @Test func aTradeExactlyOnTheBoundaryOpensTheNextBucket() {
        var b = CandleBuilder(instrument: btc, interval: .oneMinute)
        var out: [Candle] = []
        b.add(trade(1, "10", "1", at: 59_999), into: &out)
        b.add(trade(2, "20", "1", at: 60_000), into: &out)
        #expect(out.count == 1)
        #expect(out[0].close == FixedDecimal("10") && out[0].trades == 1)
        #expect(b.openCandle?.start.rawValue == minute && b.openCandle?.open == FixedDecimal("20"))
    }

    @Test func outOfOrderTradesSetOpenAndCloseByTradeTime() {
        var b = CandleBuilder(instrument: btc, interval: .oneMinute)
        var out: [Candle] = []
        b.add(trade(1, "10", "1", at: 30_000), into: &out)
        b.add(trade(2, "9", "1", at: 10_000), into: &out)  // earlier: new open
        b.add(trade(3, "12", "1", at: 50_000), into: &out)
        b.add(trade(4, "11", "1", at: 40_000), into: &out)  // not the latest: close stays 12
        let c = b.openCandle!
        #expect(c.open == FixedDecimal("9") && c.close == FixedDecimal("12"))
        #expect(c.high == FixedDecimal("12") && c.low == FixedDecimal("9") && c.trades == 4)
    }

    @Test func lateTradesAmendWithARevisionAndRefreshCarriedEmptyCandles() {
        var b = CandleBuilder(instrument: btc, interval: .oneMinute)
        var out: [Candle] = []
        b.add(trade(1, "10", "1", at: 1_000), into: &out)
        b.add(trade(2, "30", "1", at: 2 * 60_000 + 1), into: &out)  // closes minute 0, fills empty minute 1
        #expect(out.count == 2)
        out.removeAll()
        // A late trade for minute 0, after its close: later in time than its last trade → new close.
        b.add(trade(3, "15", "2", at: 50_000), into: &out)
        #expect(out.count == 2)
        #expect(out[0].start.rawValue == 0 && out[0].revision == 1 && out[0].close == FixedDecimal("15"))
        #expect(out[0].volume.description == "3" && out[0].trades == 2 && out[0].high == FixedDecimal("15"))
        // The empty minute 1 carried the old close (10): amended to carry 15.
        #expect(out[1].start.rawValue == minute && out[1].revision == 1 && out[1].close == FixedDecimal("15"))
        // Another late trade earlier in minute 0 changes only the open: the carried close stays.
        out.removeAll()
        b.add(trade(4, "5", "1", at: 500), into: &out)
        #expect(out.count == 1 && out[0].revision == 2 && out[0].open == FixedDecimal("5") && out[0].close == FixedDecimal("15"))
    }

    @Test func theClockClosesAfterGraceAndAGapMarksCandlesIncomplete() {
        var b = CandleBuilder(instrument: btc, interval: .oneMinute, grace: 2_000_000_000)
        var out: [Candle] = []
        b.add(trade(1, "10", "1", at: 0), into: &out)
        b.add(trade(2, "11", "1", at: 60_000), into: &out)  // closes the (incomplete) first bucket
        out.removeAll()
        b.advance(to: .milliseconds(121_999), into: &out)
        #expect(out.isEmpty)
        b.advance(to: .milliseconds(122_000), into: &out)
        #expect(out.count == 1 && out[0].complete && out[0].closed)
        out.removeAll()
        // Trades were missed between id 2 and id 9: the closed bucket, the empty one and the new one are incomplete.
        b.add(trade(9, "12", "1", at: 3 * 60_000 + 1), afterGap: true, into: &out)
        #expect(out.map(\.complete) == [false, false])
        #expect(out[0].start.rawValue == minute && out[0].revision == 1)
        #expect(out[1].start.rawValue == 2 * minute && out[1].trades == 0)
        #expect(b.openCandle?.complete == false)
    }

    @Test func fiveMinuteCandlesAggregateTheirOneMinuteCandles() throws {
        var b1 = CandleBuilder(instrument: btc, interval: .oneMinute)
        var b5 = CandleBuilder(instrument: btc, interval: .fiveMinutes)
        var c1: [Candle] = []
        var c5: [Candle] = []
        var rng = SystemRandomNumberGenerator()
        var ms: Int64 = 0
        for id in 1...2_000 {
            // Irregular spacing leaves some minutes empty.
            ms += Int64.random(in: 0...20_000, using: &rng) * (id % 97 == 0 ? 20 : 1)
            let price = "\(Int.random(in: 100...120, using: &rng)).\(Int.random(in: 0...99, using: &rng))"
            let t = trade(Int64(id), price, "0.\(Int.random(in: 1...999, using: &rng))", at: ms, Bool.random(using: &rng) ? .buy : .sell)
            b1.add(t, into: &c1)
            b5.add(t, into: &c5)
        }
        b1.finish(into: &c1)
        b5.finish(into: &c5)
        #expect(c5.count > 10)
        for c in c5 {
            try expectAggregate(c, c1.filter { $0.start >= c.start && $0.start < c.end })
        }
    }
}

/// 5m = aggregate of its 1m candles: sums add up, open/close are the first/last traded minute's,
/// high/low over traded minutes (empty minutes carry a close, they add no price), complete = all complete.
func expectAggregate(_ c5: Candle, _ parts: [Candle]) throws {
    let traded = parts.filter { $0.trades > 0 }
    if traded.isEmpty {
        // An empty 5m bucket carries the same close as its empty 1m buckets.
        #expect(c5.trades == 0 && c5.volume.isZero && parts.allSatisfy { $0.close == c5.close && $0.open == c5.open })
        return
    }
    #expect(c5.open == traded.first!.open && c5.close == traded.last!.close)
    #expect(c5.high == traded.map(\.high).max()! && c5.low == traded.map(\.low).min()!)
    #expect(dec(c5.volume) == traded.map { dec($0.volume) }.reduce(0, +))
    #expect(dec(c5.quoteVolume) == traded.map { dec($0.quoteVolume) }.reduce(0, +))
    #expect(dec(c5.takerBuyVolume) == traded.map { dec($0.takerBuyVolume) }.reduce(0, +))
    #expect(c5.trades == traded.map(\.trades).reduce(0, +))
    #expect(c5.complete == parts.allSatisfy { $0.complete })
}
