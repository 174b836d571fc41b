import AsyncHTTPClient
public import Logging
public import MarketCore
import Metrics
import Synchronization
public import Normalizer

/// The live pipeline: venue sessions → one ordered stream of capture records → (recorder) →
/// the same ``FeedPipeline`` processing a capture file gets → events. Because a recording holds
/// exactly the records processed here, in this order, including clock `tick`s, replaying it
/// reproduces the live session's output exactly.
public final class LiveFeed: Sendable {
    public let sessions: [Venue: FeedSession]
    let options: PipelineOptions
    let tick: Duration
    let logger: Logger
    let stream: AsyncStream<CaptureRecord>
    let input: AsyncStream<CaptureRecord>.Continuation
    let producer = Mutex<Task<Void, Never>?>(nil)
    /// Book reads waiting for the pipeline task (``book(_:depth:)``).
    let bookReads = Mutex<(ended: Bool, waiting: [BookRead])>((false, []))
    /// The normalizers' figures as of the latest clock tick (``pipelineStats``).
    let latestStats = Mutex(PipelineStats())

    /// What the pipeline has produced so far, for monitoring (the ops page, metrics).
    public struct PipelineStats: Sendable {
        /// Events produced, by type (`trade`, `candle`, `book_snapshot`, `ticker`, `status`).
        public var events: [String: Int] = [:]
        /// Closed candles re-emitted as amendments (revision > 0).
        public var candleRevisions = 0
        public var parseErrors = 0
        public var venues: [Venue: VenueNormalizerStats] = [:]
        public init() {}
    }

    /// The pipeline's figures, refreshed on every clock tick (a few times a second per venue).
    public var pipelineStats: PipelineStats { latestStats.withLock { $0 } }

    struct BookRead {
        var venue: String
        var symbol: String
        var depth: Int
        var answer: CheckedContinuation<BookSnapshot?, Never>
    }

    /// - Parameters:
    ///   - feeds: one plan per venue.
    ///   - options: what to emit and the normalizer's settings (requests are always collected).
    ///   - tick: how often each venue's clock advances with no frame (candle closes by grace).
    ///   - clocks: the receive clock per venue (default: the wall clock).
    public init(
        feeds: [VenueFeedPlan], options: PipelineOptions, tick: Duration = .milliseconds(250), http: HTTPClient = .shared,
        clocks: [Venue: ReceiveClock] = [:], logger: Logger
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
            sessions[plan.venue] = FeedSession(plan: plan, http: http, clock: clocks[plan.venue] ?? .wall, logger: logger) {
                input.yield($0)
            }
        }
        self.sessions = sessions
    }

    /// Runs the feeds until ``stop()`` (graceful: every connection closes, the records still queued
    /// are processed, open candles are closed as at the end of a replay) or cancellation (abrupt).
    /// `record` sees every input record first (the recorder); `sink` gets the events, in order.
    /// Where instruments resume: the last trade an earlier run stored, per venue (see
    /// ``FeedPipeline/resume(venue:symbol:lastTradeID:time:price:)``).
    public struct ResumePoint: Sendable {
        public var venue: Venue
        public var symbol: String
        public var lastTradeID: Int64
        public var time: UnixNanos
        public var price: FixedDecimal
        public init(venue: Venue, symbol: String, lastTradeID: Int64, time: UnixNanos, price: FixedDecimal) {
            self.venue = venue
            self.symbol = symbol
            self.lastTradeID = lastTradeID
            self.time = time
            self.price = price
        }
    }

    public func run(
        resuming: [ResumePoint] = [], record: (CaptureRecord) throws -> Void = { _ in }, sink: (MarketEvent) -> Void
    ) async throws {
        let input = self.input
        let tick = self.tick
        let sessions = self.sessions.values.sorted { $0.venue < $1.venue }
        let producers = Task {
            await withTaskGroup(of: Void.self) { group in
                for session in sessions { group.addTask { await session.run() } }
                group.addTask {
                    // Each venue's clock ticks on its own: venues may run on different timelines.
                    while !Task.isCancelled {
                        try? await Task.sleep(for: tick)
                        if Task.isCancelled { break }
                        for s in sessions { s.emitTick() }
                    }
                }
                await group.waitForAll()
            }
            input.finish()
        }
        producer.withLock { $0 = producers }
        var replayer = FeedPipeline(options: options)
        for r in resuming {
            replayer.resume(venue: r.venue, symbol: r.symbol, lastTradeID: r.lastTradeID, time: r.time, price: r.price)
        }
        let records = Counter(label: "pipeline_records_total")
        try await withTaskCancellationHandler {
            for await r in stream {
                records.increment()
                try record(r)
                replayer.process(r, sink: sink)
                // A resubscribed book that is valid again completes its resync (an atomic load per session when none waits).
                for session in sessions where session.awaitsBookSnapshots {
                    session.confirmResubscriptions { replayer.bookSnapshot(venue: session.venue.id, symbol: $0, depth: 0)?.valid ?? false }
                }
                for (venue, request) in replayer.takeRequests() { self.sessions[venue]?.handle(request) }
                answerBookReads(replayer)
                if r.kind == .tick { publishStats(replayer) }
            }
        } onCancel: {
            producers.cancel()
        }
        answerBookReads(nil)
        if !Task.isCancelled { replayer.finish(sink: sink) }
    }

    /// The instrument's current book, top `depth` levels per side, read between two records of the
    /// pipeline (so never half-updated); `nil` when the feed does not carry it or has no book for it.
    /// `valid` says whether the normalizer vouches for it (synchronized, no gap, checksum passed, not crossed).
    public func book(venue: String, symbol: String, depth: Int) async -> BookSnapshot? {
        guard let session = sessions.values.first(where: { $0.venue.id == venue }) else { return nil }
        return await withCheckedContinuation { answer in
            let queued = bookReads.withLock {
                if $0.ended { return false }
                $0.waiting.append(BookRead(venue: venue, symbol: symbol, depth: depth, answer: answer))
                return true
            }
            guard queued else { return answer.resume(returning: nil) }
            // Wake the pipeline if it is idle; a tick only advances the venue's clock, as ticks do anyway.
            session.emitTick()
        }
    }

    func publishStats(_ replayer: FeedPipeline) {
        var s = PipelineStats()
        s.events = replayer.stats.events
        s.candleRevisions = replayer.stats.candleRevisions
        s.parseErrors = replayer.stats.parseErrors
        s.venues = replayer.venueStats()
        latestStats.withLock { $0 = s }
    }

    /// Answers the waiting book reads; `nil` once the pipeline has ended (and for later reads).
    func answerBookReads(_ replayer: FeedPipeline?) {
        let reads: [BookRead] = bookReads.withLock { s in
            if replayer == nil { s.ended = true }
            let waiting = s.waiting
            s.waiting.removeAll()
            return waiting
        }
        for r in reads {
            r.answer.resume(returning: replayer?.bookSnapshot(venue: r.venue, symbol: r.symbol, depth: r.depth))
        }
    }

    /// Graceful stop: closes every connection; ``run(record:sink:)`` returns once their last
    /// records are processed.
    public func stop() {
        producer.withLock { $0?.cancel() }
    }
}
