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
/// - Reconnects with capped exponential backoff and ±25 % jitter; the backoff resets once a
///   connection delivered data.
/// - Stale detection: no frame for `staleAfter` closes the connection (and so reconnects).
/// - Application heartbeats where the venue wants them; websocket pings are answered by the
///   client while the read loop runs, and the read loop only hands frames on, never waits.
/// - Books: REST-synced venues fetch a depth snapshot per symbol after every connect and on every
///   resync request; stream-snapshot venues resync by reconnecting (the venue sends snapshots on
///   subscribe).
/// - Missed trades (a trade-id gap after a reconnect) are fetched from the venue's REST history.
/// - Make-before-break rotation before the venue's forced disconnect (``RotationGate``).
public final class FeedSession: Sendable {
    public let plan: VenueFeedPlan
    let logger: Logger
    let emit: RecordSink
    let http: HTTPClient
    /// Stamps records (their `recv_ns`); timers (staleness, rotation, resync throttling) use the wall clock.
    let clock: ReceiveClock

    struct Connection {
        var closeRequest: String?
        var lastFrame: Int64
        var opened: Int64
        var frames = 0
        /// A rotation switched away from this connection.
        var retired = false
        /// The venue refused a subscription on it.
        var refused = false
    }

    struct State {
        var nextID = 1
        var connections: [Int: Connection] = [:]
        var gate = RotationGate()
        var candidateTask: Task<Outcome, Never>?
        var lastResyncReconnect: Int64 = 0
        var opened = 0
        var framesTotal = 0
        /// Wall time of the latest frame on any connection (0: none yet).
        var lastFrame: Int64 = 0
    }

    let state = Mutex(State())

    struct Outcome: Sendable {
        var frames: Int
        var refused = false
        /// The connection was retired by a rotation: its successor runs in this task.
        var successor: Task<Outcome, Never>?
    }

    public init(
        plan: VenueFeedPlan, http: HTTPClient = .shared, clock: ReceiveClock = .wall, logger: Logger, emit: @escaping RecordSink
    ) {
        self.plan = plan
        self.clock = clock
        self.http = http
        self.emit = emit
        var l = logger
        l[metadataKey: "venue"] = "\(plan.venue.id)"
        self.logger = l
    }

    var venue: Venue { plan.venue }
    var settings: FeedSettings { plan.settings }

    /// Connections opened so far (tests, status line).
    public var connectionsOpened: Int { state.withLock { $0.opened } }

    /// Whether a connection to the venue is open now (health).
    public var isConnected: Bool { state.withLock { !$0.connections.isEmpty } }

    /// Frames received on all connections so far (status line, health).
    public var framesReceived: Int { state.withLock { $0.framesTotal } }

    /// Wall time of the latest frame from the venue, nil before the first (ops page, staleness).
    public var lastFrameTime: UnixNanos? { state.withLock { $0.lastFrame == 0 ? nil : UnixNanos($0.lastFrame) } }

    /// Runs until the task is cancelled.
    public func run() async {
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                if let rotateAfter = settings.rotateAfter {
                    group.addTask { await self.rotationTimer(rotateAfter) }
                }
                group.addTask { await self.connectLoop() }
                await group.next()
                group.cancelAll()
            }
        } onCancel: {
            // A rotation's candidate runs in a task of its own: stop it too.
            state.withLock { $0.candidateTask }?.cancel()
        }
    }

    func connectLoop() async {
        var backoff = settings.reconnectInitial
        while !Task.isCancelled {
            var outcome = await connection(candidate: false)
            var frames = outcome.frames
            while let next = outcome.successor {
                outcome = await withTaskCancellationHandler { await next.value } onCancel: { next.cancel() }
                frames += outcome.frames
            }
            if Task.isCancelled { break }
            if frames > 0 && !outcome.refused { backoff = settings.reconnectInitial }
            let wait = Self.jittered(backoff)
            logger.info("reconnecting", metadata: ["in_ms": "\(wait.nanoseconds / 1_000_000)"])
            Counter(label: "feed_reconnects_total", dimensions: [("venue", venue.id)]).increment()
            try? await Task.sleep(for: wait)
            backoff = min(backoff * 2, settings.reconnectMax)
        }
    }

    static func jittered(_ d: Duration) -> Duration {
        d * Double.random(in: 0.75...1.25)
    }

    // MARK: One connection

    func connection(candidate: Bool) async -> Outcome {
        let id: Int = state.withLock {
            let id = $0.nextID
            $0.nextID += 1
            $0.opened += 1
            let now = wallClockNow().rawValue
            $0.connections[id] = Connection(lastFrame: now, opened: now)
            if !candidate { $0.gate.connected(id) }
            return id
        }
        let conn = String(id)
        emit(CaptureRecord(receiveTime: clock.now(), venue: venue, kind: .open, connection: conn, url: settings.wsURL, frame: [], line: 0))
        Gauge(label: "feed_connected", dimensions: [("venue", venue.id)]).record(1)
        logger.info("connecting", metadata: ["conn": "\(conn)", "url": "\(settings.wsURL)", "candidate": "\(candidate)"])

        let config = WebSocketClientConfiguration(
            maxFrameSize: settings.maxMessageBytes,
            extensions: settings.compression ? [.perMessageDeflate(maxDecompressedFrameSize: settings.maxMessageBytes)] : [],
            closeTimeout: .seconds(2))
        var reason = "closed by the venue"
        do {
            let close = try await WebSocketClient.connect(url: settings.wsURL, configuration: config, logger: logger) {
                inbound, outbound, _ in
                for (n, message) in self.plan.subscribeMessages().enumerated() {
                    // Venues limit incoming messages per second (Binance: 5/s).
                    if n > 0 { try await Task.sleep(for: .milliseconds(250)) }
                    try await outbound.write(.text(message))
                    self.emit(
                        CaptureRecord(
                            receiveTime: self.clock.now(), venue: self.venue, kind: .sent, connection: conn, url: self.settings.wsURL,
                            frame: Array(message.utf8), line: 0))
                }
                if !candidate, self.plan.bookSync == .restSnapshot, self.settings.channels.contains(.book) {
                    Task { await self.fetchAllSnapshots(after: self.settings.snapshotDelay, connection: id) }
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in inbound.messages(maxSize: self.settings.maxMessageBytes) {
                            let bytes: [UInt8]
                            switch message {
                            case .text(let s): bytes = Array(s.utf8)
                            case .binary(let b): bytes = Array(buffer: b)
                            }
                            self.received(bytes, on: id)
                        }
                    }
                    group.addTask { try await self.watchdog(id, outbound: outbound) }
                    if let every = self.settings.pingInterval, self.plan.pingText(0) != nil {
                        group.addTask {
                            var n = 1
                            while true {
                                try await Task.sleep(for: every)
                                try await outbound.write(.text(self.plan.pingText(n)!))
                                n += 1
                            }
                        }
                    }
                    // The first task to end (stream closed, stale, close requested) ends the connection.
                    try await group.next()
                    group.cancelAll()
                }
            }
            if let close { reason = "closed by the venue (\(close.closeCode)\(close.reason.map { ": \($0)" } ?? ""))" }
        } catch is CancellationError {
            reason = "shutting down"
        } catch {
            reason = "connection failed: \(error)"
        }
        let (frames, requested, successor, refused): (Int, String?, Task<Outcome, Never>?, Bool) = state.withLock {
            let c = $0.connections.removeValue(forKey: id)
            let wasCurrent = $0.gate.current == id
            $0.gate.disconnected(id)
            var successor: Task<Outcome, Never>? = nil
            if c?.retired == true || (wasCurrent && $0.gate.current != nil && $0.gate.current != id) {
                successor = $0.candidateTask
                $0.candidateTask = nil
            }
            return (c?.frames ?? 0, c?.closeRequest, successor, c?.refused ?? false)
        }
        if let requested { reason = requested } else if Task.isCancelled { reason = "shutting down" }
        emit(CaptureRecord(receiveTime: clock.now(), venue: venue, kind: .close, connection: conn, url: settings.wsURL, frame: Array(reason.utf8), line: 0))
        if successor == nil && !candidate { Gauge(label: "feed_connected", dimensions: [("venue", venue.id)]).record(0) }
        Counter(label: "feed_disconnects_total", dimensions: [("venue", venue.id)]).increment()
        logger.info("connection ended", metadata: ["conn": "\(conn)", "reason": "\(reason)", "frames": "\(frames)"])
        return Outcome(frames: frames, refused: refused, successor: successor)
    }

    func received(_ bytes: [UInt8], on id: Int) {
        let now = wallClockNow()
        Counter(label: "feed_frames_total", dimensions: [("venue", venue.id)]).increment()
        // Decide and emit under one lock, so two connections (rotation) cannot interleave records.
        let rotated: (from: Int, to: Int)? = state.withLock {
            // Stamped under the lock: records of one venue stay in receive-time order.
            let stamp = clock.stamp(bytes)
            $0.connections[id]?.lastFrame = now.rawValue
            $0.connections[id]?.frames += 1
            $0.framesTotal += 1
            $0.lastFrame = now.rawValue
            switch $0.gate.deliver(id, bytes, time: stamp.rawValue) {
            case .forward(let frames):
                for f in frames { emitFrame(f, conn: id) }
                return nil
            case .switchOver(let frames, let retire):
                let newID = $0.gate.current ?? id
                for f in frames { emitFrame(f, conn: newID) }
                $0.connections[retire]?.closeRequest = "rotated to connection \(newID)"
                $0.connections[retire]?.retired = true
                return (retire, newID)
            }
        }
        if plan.refusesSubscription(bytes) {
            // Reconnecting subscribes everything again; the backoff is not reset, so a venue that
            // keeps refusing is not hammered.
            let text = String(decoding: bytes.prefix(200), as: UTF8.self)
            logger.warning("subscription refused: reconnecting", metadata: ["conn": "\(id)", "answer": "\(text)"])
            Counter(label: "feed_subscription_refused_total", dimensions: [("venue", venue.id)]).increment()
            state.withLock {
                $0.connections[id]?.closeRequest = "subscription refused: \(text)"
                $0.connections[id]?.refused = true
            }
        }
        if plan.announcesShutdown(bytes), state.withLock({ $0.gate.current == id }) {
            logger.notice("venue announced a shutdown: rotating", metadata: ["conn": "\(id)"])
            rotateNow()
        }
        if let rotated {
            logger.info("rotation complete", metadata: ["from": "\(rotated.from)", "to": "\(rotated.to)"])
            Counter(label: "feed_rotations_total", dimensions: [("venue", venue.id)]).increment()
        }
    }

    /// Advances the venue's clock with no frame (candle closes by grace); recorded like any record.
    func emitTick() {
        emit(CaptureRecord(receiveTime: clock.now(), venue: venue, kind: .tick, frame: []))
    }

    func emitFrame(_ f: RotationGate.Frame, conn: Int) {
        emit(CaptureRecord(receiveTime: UnixNanos(f.time), venue: venue, kind: .ws, connection: String(conn), url: nil, frame: f.frame, line: 0))
    }

    func requestClose(_ id: Int, reason: String) {
        state.withLock { $0.connections[id]?.closeRequest = reason }
    }

    /// Ends the connection on a close request or when the stream went stale.
    func watchdog(_ id: Int, outbound: WebSocketOutboundWriter) async throws {
        let stale = settings.staleAfter.nanoseconds
        let poll = min(settings.staleAfter / 4, .milliseconds(250))
        while true {
            try await Task.sleep(for: poll)
            let now = wallClockNow().rawValue
            let verdict: String? = state.withLock {
                guard let c = $0.connections[id] else { return "gone" }
                if let r = c.closeRequest { return r }
                if now - c.lastFrame > stale {
                    let r = "stale: no data for \(settings.staleAfter)"
                    $0.connections[id]?.closeRequest = r
                    return r
                }
                return nil
            }
            if let verdict {
                if verdict.hasPrefix("stale") {
                    logger.warning("stream stale, reconnecting", metadata: ["conn": "\(id)"])
                    Counter(label: "feed_stale_total", dimensions: [("venue", venue.id)]).increment()
                }
                try? await outbound.close(.goingAway, reason: String(verdict.prefix(100)))
                return
            }
        }
    }

    // MARK: Rotation

    func rotationTimer(_ after: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let due: Bool = state.withLock {
                guard !$0.gate.isRotating, let cur = $0.gate.current, let c = $0.connections[cur] else { return false }
                return wallClockNow().rawValue - c.opened >= after.nanoseconds
            }
            if due { rotateNow() }
        }
    }

    /// Starts a make-before-break rotation (the venue's forced disconnect is near, or it announced
    /// a shutdown). No-op while one is already running or nothing is connected.
    public func rotateNow() {
        let start: Bool = state.withLock { !$0.gate.isRotating && $0.gate.current != nil }
        guard start else { return }
        logger.info("rotating connection (make-before-break)")
        let task = Task { await self.candidateConnection() }
        state.withLock { $0.candidateTask = task }
    }

    func candidateConnection() async -> Outcome {
        state.withLock { s in s.gate.beginRotation(to: s.nextID) }
        return await connection(candidate: true)
    }

    // MARK: Requests from the normalizer

    /// Acts on a normalizer request without blocking the caller.
    public func handle(_ request: FeedRequest) {
        switch request {
        case .bookResync(let instrument):
            switch plan.bookSync {
            case .restSnapshot:
                Task { await self.fetchSnapshot(native: instrument.nativeSymbol) }
            case .streamSnapshot:
                // The venue sends fresh snapshots on subscribe: reconnect, at most every 2 s.
                let now = wallClockNow().rawValue
                let target: Int? = state.withLock {
                    guard now - $0.lastResyncReconnect > 2_000_000_000, let cur = $0.gate.current else { return nil }
                    $0.lastResyncReconnect = now
                    return cur
                }
                if let target { requestClose(target, reason: "resync \(instrument.symbol): resubscribing for a fresh snapshot") }
            }
        case .tradeBackfill(let instrument, let first, let last, let stream):
            Task { await self.backfill(native: instrument.nativeSymbol, first: first, last: last, stream: stream) }
        }
    }

    func fetchAllSnapshots(after delay: Duration, connection id: Int) async {
        try? await Task.sleep(for: delay)
        for (_, native) in plan.natives {
            guard state.withLock({ $0.gate.current == id }) else { return }
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

    /// GET with three attempts; nil when all failed (logged and counted).
    func get(_ url: String, kind: String) async -> [UInt8]? {
        var wait = Duration.milliseconds(200)
        for attempt in 1...3 {
            do {
                let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
                let body = try await response.body.collect(upTo: 64 << 20)
                if response.status == .ok {
                    Counter(label: "feed_rest_requests_total", dimensions: [("venue", venue.id), ("kind", kind), ("result", "ok")]).increment()
                    return Array(buffer: body)
                }
                logger.warning("REST request refused", metadata: ["url": "\(url)", "status": "\(response.status.code)", "attempt": "\(attempt)"])
            } catch {
                logger.warning("REST request failed", metadata: ["url": "\(url)", "error": "\(error)", "attempt": "\(attempt)"])
            }
            Counter(label: "feed_rest_requests_total", dimensions: [("venue", venue.id), ("kind", kind), ("result", "error")]).increment()
            try? await Task.sleep(for: wait)
            wait *= 4
        }
        return nil
    }
}
