import MarketCore
import Normalizer
import Testing
import Venues

/// Inputs the fuzz targets (Fuzz/, docs/hardening.md) found to hang or break the pipeline, fed
/// exactly as found; each test failed on the code before its fix.
@Suite("Fuzz findings")
struct FuzzFindingsTests {
    static let btc = Instrument(venue: .binance, base: "BTC", quote: "USDT", nativeSymbol: "BTCUSDT")
    static let minute: Int64 = 60_000_000_000
    /// 2024-08-09 00:00:00 UTC, a minute boundary.
    static let base: Int64 = 1_723_161_600_000_000_000

    static func trade(_ id: Int64, at nanos: Int64) -> Trade {
        Trade(
            instrument: btc, id: .number(id), price: FixedDecimal("100")!, quantity: FixedDecimal("1")!, side: .buy,
            eventTime: UnixNanos(nanos), receiveTime: UnixNanos(nanos))
    }

    /// FuzzKraken timeout-b83d11176efc28ae8a37e511e151658c79bee7d6: one Kraken v1 trade frame with a
    /// trade of 2012 and one of 2018. The 1m candle builder filled every minute between them
    /// (3.3 million empty candles) and the input ran past libFuzzer's 10 s limit.
    @Test(.timeLimit(.minutes(1)))
    func krakenFrameWithTradesSixYearsApartDoesNotFillEveryMinute() {
        let frame = #"[0,[["5541.20001","0.15850568","1345461057.321597","s","l",""],["6060.00000","0.02455000","1534614057.324998","b","l",""]],"trade","XBT/USD"]"#
        var adapter = VenueAdapters.make(.kraken)!
        var events: [VenueEvent] = []
        let receive = UnixNanos.seconds(1_700_000_000)
        Array(frame.utf8).withUnsafeBytes { bytes in
            adapter.handle(kind: .ws, url: "wss://ws.kraken.com", connection: "1", frame: bytes, receiveTime: receive, into: &events)
        }
        #expect(events.count == 2)
        var normalizer = MarketNormalizer(venue: .kraken, tradeIDsAreContiguous: false)
        var out: [MarketEvent] = []
        for e in events { normalizer.handle(e, receiveTime: receive, into: &out) }
        normalizer.finish(into: &out)
        let candles = out.compactMap { e -> Candle? in if case .candle(let c) = e { c } else { nil } }
        // One candle per interval per trade; the six years between are not filled.
        let intervals = NormalizerConfiguration().intervals.count
        #expect(candles.count == 2 * intervals, "got \(candles.count) candles")
        #expect(candles.allSatisfy { $0.trades == 1 })
    }

    /// The same gap straight into the candle builder: at most a day of empty 1m candles fill a gap;
    /// a longer one starts a new run.
    @Test(.timeLimit(.minutes(1)))
    func candleBuilderCapsEmptyCandles() {
        var builder = CandleBuilder(instrument: Self.btc, interval: .oneMinute)
        var out: [Candle] = []
        builder.add(Self.trade(1, at: Self.base), into: &out)
        // 1,440 empty minutes between: filled.
        builder.add(Self.trade(2, at: Self.base + 1_441 * Self.minute), into: &out)
        #expect(out.count == 1 + 1_440)
        #expect(out.dropFirst().allSatisfy { $0.trades == 0 && $0.close == FixedDecimal("100")! })
        // Six years later: nothing filled, the run starts again.
        out.removeAll()
        let later = Self.base + 1_441 * Self.minute + 6 * 365 * 1_440 * Self.minute
        builder.add(Self.trade(3, at: later), into: &out)
        #expect(out.count == 1, "only the bucket of trade 2 closes")
        #expect(builder.unfilledGaps == 1)
        // A late trade for the old run cannot be placed any more and is dropped, not misplaced.
        #expect(!builder.add(Self.trade(4, at: Self.base + 1_441 * Self.minute), into: &out))
    }

    /// A trade timestamped far ahead of the clock is refused by the builder (and by the normalizer,
    /// with a status), so it cannot open a bucket in the future.
    @Test(.timeLimit(.minutes(1)))
    func tradesFarAheadOfTheClockAreRefused() {
        var builder = CandleBuilder(instrument: Self.btc, interval: .oneMinute)
        var out: [Candle] = []
        builder.advance(to: UnixNanos(Self.base), into: &out)
        #expect(!builder.add(Self.trade(1, at: Self.base + 61_000_000_000), into: &out))
        #expect(!builder.add(Self.trade(2, at: Int64.max), into: &out))
        #expect(builder.refusedFutureTrades == 2)
        #expect(builder.add(Self.trade(3, at: Self.base + 59_000_000_000), into: &out), "59 s ahead is clock skew, accepted")
        #expect(builder.openCandle?.trades == 1)

        var normalizer = MarketNormalizer(venue: .binance, tradeIDsAreContiguous: false)
        var events: [MarketEvent] = []
        normalizer.advance(to: UnixNanos(Self.base), into: &events)
        normalizer.handle(.trade(Self.trade(10, at: Self.base + 100 * 365 * 1_440 * Self.minute)), receiveTime: UnixNanos(Self.base), into: &events)
        normalizer.handle(.trade(Self.trade(11, at: -1)), receiveTime: UnixNanos(Self.base), into: &events)
        let statuses = events.compactMap { e -> String? in if case .status(let s) = e { s.event } else { nil } }
        #expect(statuses == ["future_trade", "invalid_trade"])
        #expect(normalizer.counters.futureTrades == 1)
        #expect(normalizer.counters.invalidTrades == 1)
        #expect(!events.contains { if case .trade = $0 { true } else { false } })
    }

    /// A trade near the end of time (no clock yet) must not trap when the clock later runs.
    @Test(.timeLimit(.minutes(1)))
    func aBucketNearTheEndOfTimeDoesNotOverflow() {
        var builder = CandleBuilder(instrument: Self.btc, interval: .oneMinute)
        var out: [Candle] = []
        builder.add(Self.trade(1, at: Int64.max - 1), into: &out)
        builder.advance(to: UnixNanos(Int64.max), into: &out)
        #expect(out.isEmpty)
        builder.finish(into: &out)
        #expect(out.count == 1)
    }
}
