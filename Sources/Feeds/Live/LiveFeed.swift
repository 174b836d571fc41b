import AsyncHTTPClient
public import Logging
public import MarketCore
import Metrics
import Synchronization
public import Normalizer

/// The live pipeline: venue sessions → one ordered stream of capture records → (recorder) →
/// the same ``Replayer`` processing a capture file gets → events. Because a recording holds
/// exactly the records processed here, in this order, including clock `tick`s, replaying it
/// reproduces the live session's output exactly.
public final class LiveFeed: Sendable {
    public let sessions: [Venue: FeedSession]
    let options: ReplayOptions
    let tick: Duration
    let logger: Logger
    let stream: AsyncStream<CaptureRecord>
    let input: AsyncStream<CaptureRecord>.Continuation
    let clockVenue: Venue
    let producer = Mutex<Task<Void, Never>?>(nil)

    /// - Parameters:
    ///   - feeds: one plan per venue.
    ///   - options: what to emit and the normalizer's settings (requests are always collected).
    ///   - tick: how often the clock advances with no frame (candle closes by grace).
    public init(
        feeds: [VenueFeedPlan], options: ReplayOptions, tick: Duration = .milliseconds(250), http: HTTPClient = .shared,
        logger: Logger
    ) {
        var options = options
        options.normalizer.collectRequests = true
        self.options = options
        self.tick = tick
        self.logger = logger
        (stream, input) = AsyncStream.makeStream(of: CaptureRecord.self)
        let input = self.input
        var sessions: [Venue: FeedSession] = [:]
        for plan in feeds {
            sessions[plan.venue] = FeedSession(plan: plan, http: http, logger: logger) { input.yield($0) }
        }
        self.sessions = sessions
        clockVenue = feeds.first?.venue ?? .binance
    }

    /// Runs the feeds until ``stop()`` (graceful: every connection closes, the records still queued
    /// are processed, open candles are closed as at the end of a replay) or cancellation (abrupt).
    /// `record` sees every input record first (the recorder); `sink` gets the events, in order.
    public func run(
        record: (CaptureRecord) throws -> Void = { _ in }, sink: (MarketEvent) -> Void
    ) async throws {
        let input = self.input
        let tick = self.tick
        let clockVenue = self.clockVenue
        let sessions = Array(self.sessions.values)
        let producers = Task {
            await withTaskGroup(of: Void.self) { group in
                for session in sessions { group.addTask { await session.run() } }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: tick)
                        if Task.isCancelled { break }
                        input.yield(CaptureRecord(receiveTime: wallClockNow(), venue: clockVenue, kind: .tick, frame: []))
                    }
                }
                await group.waitForAll()
            }
            input.finish()
        }
        producer.withLock { $0 = producers }
        var replayer = Replayer(options: options)
        let records = Counter(label: "pipeline_records_total")
        try await withTaskCancellationHandler {
            for await r in stream {
                records.increment()
                try record(r)
                replayer.process(r, sink: sink)
                for (venue, request) in replayer.takeRequests() { self.sessions[venue]?.handle(request) }
            }
        } onCancel: {
            producers.cancel()
        }
        if !Task.isCancelled { replayer.finish(sink: sink) }
    }

    /// Graceful stop: closes every connection; ``run(record:sink:)`` returns once their last
    /// records are processed.
    public func stop() {
        producer.withLock { $0?.cancel() }
    }
}
