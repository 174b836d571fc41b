import ExchangeSimulator
import Feeds
import Foundation
import Logging
import MarketCore
import Normalizer
import Synchronization
import Testing
import _TestSupport

/// Backfill end to end: the simulator's stream goes dead for 30 s of trades (a silent socket,
/// so the feed must notice it is stale and reconnect); the trades missed meanwhile exist only in
/// the simulator's REST trade history. Afterwards every candle must equal an uninterrupted
/// replay's, `complete` included.
@Suite("Live backfill", .serialized)
struct LiveBackfillTests {
    struct Case: Sendable, CustomStringConvertible {
        var venue: Venue
        var capture: String
        var symbol: String
        /// Capture seconds kept (from the start).
        var seconds: Int64
        var speed: Double
        var description: String { venue.id }
    }

    static let binance = Case(venue: .binance, capture: "binance/spot-btcusdt-2024-08-08.jsonl.gz", symbol: "BTC-USDT", seconds: 130, speed: 6)
    static let coinbase = Case(venue: .coinbase, capture: "coinbase/exchange-level2-2021-04-17.jsonl.gz", symbol: "SKL-USD", seconds: 31, speed: 1)

    /// The final (last revision) closed candles of `events`.
    static func finalCandles(_ events: [MarketEvent], symbol: String) -> [String: BackfillReplayTests.Bucket] {
        var out: [String: BackfillReplayTests.Bucket] = [:]
        for case .candle(let c) in events where c.closed && c.instrument.symbol == symbol {
            let key = "\(c.interval.name) \(c.instrument.symbol) \(c.start.rawValue)"
            out[key] = BackfillReplayTests.Bucket(
                key: key, open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume,
                quoteVolume: c.quoteVolume, takerBuy: c.takerBuyVolume, trades: c.trades, complete: c.complete)
        }
        return out
    }

    @Test(arguments: [binance, coinbase])
    func missedTradesComeBackOverREST(_ c: Case) async throws {
        // An excerpt of the capture, written as a capture file of its own.
        let excerpt = FileManager.default.temporaryDirectory.appendingPathComponent("backfill-\(UUID().uuidString).jsonl")
        let records = try Fixtures.excerpt(c.capture, seconds: c.seconds, to: excerpt.path)
        defer { try? FileManager.default.removeItem(at: excerpt) }
        let t0 = records[0].receiveTime.rawValue

        // The outage: 30 capture seconds (Coinbase: 10 of its 31), across a minute boundary for Binance.
        let minute: Int64 = 60_000_000_000
        let outageCaptureSeconds: Int64 = c.venue == .binance ? 30 : 10
        let outageStart = c.venue == .binance ? ((t0 + 30_000_000_000) / minute + 1) * minute - 10_000_000_000 : t0 + 10_000_000_000
        let wsBefore = records.filter { $0.kind == .ws && $0.receiveTime.rawValue < outageStart }.count

        let sim = ExchangeSimulator(speed: c.speed)
        try sim.addVenue(c.venue, captures: [excerpt.path])
        try await sim.start()
        var settings = FeedSettings.defaults(for: c.venue, symbols: [c.symbol])
        settings.channels = .trades
        settings.wsURL = sim.wsURL(venue: c.venue)
        settings.restURL = sim.restBaseURL(venue: c.venue)
        settings.staleAfter = .milliseconds(800)
        settings.reconnectInitial = .milliseconds(100)
        settings.reconnectMax = .milliseconds(300)
        var options = PipelineOptions()
        options.emit = [.trades, .candles, .status]
        let feed = LiveFeed(feeds: [try VenueFeedPlan(settings)], options: options, tick: .milliseconds(100), logger: Logger(label: "test"))
        let collected = Mutex<([CaptureRecord], [MarketEvent])>(([], []))
        let task = Task {
            try await feed.run(record: { r in collected.withLock { $0.0.append(r) } }) { e in collected.withLock { $0.1.append(e) } }
        }
        let deadline = ContinuousClock.now + .seconds(120)
        while (await sim.stats(venue: c.venue)?.framesEmitted ?? 0) < wsBefore, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        await sim.goSilent(venue: c.venue, for: .nanoseconds(Int64(Double(outageCaptureSeconds * 1_000_000_000) / c.speed)))
        await sim.waitUntilFinished(venue: c.venue)
        try await waitForLastFrame(sim, venue: c.venue, in: collected)
        // The backfill answer may still be on its way.
        try await Task.sleep(for: .milliseconds(500))
        feed.stop()
        try await task.value
        await sim.stop()
        let (live, events) = collected.withLock { $0 }

        let emitted = await sim.emittedFrames(venue: c.venue)
        let silenced = emitted.filter { $0.delivery == .silenced }.count
        #expect(silenced > 50, "the outage must cover real frames (\(silenced))")
        let backfills = live.filter { $0.kind == .rest && ($0.url ?? "").contains("rades") }
        #expect(!backfills.isEmpty, "no REST trade history was fetched")

        // Every trade of the capture published exactly once.
        func ids(_ events: [MarketEvent]) -> [String] {
            events.compactMap { if case .trade(let t) = $0, t.instrument.symbol == c.symbol { "\(t.id)" } else { nil } }
        }
        var truthOptions = PipelineOptions()
        truthOptions.emit = [.trades, .candles]
        var truthEvents: [MarketEvent] = []
        var replayer = FeedPipeline(options: truthOptions)
        for r in records { replayer.process(r) { truthEvents.append($0) } }
        replayer.finish { truthEvents.append($0) }
        let liveIDs = ids(events)
        #expect(Set(liveIDs).count == liveIDs.count, "a trade was published twice")
        #expect(Set(liveIDs) == Set(ids(truthEvents)), "trades lost or invented")

        // Candles equal the uninterrupted replay's.
        let truth = Self.finalCandles(truthEvents, symbol: c.symbol)
        let got = Self.finalCandles(events, symbol: c.symbol)
        #expect(!truth.isEmpty)
        #expect(Set(got.keys) == Set(truth.keys))
        for (key, bucket) in truth.sorted(by: { $0.key < $1.key }) {
            #expect(got[key] == bucket, "\(key): live \(got[key].map(\.description) ?? "none")")
        }
    }
}
