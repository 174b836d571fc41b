import ExchangeSimulator
import Feeds
import Foundation
import Logging
import MarketCore
import Normalizer
import Synchronization
import Testing
import _TestSupport

/// The live feed against the local exchange simulator (real websockets and HTTP on 127.0.0.1,
/// the captures' original frames), with a fault injected mid-stream. After each fault the books
/// must converge to the uninterrupted replay's, no trade may be published twice, and no book
/// snapshot may be published while its book is out of sync.
@Suite("Live feed faults", .serialized)
struct LiveFeedFaultTests {
    enum Fault: String, CustomStringConvertible, Sendable {
        case close, silent, dropDelta, dropSpan, corruptChecksum, refusedResubscribe, slowREST
        var description: String { rawValue }
    }

    struct VenueCase: Sendable, CustomStringConvertible {
        var venue: Venue
        var capture: String
        var symbols: [String]
        /// The first symbol as the simulator's model spells it: a book fault hits this book.
        var bookSymbol: String
        var wsPath = ""
        var speed: Double
        var staleAfter: Duration = .seconds(1)
        var description: String { venue.id }
    }

    static let binance = VenueCase(venue: .binance, capture: "binance/spot-multi-2021-10-12.jsonl.gz", symbols: ["NKN-USDT"], bookSymbol: "NKNUSDT", speed: 4)
    static let coinbase = VenueCase(venue: .coinbase, capture: "coinbase/exchange-level2-2021-04-17.jsonl.gz", symbols: ["SKL-USD"], bookSymbol: "SKL-USD", speed: 4)
    static let kraken = VenueCase(venue: .kraken, capture: "kraken/v1-trade-ticker-book-2021-04-17.jsonl.gz", symbols: ["XMR-USD"], bookSymbol: "XMR/USD", speed: 4)
    static let okx = VenueCase(venue: .okx, capture: "okx/v5-books-l2-tbt-2021-07-22.jsonl.gz", symbols: ["FUN-BTC"], bookSymbol: "FUN-BTC", speed: 4)
    static let bybit = VenueCase(
        venue: .bybit, capture: "bybit/v5-orderbook500-xrpusdt-2024-12-01.jsonl.gz", symbols: ["XRP-USDT-PERP"], bookSymbol: "XRPUSDT",
        wsPath: "v5/public/linear", speed: 1, staleAfter: .milliseconds(600))

    struct Outcome {
        var records: [CaptureRecord]
        var events: [MarketEvent]
        var connections: Int
    }

    /// Runs the live feed against the simulator, injecting `fault` once 30 % of the frames went out.
    static func run(_ c: VenueCase, fault: Fault) async throws -> Outcome {
        let sim = ExchangeSimulator(speed: c.speed)
        try sim.addVenue(c.venue, captures: [Fixtures.path(c.capture)])
        try await sim.start()
        var settings = FeedSettings.defaults(for: c.venue, symbols: c.symbols)
        settings.wsURL = sim.wsURL(venue: c.venue, path: c.wsPath)
        settings.restURL = sim.restBaseURL(venue: c.venue)
        settings.staleAfter = c.staleAfter
        settings.reconnectInitial = .milliseconds(100)
        settings.reconnectMax = .milliseconds(400)
        settings.snapshotDelay = .milliseconds(100)
        var options = PipelineOptions()
        options.emit = [.trades, .books, .status, .candles]
        let feed = LiveFeed(feeds: [try VenueFeedPlan(settings)], options: options, tick: .milliseconds(100), logger: Logger(label: "test"))
        let collected = Mutex<([CaptureRecord], [MarketEvent])>(([], []))
        let task = Task {
            try await feed.run(record: { r in collected.withLock { $0.0.append(r) } }) { e in collected.withLock { $0.1.append(e) } }
        }
        let total = sim.timelineFrames(venue: c.venue).count
        let deadline = ContinuousClock.now + .seconds(60)
        while (await sim.stats(venue: c.venue)?.framesEmitted ?? 0) < total * 3 / 10, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        switch fault {
        case .close: await sim.closeConnections(venue: c.venue)
        case .silent: await sim.goSilent(venue: c.venue, for: c.staleAfter * 2)
        // The captures carry other instruments too: a book fault hits the subscribed one, the book
        // the feed must repair.
        case .dropDelta: await sim.dropNextBookDelta(venue: c.venue, symbol: c.bookSymbol)
        case .dropSpan: await sim.dropNextFrames(venue: c.venue, count: 400)
        case .corruptChecksum: await sim.corruptNextChecksum(venue: c.venue, symbol: c.bookSymbol)
        case .refusedResubscribe:
            // The reconnect's first subscribe request is refused.
            await sim.refuseSubscriptions(venue: c.venue, count: 1)
            await sim.closeConnections(venue: c.venue)
        case .slowREST:
            await sim.setRESTDelay(venue: c.venue, .seconds(1))
            await sim.closeConnections(venue: c.venue)
        }
        await sim.waitUntilFinished(venue: c.venue)
        // A fault that breaks a book near the end of the timeline is repaired by a resync that may
        // finish after the last timeline frame (a reconnect gets the venue's snapshots): give it
        // time before stopping, bounded, until a book broke and every subscribed book is in sync
        // again. The test then asserts that it happened.
        if fault == .dropDelta || fault == .corruptChecksum || fault == .dropSpan {
            let resyncDeadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < resyncDeadline {
                if collected.withLock({ Self.brokeAndRepaired($0.1, symbols: c.symbols) }) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        // Stop once the feed has the last frame the exchange sent (before the stream, now at its
        // end, is declared stale).
        try await waitForLastFrame(sim, venue: c.venue, in: collected)
        feed.stop()
        try await task.value
        let connections = await sim.connectionCount(venue: c.venue)
        await sim.stop()
        let (records, events) = collected.withLock { $0 }
        if ProcessInfo.processInfo.environment["DEBUG_LIVE"] != nil {
            for e in events { if case .status(let s) = e { print("STATUS", s.kind.name, s.instrument?.symbol ?? "-", s.detail ?? "") } }
            for r in records where r.kind != .ws && r.kind != .tick { print("REC", r.kind, r.connection ?? "", String(decoding: r.frame.prefix(200), as: UTF8.self)) }
        }
        return Outcome(records: records, events: events, connections: connections)
    }

    /// Whether some book lost sync (`resync`) and every book of `symbols` is in sync again after
    /// its last loss (its own statuses, and `disconnected`, which breaks every book).
    static func brokeAndRepaired(_ events: [MarketEvent], symbols: [String]) -> Bool {
        var broken = false
        var inSync: [String: Bool] = [:]
        for case .status(let s) in events {
            switch s.kind.name {
            case "resync":
                broken = true
                if let i = s.instrument { inSync[i.symbol] = false }
            case "checksum_failed": if let i = s.instrument { inSync[i.symbol] = false }
            case "disconnected": for k in inSync.keys { inSync[k] = false }
            case "synced", "resynced": if let i = s.instrument { inSync[i.symbol] = true }
            default: break
            }
        }
        return broken && symbols.allSatisfy { inSync[$0] == true }
    }

    /// Final books per instrument from replaying `records`.
    static func books(_ records: [CaptureRecord]) -> [Instrument: ([BookLevel], [BookLevel], Bool)] {
        var replayer = FeedPipeline(options: PipelineOptions())
        var instruments: Set<Instrument> = []
        var options = PipelineOptions()
        options.emit = [.books, .status]
        replayer = FeedPipeline(options: options)
        for r in records {
            replayer.process(r) { e in
                if case .bookSnapshot(let s) = e { instruments.insert(s.instrument) }
                if case .status(let s) = e, let i = s.instrument { instruments.insert(i) }
            }
        }
        var out: [Instrument: ([BookLevel], [BookLevel], Bool)] = [:]
        for i in instruments {
            guard let sync = replayer.synchronizer(for: i) else { continue }
            out[i] = (sync.book.levels(.buy), sync.book.levels(.sell), sync.isValid)
        }
        return out
    }

    static func check(_ c: VenueCase, _ fault: Fault, _ o: Outcome) throws {
        // 1. Books converge: every book valid at the end of an uninterrupted replay is valid and
        //    identical at the end of the live session.
        let truth = books(try Fixtures.records(c.capture))
        // The state just before the feed was stopped: its final "shutting down" closes end the book.
        let stop = o.records.firstIndex { $0.kind == .close && String(decoding: $0.frame, as: UTF8.self) == "shutting down" }
        let live = books(Array(o.records[..<(stop ?? o.records.endIndex)]))
        var compared = 0
        for (instrument, t) in truth where t.2 && c.symbols.contains(instrument.symbol) {
            guard let l = live[instrument] else {
                Issue.record("\(c.venue) \(fault): no live book for \(instrument.symbol)")
                continue
            }
            let valid = l.2
            #expect(valid, "\(c.venue) \(fault): \(instrument.symbol) not valid at the end")
            let same = l.0 == t.0 && l.1 == t.1
            #expect(same, "\(c.venue) \(fault): \(instrument.symbol) differs (bids \(l.0.count)/\(t.0.count), asks \(l.1.count)/\(t.1.count))")
            compared += 1
        }
        #expect(compared > 0)

        // 2. No trade published twice.
        var seen: Set<String> = []
        for case .trade(let t) in o.events {
            if case .none = t.id { continue }
            let key = "\(t.instrument.symbol) \(t.id)"
            #expect(seen.insert(key).inserted, "\(c.venue) \(fault): trade \(key) published twice")
        }

        // 3. No snapshot of a book between losing sync and regaining it.
        // Valid = in sync and not crossed (CONTRACTS.md): a crossed book that uncrosses is valid again
        // without a resync (no reconnect resyncs every book any more).
        var outOfSync: Set<Instrument> = []
        var crossed: Set<Instrument> = []
        var all: Set<Instrument> = []
        for e in o.events {
            switch e {
            case .status(let s):
                let targets: [Instrument] = s.instrument.map { [$0] } ?? Array(all)
                switch s.kind.name {
                // A book that loses sync always says `resync` (a `gap` alone may be a trade gap).
                case "checksum_failed", "resync": for i in targets { outOfSync.insert(i) }
                case "crossed": for i in targets { crossed.insert(i) }
                case "uncrossed": for i in targets { crossed.remove(i) }
                case "disconnected": for i in all { outOfSync.insert(i) }
                case "synced", "resynced":
                    for i in targets {
                        outOfSync.remove(i)
                        crossed.remove(i)
                    }
                default: break
                }
            case .bookSnapshot(let s):
                all.insert(s.instrument)
                #expect(!outOfSync.contains(s.instrument), "\(c.venue) \(fault): snapshot of \(s.instrument.symbol) published while out of sync")
                #expect(!crossed.contains(s.instrument), "\(c.venue) \(fault): snapshot of \(s.instrument.symbol) published while crossed")
                if let b = s.bids.first, let a = s.asks.first { #expect(b.price < a.price, "crossed snapshot published") }
            default: break
            }
        }
    }

    static func statuses(_ o: Outcome, _ name: String) -> Int {
        o.events.reduce(0) { n, e in if case .status(let s) = e, s.kind.name == name { n + 1 } else { n } }
    }

    /// Statuses `name` of the case's subscribed instruments.
    static func statuses(_ o: Outcome, _ name: String, of c: VenueCase) -> Int {
        o.events.reduce(0) { n, e in
            if case .status(let s) = e, s.kind.name == name, let i = s.instrument, c.symbols.contains(i.symbol) { n + 1 } else { n }
        }
    }

    @Test(arguments: [binance, coinbase, kraken, okx, bybit])
    func reconnectsAfterTheServerClosesTheSocket(_ c: VenueCase) async throws {
        let o = try await Self.run(c, fault: .close)
        #expect(o.connections >= 2, "no reconnect")
        #expect(Self.statuses(o, "disconnected") >= 1 && Self.statuses(o, "reconnected") >= 1)
        try Self.check(c, .close, o)
    }

    @Test(arguments: [binance, coinbase, kraken, okx, bybit])
    func reconnectsAfterTheStreamGoesSilent(_ c: VenueCase) async throws {
        let o = try await Self.run(c, fault: .silent)
        #expect(o.connections >= 2, "no reconnect")
        let staleCloses = o.records.filter { $0.kind == .close && String(decoding: $0.frame, as: UTF8.self).hasPrefix("stale") }
        #expect(!staleCloses.isEmpty, "the connection was not closed as stale")
        #expect(Self.statuses(o, "stale") == staleCloses.count, "each stale close is a `stale` status")
        try Self.check(c, .silent, o)
    }

    /// A lost delta: Binance and Bybit see the sequence break, Kraken and OKX the next checksum.
    @Test(arguments: [binance, kraken, okx, bybit])
    func resyncsAfterADroppedDelta(_ c: VenueCase) async throws {
        let o = try await Self.run(c, fault: .dropDelta)
        #expect(Self.statuses(o, "gap", of: c) + Self.statuses(o, "checksum_failed", of: c) >= 1, "the lost delta went unnoticed")
        #expect(Self.statuses(o, "resynced", of: c) >= 1)
        try Self.check(c, .dropDelta, o)
    }

    /// Coinbase's Exchange `level2` has no sequence numbers: a lost span of frames shows only
    /// through the trade ids that jump across it, which must invalidate and rebuild the book.
    @Test func coinbaseResyncsAfterALostSpan() async throws {
        let o = try await Self.run(Self.coinbase, fault: .dropSpan)
        let tradeGaps = o.events.filter {
            if case .status(let s) = $0 { s.kind == .gap(.tradeIDs) && (s.detail ?? "").hasPrefix("trade ids") } else { false }
        }
        #expect(!tradeGaps.isEmpty, "the lost span went unnoticed")
        #expect(Self.statuses(o, "resynced") >= 1)
        try Self.check(Self.coinbase, .dropSpan, o)
    }

    /// A refused subscription is noticed (not waited out until the stream is stale) and the feed
    /// reconnects and subscribes again.
    @Test(arguments: [binance, coinbase, kraken, okx, bybit])
    func resubscribesAfterARefusal(_ c: VenueCase) async throws {
        let o = try await Self.run(c, fault: .refusedResubscribe)
        let refusals = o.records.filter { $0.kind == .close && String(decoding: $0.frame, as: UTF8.self).hasPrefix("subscription refused") }
        #expect(!refusals.isEmpty, "the refusal went unnoticed")
        #expect(o.connections >= 3, "close, refused reconnect, good reconnect")
        try Self.check(c, .refusedResubscribe, o)
    }

    /// Binance's book waits for a slow REST snapshot (diffs buffer meanwhile) and then syncs.
    @Test func binanceSyncsAfterASlowSnapshot() async throws {
        let o = try await Self.run(Self.binance, fault: .slowREST)
        #expect(Self.statuses(o, "resynced") >= 1)
        try Self.check(Self.binance, .slowREST, o)
    }

    /// Only Kraken and OKX send book checksums (Binance, Bybit and Coinbase's feeds have none).
    @Test(arguments: [kraken, okx])
    func resyncsAfterACorruptedChecksum(_ c: VenueCase) async throws {
        let o = try await Self.run(c, fault: .corruptChecksum)
        #expect(Self.statuses(o, "checksum_failed", of: c) >= 1)
        #expect(Self.statuses(o, "resynced", of: c) >= 1)
        try Self.check(c, .corruptChecksum, o)
    }
}
