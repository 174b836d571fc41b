import Bus
import ExchangeSimulator
import Feeds
import Foundation
import Logging
import MarketCore
import Synchronization
import Testing
import _TestSupport

/// One book's resync on the live path: the feed against the local exchange simulator (real
/// websocket on 127.0.0.1, OKX's recorded frames), one delta of one instrument dropped. The venue
/// lets a client unsubscribe and resubscribe one book, so that book alone starts over from a fresh
/// snapshot on the same connection; the other books of the connection stay valid and continuous.
@Suite("Live one-book resync", .serialized)
struct LiveBookResubscribeTests {
    static let capture = "okx/v5-books-l2-tbt-2021-07-22.jsonl.gz"
    /// Three instruments whose books update throughout the capture (560, 317 and 307 updates).
    static let symbols = ["ONT-USDT", "XMR-USDT-PERP", "TRX-USDT-20210924"]
    static let gapped = "XMR-USDT-PERP"

    static func count(_ collected: borrowing Mutex<([CaptureRecord], [MarketEvent])>, _ kind: FeedStatus.Kind, _ symbol: String) -> Int {
        collected.withLock { c in c.1.reduce(0) { n, e in if case .status(let s) = e, s.kind == kind, s.instrument?.symbol == symbol { n + 1 } else { n } } }
    }

    static func epoch(_ bus: MarketBus, _ symbol: String) -> String { bus.attach(ChannelName(kind: .book, scope: "okx", symbol: symbol)).epoch }

    @Test(.timeLimit(.minutes(2)))
    func aGapResubscribesThatBookAloneOnTheLiveConnection() async throws {
        let sim = ExchangeSimulator(speed: 2)
        try sim.addVenue(.okx, captures: [Fixtures.path(Self.capture)])
        try await sim.start()
        var settings = FeedSettings.defaults(for: .okx, symbols: Self.symbols)
        settings.wsURL = sim.wsURL(venue: .okx)
        settings.restURL = sim.restBaseURL(venue: .okx)
        settings.staleAfter = .seconds(5)
        settings.reconnectInitial = .milliseconds(100)
        var options = PipelineOptions()
        options.emit = [.trades, .books, .status]
        let feed = LiveFeed(feeds: [try VenueFeedPlan(settings)], options: options, tick: .milliseconds(100), logger: Logger(label: "test"))
        let bus = MarketBus()
        let collected = Mutex<([CaptureRecord], [MarketEvent])>(([], []))
        let task = Task {
            try await feed.run(record: { r in collected.withLock { $0.0.append(r) } }) { e in
                bus.publish(e)
                collected.withLock { $0.1.append(e) }
            }
        }

        // Every book synced and published, a third of the way in.
        let total = sim.timelineFrames(venue: .okx).count
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let emitted = await sim.stats(venue: .okx)?.framesEmitted ?? 0
            if emitted > total / 3, Self.symbols.allSatisfy({ Self.count(collected, .synced, $0) == 1 }) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(Self.symbols.allSatisfy { Self.count(collected, .synced, $0) == 1 }, "books not synced")
        let before = Dictionary(uniqueKeysWithValues: Self.symbols.map { ($0, Self.epoch(bus, $0)) })

        // One delta of one instrument lost: its next update fails OKX's checksum (which covers the
        // top 25 levels: a delta deeper than that goes unnoticed, so drop another until one shows).
        for _ in 1...5 where Self.count(collected, .checksumFailed, Self.gapped) == 0 {
            await sim.dropNextBookDelta(venue: .okx, symbol: "XMR-USDT-SWAP")
            let seen = ContinuousClock.now + .seconds(3)
            while ContinuousClock.now < seen, Self.count(collected, .checksumFailed, Self.gapped) == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        let resynced = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < resynced, Self.count(collected, .resynced, Self.gapped) == 0 {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(Self.count(collected, .checksumFailed, Self.gapped) == 1)
        #expect(Self.count(collected, .resynced, Self.gapped) == 1, "the gapped book did not come back")
        await sim.waitUntilFinished(venue: .okx)
        try await waitForLastFrame(sim, venue: .okx, in: collected)
        let after = Dictionary(uniqueKeysWithValues: Self.symbols.map { ($0, Self.epoch(bus, $0)) })
        let books = await Self.symbols.asyncMap { await feed.book(venue: "okx", symbol: $0, depth: 5) }
        let opened = feed.sessions[.okx]?.connectionsOpened
        // Events up to here; the stop's own "connection lost" comes after.
        let running = collected.withLock { $0.1.count }
        feed.stop()
        try await task.value
        let accepted = await sim.stats(venue: .okx)?.connectionsAccepted
        await sim.stop()
        let (records, all) = collected.withLock { $0 }
        let events = all.prefix(running)

        // One connection throughout: no reconnect, no close before the stop.
        #expect(opened == 1 && accepted == 1)
        #expect(records.filter { $0.kind == .close }.allSatisfy { String(decoding: $0.frame, as: UTF8.self) == "shutting down" })
        // What went out after the first subscribe: the gapped book's channel, unsubscribed then subscribed.
        let sent = records.filter { $0.kind == .sent }.map { String(decoding: $0.frame, as: UTF8.self) }.dropFirst()
        #expect(
            Array(sent) == [
                #"{"op":"unsubscribe","args":[{"channel":"books","instId":"XMR-USDT-SWAP"}]}"#,
                #"{"op":"subscribe","args":[{"channel":"books","instId":"XMR-USDT-SWAP"}]}"#,
            ])
        // The venue answered with a fresh snapshot of that book (the first came with the capture's start),
        // and of no other book.
        let resubscribedAt = try #require(records.lastIndex { $0.kind == .sent })
        func snapshots(_ inst: String, _ slice: ArraySlice<CaptureRecord>) -> Int {
            slice.filter {
                let text = String(decoding: $0.frame, as: UTF8.self)
                return $0.kind == .ws && text.contains(#""instId":"\#(inst)""#) && text.contains(#""action":"snapshot""#)
            }.count
        }
        #expect(snapshots("XMR-USDT-SWAP", records[...]) == 2)
        #expect(snapshots("XMR-USDT-SWAP", records[resubscribedAt...]) == 1)
        #expect(snapshots("ONT-USDT", records[resubscribedAt...]) == 0 && snapshots("TRX-USDT-210924", records[resubscribedAt...]) == 0)

        // The gapped book: a new epoch; the others: the same epoch, never invalid, no status at all.
        #expect(after[Self.gapped] != before[Self.gapped])
        for symbol in Self.symbols where symbol != Self.gapped {
            #expect(after[symbol] == before[symbol], "\(symbol) started a new epoch")
            let broke = events.compactMap { if case .status(let s) = $0, s.instrument?.symbol == symbol, s.kind != .synced { "\(s.kind.name): \(s.detail)" } else { nil } }
            #expect(broke.isEmpty, "\(symbol) lost continuity")
        }
        #expect(!events.contains { if case .status(let s) = $0, s.instrument == nil { s.kind != .disconnected } else { false } })
        // Live = replay: the recording (resubscription and answer included) replays to the same events.
        var replay = FeedPipeline(options: options)
        var replayed: [MarketEvent] = []
        for r in records { replay.process(r) { replayed.append($0) } }
        replay.finish { replayed.append($0) }
        #expect(replayed.map(\.jsonLine) == all.map(\.jsonLine))
        // Every book valid at the end, and as the uninterrupted recording builds it.
        let truth = LiveFeedFaultTests.books(try Fixtures.records(Self.capture))
        for (symbol, book) in zip(Self.symbols, books) {
            let live = try #require(book, "no live book for \(symbol)")
            #expect(live.valid, "\(symbol) not valid at the end")
            let t = try #require(truth.first { $0.key.symbol == symbol }?.value)
            #expect(live.bids == Array(t.0.prefix(5)) && live.asks == Array(t.1.prefix(5)), "\(symbol) differs from the recording")
        }
    }
}

extension Array {
    func asyncMap<T>(_ f: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await f(e)) }
        return out
    }
}
