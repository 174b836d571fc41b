import ExchangeSimulator
import Feeds
import Foundation
import Logging
import MarketCore
import Normalizer
import Synchronization
import Testing
import _TestSupport

/// Make-before-break rotation against the simulator: mid-stream the feed opens a second
/// connection (on its own, or because the venue announced `serverShutdown`), switches once the
/// two agree, and closes the first. No trade may be missed or published twice, and the book
/// stays valid throughout.
@Suite("Live rotation", .serialized)
struct LiveRotationTests {
    enum Trigger: String, Sendable, CustomStringConvertible {
        case scheduled, serverShutdown
        var description: String { rawValue }
    }

    static let capture = "binance/spot-btcusdt-2024-08-08.jsonl.gz"

    @Test(arguments: [Trigger.scheduled, .serverShutdown])
    func rotationLosesAndRepeatsNothing(_ trigger: Trigger) async throws {
        let excerpt = FileManager.default.temporaryDirectory.appendingPathComponent("rotation-\(UUID().uuidString).jsonl")
        let records = try Fixtures.excerpt(Self.capture, seconds: 40, to: excerpt.path)
        defer { try? FileManager.default.removeItem(at: excerpt) }

        let sim = ExchangeSimulator(speed: 4)
        try sim.addVenue(.binance, captures: [excerpt.path])
        try await sim.start()
        var settings = FeedSettings.defaults(for: .binance, symbols: ["BTC-USDT"])
        settings.wsURL = sim.wsURL(venue: .binance)
        settings.restURL = sim.restBaseURL(venue: .binance)
        settings.snapshotDelay = .milliseconds(100)
        var options = PipelineOptions()
        options.emit = [.trades, .books, .status]
        let feed = LiveFeed(feeds: [try VenueFeedPlan(settings)], options: options, tick: .milliseconds(100), logger: Logger(label: "test"))
        let collected = Mutex<([CaptureRecord], [MarketEvent])>(([], []))
        let task = Task {
            try await feed.run(record: { r in collected.withLock { $0.0.append(r) } }) { e in collected.withLock { $0.1.append(e) } }
        }
        let total = sim.timelineFrames(venue: .binance).count
        while (await sim.stats(venue: .binance)?.framesEmitted ?? 0) < total * 4 / 10 {
            try await Task.sleep(for: .milliseconds(10))
        }
        switch trigger {
        case .scheduled: feed.sessions[.binance]!.rotateNow()
        case .serverShutdown: await sim.sendToAll(venue: .binance, text: #"{"e":"serverShutdown","E":1723161300000}"#)
        }
        await sim.waitUntilFinished(venue: .binance)
        try await waitForLastFrame(sim, venue: .binance, in: collected)
        feed.stop()
        try await task.value
        let connections = await sim.connectionCount(venue: .binance)
        await sim.stop()
        let (live, events) = collected.withLock { $0 }

        #expect(connections == 2, "one rotation: two connections")
        let closes = live.filter { $0.kind == .close }.map { String(decoding: $0.frame, as: UTF8.self) }
        #expect(closes.first?.hasPrefix("rotated to connection") == true, "closes: \(closes)")
        // The first connection closed only after the switch; no disconnect was ever reported.
        let beforeStop = events.prefix { if case .status(let s) = $0 { s.detail != "shutting down" } else { true } }
        let breaks = beforeStop.compactMap { e -> String? in
            if case .status(let s) = e, ["disconnected", "resync", "gap"].contains(s.kind.name) { "\(s.kind.name): \(s.detail ?? "")" } else { nil }
        }
        #expect(breaks.isEmpty, "\(breaks)")

        // Trades: exactly the capture's, each once.
        let ids = events.compactMap { if case .trade(let t) = $0 { "\(t.id)" } else { nil } }
        let truth = records.filter { $0.kind == .ws && String(decoding: $0.frame.prefix(40), as: UTF8.self).contains("@trade") }.count
        #expect(Set(ids).count == ids.count, "a trade was published twice")
        #expect(ids.count == truth, "trades missed: \(truth - ids.count)")

        // Every websocket frame reached the pipeline once, in the order the exchange sent it.
        let sent = await sim.emittedFrames(venue: .binance).filter { $0.recipients > 0 }.map(\.text)
        let got = live.filter { $0.kind == .ws }.map { String(decoding: $0.frame, as: UTF8.self) }
        let notice = Array(#"{"e":"serverShutdown","E":1723161300000}"#.utf8)
        #expect(got.filter { Array($0.utf8) != notice } == sent, "frames lost, repeated or reordered")
    }
}
