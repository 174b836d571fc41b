import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import _TestSupport

/// Hostile or broken trades from a venue's byte stream never silence the real ones: an impossible
/// trade is refused, an id that jumps implausibly far is held until a later trade confirms it
/// (or dropped), and a bucket an open gap still touches is never called complete.
@Suite("Trade validation")
struct TradeValidationTests {
    static let capture = "binance/spot-btcusdt-2024-08-08.jsonl.gz"

    /// The capture's first `limit` records with `forged` frames inserted after the `after`-th trade frame.
    static func records(limit: Int, forged: [String], after: Int) throws -> [CaptureRecord] {
        var out: [CaptureRecord] = []
        var trades = 0
        for r in try Fixtures.records(capture).prefix(limit) {
            out.append(r)
            guard r.kind == .ws, String(decoding: r.frame, as: UTF8.self).contains(#""e":"trade""#) else { continue }
            trades += 1
            if trades == after {
                for f in forged {
                    out.append(CaptureRecord(receiveTime: r.receiveTime, venue: r.venue, kind: .ws, connection: r.connection, frame: Array(f.utf8)))
                }
            }
        }
        return out
    }

    static func replay(_ records: [CaptureRecord]) -> (events: [MarketEvent], stats: PipelineStats) {
        var options = PipelineOptions()
        options.emit = [.trades, .candles, .status]
        var replayer = FeedPipeline(options: options)
        var events: [MarketEvent] = []
        for r in records { replayer.process(r) { events.append($0) } }
        replayer.finish { events.append($0) }
        return (events, replayer.stats)
    }

    static func forged(id: Int64, price: String, qty: String, time: Int64 = 1_723_161_300_000) -> String {
        #"{"stream":"btcusdt@trade","data":{"e":"trade","E":\#(time),"s":"BTCUSDT","t":\#(id),"p":"\#(price)","q":"\#(qty)","T":\#(time),"m":true,"M":true}}"#
    }

    /// Trades and candles only (the forged run adds status lines).
    static func marketLines(_ events: [MarketEvent]) -> [String] {
        events.compactMap { e in
            switch e {
            case .trade, .candle: e.jsonLine
            default: nil
            }
        }
    }

    @Test func anImpossibleTradeIsRefusedAndSilencesNothing() throws {
        let clean = Self.replay(try Self.records(limit: 20_000, forged: [], after: 0))
        // The attack as reported: id 3735700000 (16,741 ahead), price -5.0, quantity 0.
        let attacked = Self.replay(
            try Self.records(limit: 20_000, forged: [Self.forged(id: 3_735_700_000, price: "-5.0", qty: "0")], after: 100))
        #expect(Self.marketLines(attacked.events) == Self.marketLines(clean.events))
        let refused = attacked.events.filter { if case .status(let s) = $0 { s.kind.name == "invalid_trade" } else { false } }
        #expect(refused.count == 1)
        #expect(attacked.stats.counters.invalidTrades == 1)
        #expect(attacked.stats.jsonLine.contains(#""invalid_trades":1"#))
        // Independently: every trade id of the capture's first 20,000 records is published once.
        let ids = Self.marketLines(attacked.events).filter { $0.contains(#""type":"trade""#) }.count
        let framed = try Self.records(limit: 20_000, forged: [], after: 0).filter {
            $0.kind == .ws && String(decoding: $0.frame, as: UTF8.self).contains(#""e":"trade""#)
        }.count
        #expect(ids == framed)
    }

    @Test func aFarIdThatNothingFollowsIsDroppedAsAnOutlier() throws {
        let clean = Self.replay(try Self.records(limit: 20_000, forged: [], after: 0))
        // Plausible price and size, but an id far past the stream: held, then dropped once 1,000
        // real trades have continued the old range.
        let attacked = Self.replay(
            try Self.records(limit: 20_000, forged: [Self.forged(id: 3_735_700_000, price: "61837.63000000", qty: "0.01000000")], after: 100))
        #expect(Self.marketLines(attacked.events) == Self.marketLines(clean.events))
        let events = attacked.events.compactMap { e -> String? in if case .status(let s) = e { s.kind.name } else { nil } }
        #expect(events.filter { $0 == "trade_held" }.count == 1)
        #expect(events.filter { $0 == "trade_outlier" }.count == 1)
        #expect(attacked.stats.counters.outlierTrades == 1)
    }

    @Test func aFarIdThatLaterTradesFollowIsReleased() throws {
        // Two trades far ahead, the second confirming the first: a real jump. Both are published,
        // in order, after a gap status; nothing before them is lost.
        let first = Self.forged(id: 3_735_800_000, price: "61837.63000000", qty: "0.01000000", time: 1_723_161_256_000)
        let second = Self.forged(id: 3_735_800_001, price: "61837.64000000", qty: "0.02000000", time: 1_723_161_256_001)
        let run = Self.replay(try Self.records(limit: 600, forged: [first, second], after: 5))
        let ids = run.events.compactMap { e -> String? in
            if case .trade(let t) = e { return t.id.description } else { return nil }
        }
        #expect(ids.contains("3735800000") && ids.contains("3735800001"))
        #expect(ids.firstIndex(of: "3735800000")! < ids.firstIndex(of: "3735800001")!)
        let statuses = run.events.compactMap { e -> String? in if case .status(let s) = e { s.kind.name } else { nil } }
        #expect(statuses.contains("trade_held") && statuses.contains("gap") && !statuses.contains("trade_outlier"))
    }

    @Test func aBucketAnOpenGapTouchesStaysIncomplete() {
        // Two gaps in one minute; only the first is backfilled: the bucket stays incomplete.
        let btc = Instrument(venue: .binance, base: "BTC", quote: "USDT", nativeSymbol: "BTCUSDT")
        var configuration = NormalizerConfiguration()
        configuration.collectRequests = true
        configuration.intervals = [.oneMinute]
        var n = MarketNormalizer(venue: .binance, tradeIDsAreContiguous: true, configuration: configuration)
        let base: Int64 = 1_723_161_240_000_000_000  // a minute boundary
        func trade(_ id: Int64, _ second: Int64) -> Trade {
            Trade(
                instrument: btc, id: .number(id), price: FixedDecimal("100")!, quantity: FixedDecimal("1")!, side: .buy,
                eventTime: UnixNanos(base + second * 1_000_000_000), receiveTime: UnixNanos(base + second * 1_000_000_000))
        }
        var out: [MarketEvent] = []
        // Minute 0: ids 1, then 3 (gap: 2), then 5 (gap: 4). Minute 1: 6. Then the backfill of 2 only.
        for (id, s) in [(1, 1), (3, 10), (5, 20), (6, 61)] as [(Int64, Int64)] {
            n.handle(.trade(trade(id, s)), receiveTime: UnixNanos(base + s * 1_000_000_000), into: &out)
        }
        n.advance(to: UnixNanos(base + 200 * 1_000_000_000), into: &out)
        n.handle(.trade(trade(2, 5)), receiveTime: UnixNanos(base + 201 * 1_000_000_000), into: &out)
        let minuteZero = out.compactMap { e -> Candle? in
            if case .candle(let c) = e, c.closed, c.start.rawValue == base { return c } else { return nil }
        }
        #expect(minuteZero.last?.trades == 4, "the backfilled trade amends the bucket")
        #expect(minuteZero.allSatisfy { !$0.complete }, "trade 4 is still missing: \(minuteZero.map(\.complete))")
    }
}
