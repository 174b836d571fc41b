import AsyncHTTPClient
public import Logging
public import MarketCore
import Metrics
public import Normalizer
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Synchronization
import WSClient
import WSCompression

/// Where a live feed's inputs go, in arrival order: the same records a capture file holds.
public typealias RecordSink = @Sendable (CaptureRecord) -> Void

/// One venue's live feed: keeps a websocket connection up for weeks and turns everything it
/// receives into capture records (`open`, `sent`, `ws`, `rest`, `close`).
///
/// The decisions (backoff, staleness, heartbeats, subscription refusals, shutdown notices,
/// rotation, resync) are ``FeedSessionMachine``'s; this shell owns the sockets, the timers and the
/// REST calls and performs what the machine returns. Every task it starts is a child of ``run()``
/// (or, for a rotation's candidate, a stored handle cancelled with it), so stopping the run stops
/// everything.
///
/// - Reconnects with capped exponential backoff and ±25 % jitter; the backoff resets once a
///   connection delivered data.
/// - Stale detection: no frame for `staleAfter` closes the connection (and so reconnects).
/// - Application heartbeats where the venue wants them; websocket pings are answered by the
///   client while the read loop runs, and the read loop only hands frames on, never waits.
/// - Books: REST-synced venues fetch a depth snapshot per symbol after every connect and on every
///   resync request; stream-snapshot venues resync one book by unsubscribing and resubscribing it
///   on the live connection (the venue sends a snapshot on subscribe), or by reconnecting where the
///   venue cannot (``BookResync``).
/// - Missed trades (a trade-id gap after a reconnect) are fetched from the venue's REST history.
/// - Make-before-break rotation before the venue's forced disconnect (``RotationGate``).
public final class FeedSession: Sendable {
    public let plan: VenueFeedPlan
    let logger: Logger
    let emit: RecordSink
    let http: HTTPClient
    /// Stamps records (their `recv_ns`).
    let clock: ReceiveClock
    /// The one wall-clock source of the session's timers (staleness, heartbeats, rotation, resync
    /// throttling); with the wall receive clock, a frame's stamp is the same reading.
    let wall: @Sendable () -> UnixNanos
    let metrics: Metrics

    struct State {
        var machine: FeedSessionMachine
        var candidateTask: Task<Outcome, Never>?
    }

    let state: Mutex<State>
    /// How many resubscribed books wait for their snapshot (the machine's count, readable without the lock).
    let awaiting = Atomic<Int>(0)
    /// REST work requested by the normalizer, run by ``run()``'s job worker.
    let jobs: AsyncStream<FeedSessionMachine.Job>
    let jobInput: AsyncStream<FeedSessionMachine.Job>.Continuation

    struct Outcome: Sendable {
        var frames: Int
        var refused = false
        /// The connection was retired by a rotation: its successor runs in this task.
        var successor: Task<Outcome, Never>?
    }

    /// The session's metrics, built once (not per frame).
    struct Metrics: Sendable {
        let frames, reconnects, disconnects, refused, rotations, stale: Counter
        let connected: Gauge
        let restOK: [String: Counter]
        let restError: [String: Counter]

        init(venue: String) {
            let d = [("venue", venue)]
            frames = Counter(label: "feed_frames_total", dimensions: d)
            reconnects = Counter(label: "feed_reconnects_total", dimensions: d)
            disconnects = Counter(label: "feed_disconnects_total", dimensions: d)
            refused = Counter(label: "feed_subscription_refused_total", dimensions: d)
            rotations = Counter(label: "feed_rotations_total", dimensions: d)
            stale = Counter(label: "feed_stale_total", dimensions: d)
            connected = Gauge(label: "feed_connected", dimensions: d)
            var ok: [String: Counter] = [:]
            var error: [String: Counter] = [:]
            for kind in ["depth", "trades"] {
                ok[kind] = Counter(label: "feed_rest_requests_total", dimensions: d + [("kind", kind), ("result", "ok")])
                error[kind] = Counter(label: "feed_rest_requests_total", dimensions: d + [("kind", kind), ("result", "error")])
            }
            restOK = ok
            restError = error
        }
    }

    public init(
        plan: VenueFeedPlan, http: HTTPClient = .shared, clock: ReceiveClock = .wall, logger: Logger, emit: @escaping RecordSink
    ) {
        self.plan = plan
        self.clock = clock
        self.wall = wallClockNow
        self.http = http
        self.emit = emit
        self.metrics = Metrics(venue: plan.venue.id)
        self.state = Mutex(State(machine: FeedSessionMachine(plan: plan)))
        (jobs, jobInput) = AsyncStream.makeStream(of: FeedSessionMachine.Job.self)
        var l = logger
        l[metadataKey: "venue"] = "\(plan.venue.id)"
        self.logger = l
    }

    var venue: Venue { plan.venue }
    var settings: FeedSettings { plan.settings }

    /// Connections opened so far (tests, status line).
    public var connectionsOpened: Int { state.withLock { $0.machine.opened } }

    /// Whether a connection to the venue is open now (health).
    public var isConnected: Bool { state.withLock { !$0.machine.connections.isEmpty } }

    /// Frames received on all connections so far (status line, health).
    public var framesReceived: Int { state.withLock { $0.machine.framesTotal } }

    /// Wall time of the latest frame from the venue, nil before the first (ops page, staleness).
    public var lastFrameTime: UnixNanos? {
        state.withLock { $0.machine.lastFrame == 0 ? nil : UnixNanos($0.machine.lastFrame) }
    }

    /// Runs until the task is cancelled; every task the session started ends with it.
    public func run() async {
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.connectLoop() }
                group.addTask {
                    await withDiscardingTaskGroup { jobs in
                        for await job in self.jobs { jobs.addTask { await self.perform(job) } }
                    }
                }
                await group.next()
                group.cancelAll()
            }
        } onCancel: {
            // A rotation's candidate runs in a task of its own: stop it too.
            state.withLock { $0.candidateTask }?.cancel()
        }
        jobInput.finish()
    }

    func connectLoop() async {
        while !Task.isCancelled {
            var outcome = await connection(candidate: nil)
            var frames = outcome.frames
            while let next = outcome.successor {
                outcome = await withTaskCancellationHandler { await next.value } onCancel: { next.cancel() }
                frames += outcome.frames
            }
            if Task.isCancelled { break }
            let (f, refused) = (frames, outcome.refused)
            let wait = state.withLock { $0.machine.reconnectDelay(frames: f, refused: refused, jitter: Double.random(in: 0.75...1.25)) }
            logger.info("reconnecting", metadata: ["in_ms": "\(wait.nanoseconds / 1_000_000)"])
            metrics.reconnects.increment()
            try? await Task.sleep(for: wait)
        }
    }

    // MARK: One connection

    /// Runs one connection to its end; `candidate` is a rotation candidate's id.
    func connection(candidate: Int?) async -> Outcome {
        let now = wall()
        let (id, steps) = state.withLock {
            let id = $0.machine.connecting(now: now.rawValue, candidate: candidate)
            return (id, $0.machine.opened(id))
        }
        let conn = String(id)
        emit(CaptureRecord(receiveTime: clock.isWall ? now : clock.now(), venue: venue, kind: .open, connection: conn, url: settings.wsURL, frame: [], line: 0))
        metrics.connected.record(1)
        logger.info("connecting", metadata: ["conn": "\(conn)", "url": "\(settings.wsURL)", "candidate": "\(candidate != nil)"])

        let config = WebSocketClientConfiguration(
            maxFrameSize: settings.maxMessageBytes,
            extensions: settings.compression ? [.perMessageDeflate(maxDecompressedFrameSize: settings.maxMessageBytes)] : [],
            closeTimeout: .seconds(2))
        var reason = "closed by the venue"
        do {
            let close = try await WebSocketClient.connect(url: settings.wsURL, configuration: config, logger: logger) {
                inbound, outbound, _ in
                var fetchAfter: Duration?
                for step in steps {
                    switch step {
                    case .pause(let d): try await Task.sleep(for: d)
                    case .send(let message):
                        try await outbound.write(.text(message))
                        self.emit(
                            CaptureRecord(
                                receiveTime: self.clock.now(), venue: self.venue, kind: .sent, connection: conn, url: self.settings.wsURL,
                                frame: Array(message.utf8), line: 0))
                    case .fetchSnapshots(let after): fetchAfter = after
                    }
                }
                // Child tasks return whether their end ends the connection.
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        var frames = FrameReader(inbound.makeAsyncIterator(), maxSize: self.settings.maxMessageBytes)
                        while let bytes = try await frames.next() { self.received(bytes, on: id) }
                        return true
                    }
                    group.addTask { try await self.timer(id, outbound: outbound) }
                    if let fetchAfter {
                        group.addTask {
                            await self.fetchAllSnapshots(after: fetchAfter, connection: id)
                            return false
                        }
                    }
                    // The first task to end the connection (stream closed, stale, close requested) ends it.
                    while let ends = try await group.next(), !ends {}
                    group.cancelAll()
                }
            }
            if let close { reason = "closed by the venue (\(close.closeCode)\(close.reason.map { ": \($0)" } ?? ""))" }
        } catch is CancellationError {
            reason = "shutting down"
        } catch {
            reason = "connection failed: \(error)"
        }
        let (ended, successor): (FeedSessionMachine.Ended, Task<Outcome, Never>?) = state.withLock {
            let ended = $0.machine.ended(id)
            awaiting.store($0.machine.resubscribing.count, ordering: .relaxed)
            var successor: Task<Outcome, Never>? = nil
            if ended.handedOver {
                successor = $0.candidateTask
                $0.candidateTask = nil
            }
            return (ended, successor)
        }
        if let requested = ended.closeRequest { reason = requested } else if Task.isCancelled { reason = "shutting down" }
        emit(CaptureRecord(receiveTime: clock.now(), venue: venue, kind: .close, connection: conn, url: settings.wsURL, frame: Array(reason.utf8), line: 0))
        if ended.disconnected { metrics.connected.record(0) }
        metrics.disconnects.increment()
        logger.info("connection ended", metadata: ["conn": "\(conn)", "reason": "\(reason)", "frames": "\(ended.frames)"])
        return Outcome(frames: ended.frames, refused: ended.refused, successor: successor)
    }

    func received(_ bytes: [UInt8], on id: Int) {
        let now = wall()
        metrics.frames.increment()
        // Decide and emit under one lock, so two connections (rotation) cannot interleave records.
        let r = state.withLock {
            // Stamped under the lock: records of one venue stay in receive-time order.
            let stamp = clock.isWall ? now : clock.stamp(bytes)
            let r = $0.machine.received(bytes, on: id, now: now.rawValue, stamp: stamp.rawValue)
            for f in r.forward { emitFrame(f, conn: r.connection) }
            return r
        }
        if r.refused {
            let text = String(decoding: bytes.prefix(200), as: UTF8.self)
            logger.warning("subscription refused: reconnecting", metadata: ["conn": "\(id)", "answer": "\(text)"])
            metrics.refused.increment()
        }
        if r.rotate {
            logger.notice("venue announced a shutdown: rotating", metadata: ["conn": "\(id)"])
            rotateNow()
        }
        if let retired = r.retired {
            logger.info("rotation complete", metadata: ["from": "\(retired)", "to": "\(r.connection)"])
            metrics.rotations.increment()
        }
    }

    /// Advances the venue's clock with no frame (candle closes by grace); recorded like any record.
    func emitTick() {
        emit(CaptureRecord(receiveTime: clock.now(), venue: venue, kind: .tick, frame: []))
    }

    func emitFrame(_ f: RotationGate.Frame, conn: Int) {
        emit(CaptureRecord(receiveTime: UnixNanos(f.time), venue: venue, kind: .ws, connection: String(conn), url: nil, frame: f.frame, line: 0))
    }

    /// The connection's clock: performs the machine's close, heartbeat and rotation decisions.
    /// Returns (ending the connection) once the machine closes it.
    func timer(_ id: Int, outbound: WebSocketOutboundWriter) async throws -> Bool {
        let poll = state.withLock { $0.machine.pollInterval }
        while true {
            try await Task.sleep(for: poll)
            let now = wall().rawValue
            for action in updating({ $0.tick(id, now: now) }) {
                switch action {
                case .close(let reason, let stale):
                    if stale {
                        logger.warning("stream stale, reconnecting", metadata: ["conn": "\(id)"])
                        metrics.stale.increment()
                    }
                    try? await outbound.close(.goingAway, reason: String(reason.prefix(100)))
                    return true
                case .ping(let text):
                    try await outbound.write(.text(text))
                case .send(let text):
                    logger.info("resubscribing one book", metadata: ["conn": "\(id)", "message": "\(text)"])
                    // Recorded before it goes out and under the lock, so the venue's answer comes after it.
                    state.withLock { _ in
                        emit(
                            CaptureRecord(
                                receiveTime: clock.now(), venue: venue, kind: .sent, connection: String(id), url: settings.wsURL,
                                frame: Array(text.utf8), line: 0))
                    }
                    try await outbound.write(.text(text))
                case .rotate:
                    rotateNow()
                }
            }
        }
    }

    // MARK: Rotation

    /// Starts a make-before-break rotation (the venue's forced disconnect is near, or it announced
    /// a shutdown). No-op while one is already running or nothing is connected.
    public func rotateNow() {
        state.withLock { s in
            guard let id = s.machine.beginRotation() else { return }
            logger.info("rotating connection (make-before-break)")
            s.candidateTask = Task { await self.connection(candidate: id) }
        }
    }

    // MARK: Requests from the normalizer

    /// Acts on a normalizer request without blocking the caller.
    public func handle(_ request: FeedRequest) {
        let now = wall().rawValue
        if let job = state.withLock({ $0.machine.request(request, now: now) }) { jobInput.yield(job) }
    }

    /// Whether books resubscribed on the live connection still wait for their snapshot (one atomic load).
    public var awaitsBookSnapshots: Bool { awaiting.load(ordering: .relaxed) > 0 }

    /// Completes the resubscriptions whose book `isValid` says is valid again (by canonical symbol),
    /// so the session stops waiting for them; the others keep waiting, up to the machine's timeout.
    public func confirmResubscriptions(_ isValid: (String) -> Bool) {
        let pending = state.withLock { Array($0.machine.resubscribing.keys) }
        let done = pending.filter { native in plan.natives.first { $0.native == native }.map { isValid($0.canonical) } ?? true }
        guard !done.isEmpty else { return }
        updating { m in for native in done { m.bookResynced(native: native) } }
    }

    /// Runs `change` on the machine under the lock and refreshes ``awaitsBookSnapshots``.
    func updating<T>(_ change: (inout FeedSessionMachine) -> T) -> T {
        state.withLock {
            let out = change(&$0.machine)
            awaiting.store($0.machine.resubscribing.count, ordering: .relaxed)
            return out
        }
    }

    func perform(_ job: FeedSessionMachine.Job) async {
        switch job {
        case .fetchSnapshot(let native): await fetchSnapshot(native: native)
        case .backfill(let native, let first, let last, let stream): await backfill(native: native, first: first, last: last, stream: stream)
        }
    }

    func fetchAllSnapshots(after delay: Duration, connection id: Int) async {
        try? await Task.sleep(for: delay)
        for (_, native) in plan.natives {
            guard !Task.isCancelled, state.withLock({ $0.machine.isCurrent(id) }) else { return }
            await fetchSnapshot(native: native)
        }
    }

    func fetchSnapshot(native: String) async {
        let url = plan.depthSnapshotURL(native: native)
        if let body = await get(url, kind: "depth") {
            emit(CaptureRecord(receiveTime: clock.now(), venue: venue, kind: .rest, connection: nil, url: url, frame: body, line: 0))
        }
    }

    func backfill(native: String, first: Int64, last: Int64, stream: TradeStream) async {
        var from = first
        while from <= last {
            guard let url = plan.tradeHistoryURL(native: native, fromID: from, stream: stream) else {
                logger.warning("no REST trade history for this venue: missed trades stay missing", metadata: ["first": "\(first)", "last": "\(last)"])
                return
            }
            guard let body = await get(url, kind: "trades") else { return }
            emit(CaptureRecord(receiveTime: clock.now(), venue: venue, kind: .rest, connection: nil, url: url, frame: body, line: 0))
            from += 1000
        }
        logger.info("backfilled trades", metadata: ["symbol": "\(native)", "first": "\(first)", "last": "\(last)"])
    }

    /// GET with three attempts; nil when all failed (logged and counted) or the session stopped.
    func get(_ url: String, kind: String) async -> [UInt8]? {
        var wait = Duration.milliseconds(200)
        for attempt in 1...3 {
            if Task.isCancelled { return nil }
            do {
                let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
                let body = try await response.body.collect(upTo: 64 << 20)
                if response.status == .ok {
                    metrics.restOK[kind]?.increment()
                    return Array(buffer: body)
                }
                logger.warning("REST request refused", metadata: ["url": "\(url)", "status": "\(response.status.code)", "attempt": "\(attempt)"])
            } catch {
                logger.warning("REST request failed", metadata: ["url": "\(url)", "error": "\(error)", "attempt": "\(attempt)"])
            }
            metrics.restError[kind]?.increment()
            try? await Task.sleep(for: wait)
            wait *= 4
        }
        return nil
    }
}

/// Websocket messages as bytes, straight from the frames' buffers: text messages are not turned
/// into a `String` and back. Fragments are joined as the client's own message reader does;
/// a text message that is not all ASCII goes through `String` as before, so invalid UTF-8 is
/// repaired the same way and the bytes handed on are unchanged from what the pipeline got before.
struct FrameReader {
    var frames: WebSocketInboundStream.AsyncIterator
    let maxSize: Int

    init(_ frames: WebSocketInboundStream.AsyncIterator, maxSize: Int) {
        self.frames = frames
        self.maxSize = maxSize
    }

    mutating func next() async throws -> [UInt8]? {
        guard let first = try await frames.next() else { return nil }
        guard first.opcode == .text || first.opcode == .binary else { throw FrameError.unexpectedContinuation }
        var data = first.data
        var fin = first.fin
        while !fin {
            guard let more = try await frames.next() else { return nil }
            guard more.opcode == .continuation else { throw FrameError.unexpectedContinuation }
            guard data.readableBytes + more.data.readableBytes <= maxSize else { throw FrameError.tooLarge(maxSize) }
            var part = more.data
            data.writeBuffer(&part)
            fin = more.fin
        }
        return Self.handedOn(Array(buffer: data), text: first.opcode == .text)
    }

    /// A message's bytes as the pipeline gets them (one copy out of the frame's buffer).
    static func handedOn(_ bytes: [UInt8], text: Bool) -> [UInt8] {
        guard text, !bytes.allSatisfy({ $0 < 0x80 }) else { return bytes }
        return Array(String(decoding: bytes, as: UTF8.self).utf8)
    }

    enum FrameError: Error, CustomStringConvertible {
        case unexpectedContinuation
        case tooLarge(Int)
        var description: String {
            switch self {
            case .unexpectedContinuation: "websocket protocol error: fragment out of sequence"
            case .tooLarge(let n): "websocket message larger than \(n) bytes"
            }
        }
    }
}
