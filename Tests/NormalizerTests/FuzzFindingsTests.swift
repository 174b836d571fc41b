import Foundation
import MarketCore
import Normalizer
import Testing
import Venues
import _TestSupport

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

    /// FuzzKraken timeout-b83d11176efc28ae8a37e511e151658c79bee7d6 (Tests/Fixtures/fuzz/): one Kraken v1 trade frame with a
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
        let statuses = events.compactMap { e -> String? in if case .status(let s) = e { s.kind.name } else { nil } }
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

    /// The adapter's events for one fuzz input as the venue targets read it: byte 0 picks the
    /// connection (FuzzBinance: 3 = REST depth of api.binance.com), the rest is the frame.
    static func binanceEvents(_ frame: [UInt8], kind: FrameKind, url: String) -> [VenueEvent] {
        var adapter = VenueAdapters.make(.binance)!
        var events: [VenueEvent] = []
        frame.withUnsafeBytes { bytes in
            adapter.handle(kind: kind, url: url, connection: "1", frame: bytes, receiveTime: .seconds(1_700_000_000), into: &events)
        }
        return events
    }

    static func negativeLevels(_ events: [VenueEvent]) -> [BookLevel] {
        events.flatMap { e -> [BookLevel] in
            switch e {
            case .book(let u): (u.bids + u.asks).filter { $0.price.isNegative || $0.quantity.isNegative }
            case .ticker(let t): [t.bestBid, t.bestAsk].compactMap { $0 }.filter { $0.price.isNegative || $0.quantity.isNegative }
            default: []
            }
        }
    }

    /// FuzzBinance crash-547a80367f6d95eebeebfd184e72108db8137f2d: a REST depth snapshot with one
    /// ask of size `-0.00046000` became a book with a negative level. Now the snapshot is a parse error.
    @Test(.timeLimit(.minutes(1)))
    func binanceDepthSnapshotWithANegativeSizeIsAParseError() throws {
        let input = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("fuzz/FuzzBinance-crash-547a80367f6d95eebeebfd184e72108db8137f2d"))))
        #expect(input.first == 3)
        let events = Self.binanceEvents(
            Array(input.dropFirst()), kind: .rest, url: "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000")
        #expect(Self.negativeLevels(events).isEmpty)
        #expect(events.count == 1)
        if case .parseError(_, let detail)? = events.first { #expect(!detail.isEmpty) } else { Issue.record("expected a parse error, got \(events)") }
    }

    /// The same for a depth update and a bookTicker (hand-written, the shapes of the fixtures).
    @Test(.timeLimit(.minutes(1)))
    func binanceStreamLevelsWithANegativePriceOrSizeAreParseErrors() {
        let url = "wss://stream.binance.com:9443/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker"
        let depth = #"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255208,"s":"BTCUSDT","U":1,"u":2,"b":[["61737.63000000","-1.00000000"]],"a":[]}}"#
        let spacedDepth = #"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255208,"s":"BTCUSDT","U":1,"u":2,"b":[ [ "-61737.63", "1.0" ] ],"a":[]}}"#
        let ticker = #"{"stream":"btcusdt@bookTicker","data":{"u":3,"s":"BTCUSDT","b":"-61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}"#
        for frame in [depth, spacedDepth, ticker] {
            let events = Self.binanceEvents(Array(frame.utf8), kind: .ws, url: url)
            #expect(Self.negativeLevels(events).isEmpty, "\(frame)")
            #expect(events.contains { if case .parseError = $0 { true } else { false } }, "\(frame): \(events)")
        }
    }
}
