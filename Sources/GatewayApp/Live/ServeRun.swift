public import Feeds
import Foundation
import Hummingbird
public import Logging
import MarketCore
import Normalizer
import ServiceLifecycle
import Storage
import UnixSignals

/// `gateway serve --config FILE`: live feeds → normalizer → store writer, with the HTTP API,
/// as one `ServiceGroup`. SIGINT/SIGTERM shut it down in reverse order: the feeds stop first
/// (their last records are processed), then the API, then the writer stores what is queued.
public struct ServeRun: Sendable {
    public var configuration: GatewayConfiguration

    public init(configuration: GatewayConfiguration) { self.configuration = configuration }

    /// Feed settings of the enabled venues.
    public func feedSettings() -> [FeedSettings] {
        configuration.enabledVenues.map { v in
            var s = FeedSettings(venue: v.venue, symbols: v.symbols, wsURL: v.wsURL, restURL: v.restURL)
            var ch: FeedChannels = []
            if v.channels.contains(.trades) { ch.insert(.trades) }
            if v.channels.contains(.book) { ch.insert(.book) }
            if v.channels.contains(.ticker) { ch.insert(.ticker) }
            s.channels = ch
            s.staleAfter = v.staleAfter
            s.pingInterval = v.pingInterval
            s.reconnectInitial = v.reconnectInitial
            s.reconnectMax = v.reconnectMax
            s.rotateAfter = v.rotateAfter
            s.subscribeBatch = v.subscribeBatch
            s.bookDepth = v.bookDepth
            return s
        }
    }

    /// The normalizer and emit options the live pipeline runs with (all event types).
    public func replayOptions() -> ReplayOptions {
        var o = ReplayOptions()
        o.emit = [.trades, .candles, .candleUpdates, .books, .status, .tickers]
        let n = configuration.normalizer
        o.normalizer.intervals = n.intervals
        o.normalizer.grace = n.grace.nanosecondsValue
        o.normalizer.snapshotDepth = n.snapshotDepth
        o.normalizer.snapshotInterval = n.snapshotEvery.nanosecondsValue
        return o
    }

    /// Runs until SIGINT/SIGTERM. `onListening` gets the API's bound port.
    public func run(logger: Logger, onListening: (@Sendable (Int) async -> Void)? = nil) async throws {
        var plans: [VenueFeedPlan] = []
        for s in feedSettings() { plans.append(try VenueFeedPlan(s)) }
        let location = try StoreLocation(parsing: configuration.storage.url)
        let store = try await location.open(logger: logger)
        var writerOptions = StoreWriterOptions(spillDirectory: configuration.storage.spillDir)
        writerOptions.writeTimeout = configuration.storage.writeTimeout
        let writer = StoreWriter(store: store, options: writerOptions, logger: logger)
        let recorder: CaptureWriter? =
            configuration.record.isEnabled
            ? try CaptureWriter(
                path: configuration.record.path, rotateBytes: configuration.record.rotateBytes ?? Int.max,
                rotateNanoseconds: configuration.record.rotateEvery?.nanosecondsValue ?? 0)
            : nil
        let feed = LiveFeed(feeds: plans, options: replayOptions(), tick: configuration.normalizer.tickEvery, logger: logger)
        let api = MarketAPIServer.makeApplication(
            store: store, host: configuration.server.host, port: configuration.server.port, logger: logger,
            onListening: onListening)
        logger.info(
            "serving", metadata: ["venues": "\(plans.map(\.venue.id))", "store": "\(location)", "api": "\(configuration.server.host):\(configuration.server.port)"])
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: WriterService(writer: writer)),
                    .init(service: api),
                    .init(service: FeedService(feed: feed, writer: writer, recorder: RecorderBox(recorder))),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            await store.close()
            throw error
        }
        try recorder?.close()
        await store.close()
    }
}

/// The store writer as a service: on shutdown it stores (or spills) what is queued.
struct WriterService: Service {
    let writer: StoreWriter
    func run() async throws {
        try await withGracefulShutdownHandler {
            try await writer.run()
        } onGracefulShutdown: {
            writer.finish()
        }
    }
}

/// The live feeds as a service: events go to the store writer, records to the recorder.
struct FeedService: Service {
    let feed: LiveFeed
    let writer: StoreWriter
    let recorder: RecorderBox

    func run() async throws {
        let box = recorder
        try await withGracefulShutdownHandler {
            try await feed.run(record: { try box.writer?.write($0) }) { writer.submit($0) }
        } onGracefulShutdown: {
            feed.stop()
        }
    }
}

/// Carries the recorder into the feed's run loop (used on that one task only).
final class RecorderBox: @unchecked Sendable {
    let writer: CaptureWriter?
    init(_ writer: CaptureWriter?) { self.writer = writer }
}
