import ExchangeSimulator
import Feeds
import Foundation
import Logging
import MarketCore
import Normalizer
import Synchronization
import Testing
import _TestSupport

/// The guard against live ≠ replay: the live feed (the same `LiveFeed` `gateway serve` and
/// `gateway demo` run, on the simulator's receive clock as the demo does) against the exchange
/// simulator's first pass (the captures' original bytes) publishes exactly the events `gateway
/// replay` prints for the same capture — every trade, every candle update and close with its
/// `closed` and `revision`, and every book snapshot — compared event by event per channel.
///
/// Documented differences, and the only normalization applied:
/// - receive times (the live feed stamps its own);
/// - a REST-synced book (Binance) becomes valid when its live REST snapshot arrives, which is not
///   the recording's moment, so book snapshots are compared from the first boundary both published;
/// - a graceful stop closes the connections before the open candles, so the last candle of each
///   channel says `complete:false` (it was not observed whole) where the end of a replay's input
///   says `complete:true`;
/// - status events (connection life, sync details) are not compared.
@Suite("Live feed = replay", .serialized)
struct LiveEqualsReplayTests {
    struct Case: Sendable, CustomStringConvertible {
        var venue: Venue
        var capture: String
        var wsPath = ""
        var speed: Double
        var description: String { "\(venue.id) \(capture.split(separator: "/").last ?? "")" }
    }

    /// Every shipped venue: the demo's captures (feeds/) and a capture of each other venue.
    static let cases: [Case] = [
        Case(venue: .binance, capture: Fixtures.repository("feeds/binance-spot-btcusdt-2024-08-08.jsonl.gz"), wsPath: "ws", speed: 8),
        Case(venue: .binanceUSDM, capture: Fixtures.repository("feeds/binance-usdm-multi-2021-07-22.jsonl.gz"), wsPath: "ws", speed: 2),
        Case(venue: .coinbase, capture: Fixtures.repository("feeds/coinbase-exchange-level2-2021-04-17.jsonl.gz"), speed: 1),
        Case(venue: .kraken, capture: Fixtures.path("kraken/v1-trade-ticker-book-2021-04-17.jsonl.gz"), speed: 2),
        Case(venue: .okx, capture: Fixtures.path("okx/v5-books-trades-2022-05-13.jsonl.gz"), wsPath: "ws/v5/public", speed: 1),
        Case(venue: .bybit, capture: Fixtures.path("bybit/v5-orderbook500-xrpusdt-2024-12-01.jsonl.gz"), wsPath: "v5/public/linear", speed: 1),
    ]

    static var emit: EmitSet { [.trades, .candles, .candleUpdates, .books] }

    /// Channel key of an event (what a websocket client subscribes to).
    static func channel(_ e: MarketEvent) -> String? {
        switch e {
        case .trade(let t): "trades.\(t.instrument.venue.id).\(t.instrument.symbol)"
        case .candle(let c): "candles.\(c.interval.name).\(c.instrument.venue.id).\(c.instrument.symbol)"
        case .bookSnapshot(let b): "book.\(b.instrument.venue.id).\(b.instrument.symbol)"
        default: nil
        }
    }

    static func byChannel(_ events: [MarketEvent]) -> [String: [MarketEvent]] {
        var out: [String: [MarketEvent]] = [:]
        for e in events { if let ch = channel(e) { out[ch, default: []].append(e) } }
        return out
    }

    /// The canonical symbols the capture carries (what a feed subscribes to).
    static func symbols(_ path: String, venue: Venue) throws -> [String] {
        var options = PipelineOptions()
        options.emit = [.trades, .books, .tickers]
        var replayer = FeedPipeline(options: options)
        var symbols = Set<String>()
        try replayer.run(paths: [path]) { e in
            switch e {
            case .trade(let t) where t.instrument.venue == venue: symbols.insert(t.instrument.symbol)
            case .bookSnapshot(let b) where b.instrument.venue == venue: symbols.insert(b.instrument.symbol)
            case .ticker(let t) where t.instrument.venue == venue: symbols.insert(t.instrument.symbol)
            default: break
            }
        }
        return symbols.sorted()
    }

    @Test(.timeLimit(.minutes(4)), arguments: cases)
    func liveFirstPassEqualsReplay(_ c: Case) async throws {
        var options = PipelineOptions()
        options.emit = Self.emit
        var replayer = FeedPipeline(options: options)
        var replayed: [MarketEvent] = []
        try replayer.run(paths: [c.capture]) { replayed.append($0) }

        let sim = ExchangeSimulator(speed: c.speed)
        try sim.addVenue(c.venue, captures: [c.capture])
        try await sim.start()
        var settings = FeedSettings.defaults(for: c.venue, symbols: try Self.symbols(c.capture, venue: c.venue))
        settings.wsURL = sim.wsURL(venue: c.venue, path: c.wsPath)
        settings.restURL = sim.restBaseURL(venue: c.venue)
        settings.snapshotDelay = .milliseconds(50)
        // The recording's quiet spells must not read as a dead stream.
        settings.staleAfter = .seconds(60)
        let clock = try #require(sim.receiveClock(venue: c.venue))
        let feed = LiveFeed(
            feeds: [try VenueFeedPlan(settings)], options: options, tick: .milliseconds(100), clocks: [c.venue: clock],
            logger: Logger(label: "test"))
        let collected = Mutex<([CaptureRecord], [MarketEvent])>(([], []))
        let task = Task {
            try await feed.run(record: { r in collected.withLock { $0.0.append(r) } }) { e in collected.withLock { $0.1.append(e) } }
        }
        await sim.waitUntilFinished(venue: c.venue)
        try await waitForLastFrame(sim, venue: c.venue, in: collected)
        // A graceful stop closes the open candles as the end of a replay does.
        feed.stop()
        try await task.value
        await sim.stop()
        let (records, live) = collected.withLock { $0 }
        #expect(records.contains { $0.kind == .ws }, "the live feed received nothing")

        let want = Self.byChannel(replayed)
        let got = Self.byChannel(live)
        #expect(!want.isEmpty)
        #expect(Set(got.keys) == Set(want.keys), "channels only live: \(Set(got.keys).subtracting(want.keys).sorted()), only replay: \(Set(want.keys).subtracting(got.keys).sorted())")
        var compared = 0
        for (ch, wanted) in want.sorted(by: { $0.key < $1.key }) {
            var expected = wanted.map(\.jsonLine)
            var actual = (got[ch] ?? []).map(\.jsonLine)
            if ch.hasPrefix("book.") {
                // From the first boundary both sides published (a live REST sync lands elsewhere).
                let times = { (events: [MarketEvent]) in events.compactMap { e -> Int64? in
                    if case .bookSnapshot(let b) = e { return b.time.rawValue } else { return nil } } }
                guard let start = [times(wanted).first, times(got[ch] ?? []).first].compactMap({ $0 }).max() else { continue }
                expected = zip(wanted, expected).filter { times([$0.0]).first! >= start }.map(\.1)
                actual = zip(got[ch] ?? [], actual).filter { times([$0.0]).first! >= start }.map(\.1)
                #expect(expected.count > 0, "\(ch): no common book snapshots")
            }
            if ch.hasPrefix("candles."), let last = expected.indices.last {
                expected[last] = expected[last].replacingOccurrences(of: #""complete":true"#, with: #""complete":false"#)
            }
            if let i = (0..<min(expected.count, actual.count)).first(where: { expected[$0] != actual[$0] })
                ?? (expected.count != actual.count ? min(expected.count, actual.count) : nil)
            {
                Issue.record(
                    "\(ch): first difference at event \(i) of \(expected.count) (live \(actual.count))\n replay: \(i < expected.count ? expected[i] : "<none>")\n   live: \(i < actual.count ? actual[i] : "<none>")")
            }
            compared += expected.count
        }
        // Every candle update says closed:false; closes come once per bucket unless revised.
        var closes: [String: [Int]] = [:]
        for case .candle(let candle) in live where candle.closed {
            closes["\(candle.interval.name) \(candle.instrument.symbol) \(candle.start.rawValue)", default: []].append(candle.revision)
        }
        for (bucket, revisions) in closes {
            #expect(revisions == Array(0..<revisions.count), "\(bucket): closes with revisions \(revisions)")
        }
        #expect(compared > 0)
    }
}
