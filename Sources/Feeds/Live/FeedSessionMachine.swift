import MarketCore
import Normalizer
import Venues

/// Everything ``FeedSession`` decides, as a value: which connection is live, what to send after a
/// connect, when a stream is stale, when a heartbeat or a rotation is due, how long to wait before
/// reconnecting, how to act on a subscription refusal, a shutdown notice or a resync request
/// (one instrument's book resubscribed on the live connection where the venue allows it).
/// Time comes in as an argument (wall-clock nanoseconds), so tests drive it without sleeping; the
/// session calls it under its lock and performs what it returns.
struct FeedSessionMachine {
    let plan: VenueFeedPlan
    /// A stream-snapshot venue resyncs by reconnecting; at most once per this many nanoseconds.
    let resyncReconnectEvery: Int64 = 2_000_000_000
    /// A resubscribing venue resyncs one instrument's book at most once per this many nanoseconds
    /// (a request within it waits until it has passed).
    let resubscribeEvery: Int64 = 2_000_000_000
    /// A resubscribed book whose fresh snapshot has not come after this many nanoseconds: the
    /// connection is closed and the reconnect brings every book back.
    let resubscribeTimeout: Int64 = 10_000_000_000
    /// Pause between two subscribe messages (Binance accepts 5 incoming messages a second).
    let subscribePause: Duration = .milliseconds(250)

    struct Connection: Equatable {
        var opened: Int64
        var lastFrame: Int64
        var lastPing: Int64
        var pings = 0
        /// Answers to our pings (liveness is judged by any frame; this is for tests and logs).
        var pongs = 0
        var frames = 0
        var closeRequest: String?
        /// A rotation switched away from this connection.
        var retired = false
        /// The venue refused a subscription on it.
        var refused = false
    }

    private(set) var connections: [Int: Connection] = [:]
    private(set) var gate = RotationGate()
    private(set) var nextID = 1
    private(set) var opened = 0
    private(set) var framesTotal = 0
    /// Wall time of the latest frame on any connection (0: none yet).
    private(set) var lastFrame: Int64 = 0
    private var lastResyncReconnect: Int64?
    /// Books to resubscribe (native symbol → earliest send time), sent by the current connection's tick.
    private(set) var resubscribeDue: [String: Int64] = [:]
    /// Books resubscribed and waiting for their snapshot (native symbol → where and when).
    private(set) var resubscribing: [String: Resubscription] = [:]
    private var lastResubscribe: [String: Int64] = [:]

    struct Resubscription: Equatable {
        var connection: Int
        var sent: Int64
    }
    /// The wait before the next reconnect, before jitter.
    private(set) var backoff: Duration

    /// How a book is resynchronized on this venue (the plan's; tests may pick the fallback).
    let bookResync: BookResync

    init(plan: VenueFeedPlan, bookResync: BookResync? = nil) {
        self.plan = plan
        self.bookResync = bookResync ?? plan.bookResync
        backoff = plan.settings.reconnectInitial
    }

    var settings: FeedSettings { plan.settings }

    // MARK: Connecting

    /// A connection is being opened: its id. Candidates get theirs from ``beginRotation()``.
    mutating func connecting(now: Int64, candidate id: Int? = nil) -> Int {
        let id = id ?? allocate()
        opened += 1
        connections[id] = Connection(opened: now, lastFrame: now, lastPing: now)
        if id != gate.candidate { gate.connected(id) }
        return id
    }

    private mutating func allocate() -> Int {
        defer { nextID += 1 }
        return nextID
    }

    enum Step: Equatable {
        case send(String)
        case pause(Duration)
        /// Fetch a REST depth snapshot of every symbol after this wait, while the connection is current.
        case fetchSnapshots(after: Duration)
    }

    /// What to do once the websocket is open: the whole subscription again (every connect, so a
    /// reconnect resubscribes everything), paced, then the REST snapshots where books need them.
    func opened(_ id: Int) -> [Step] {
        var steps: [Step] = []
        for (n, message) in plan.subscribeMessages().enumerated() {
            if n > 0 { steps.append(.pause(subscribePause)) }
            steps.append(.send(message))
        }
        if id != gate.candidate, plan.bookSync == .restSnapshot, settings.channels.contains(.book) {
            steps.append(.fetchSnapshots(after: settings.snapshotDelay))
        }
        return steps
    }

    /// Whether REST snapshots fetched for connection `id` are still wanted.
    func isCurrent(_ id: Int) -> Bool { gate.current == id }

    // MARK: Frames

    struct Received: Equatable {
        /// Frames to hand to the pipeline, as received on `connection` (rotation may hold some back).
        var forward: [RotationGate.Frame] = []
        var connection: Int
        /// A rotation switched over: connection `retired` closes, `connection` carries on.
        var retired: Int?
        /// The venue refused a subscription: the connection closes and the feed reconnects
        /// (without resetting the backoff, so a venue that keeps refusing is not hammered).
        var refused = false
        /// The venue announced a shutdown of the current connection: rotate now (venues without
        /// rotation get a close request instead, so the feed reconnects ahead of the cut).
        var rotate = false
    }

    /// A frame arrived on connection `id` at wall time `now`; `stamp` is its receive time.
    mutating func received(_ bytes: [UInt8], on id: Int, now: Int64, stamp: Int64) -> Received {
        connections[id]?.lastFrame = now
        connections[id]?.frames += 1
        framesTotal += 1
        lastFrame = now
        var out = Received(connection: id)
        switch gate.deliver(id, bytes, time: stamp) {
        case .forward(let frames):
            out.forward = frames
        case .switchOver(let frames, let retire):
            let newID = gate.current ?? id
            out.forward = frames
            out.connection = newID
            out.retired = retire
            connections[retire]?.closeRequest = "rotated to connection \(newID)"
            connections[retire]?.retired = true
        }
        switch plan.control(bytes) {
        case .subscriptionRefused(detail: let detail)?:
            connections[id]?.closeRequest = "subscription refused: \(detail)"
            connections[id]?.refused = true
            out.refused = true
        case .shutdownNotice(detail: let detail)? where gate.current == id && !gate.isRotating:
            // Venues that rotate make-before-break do so now; the others reconnect ahead of the cut.
            if settings.rotateAfter != nil {
                out.rotate = true
            } else {
                connections[id]?.closeRequest = "venue announced shutdown: \(detail)"
            }
        case .pong?:
            connections[id]?.pongs += 1
        case .shutdownNotice?, nil:
            break
        }
        return out
    }

    // MARK: Timers

    enum TimerAction: Equatable {
        /// Close the connection's websocket with this reason; `stale` when no data came.
        case close(reason: String, stale: Bool)
        /// Send this text on the connection (a book resubscription).
        case send(String)
        case ping(String)
        /// The current connection reached the rotation age: start a make-before-break rotation.
        case rotate
    }

    /// How often each connection's timer calls ``tick(_:now:)``.
    var pollInterval: Duration { min(settings.staleAfter / 4, .milliseconds(250)) }

    /// The connection's periodic check: close request, staleness, book resubscriptions, heartbeat,
    /// rotation age.
    mutating func tick(_ id: Int, now: Int64) -> [TimerAction] {
        guard connections[id] != nil else { return [.close(reason: "gone", stale: false)] }
        var sends: [TimerAction] = []
        if gate.current == id, connections[id]!.closeRequest == nil {
            if let (native, r) = resubscribing.first(where: { now - $0.value.sent > resubscribeTimeout }) {
                connections[id]!.closeRequest =
                    "resync \(native): no snapshot \((now - r.sent) / 1_000_000_000) s after resubscribing; reconnecting for fresh snapshots"
            } else {
                for native in resubscribeDue.filter({ $0.value <= now }).keys.sorted() {
                    resubscribeDue[native] = nil
                    lastResubscribe[native] = now
                    resubscribing[native] = Resubscription(connection: id, sent: now)
                    sends += plan.resubscribeBookMessages(native: native).map(TimerAction.send)
                }
            }
        }
        var c = connections[id]!
        defer { connections[id] = c }
        if let r = c.closeRequest { return [.close(reason: r, stale: false)] }
        if now - c.lastFrame > settings.staleAfter.nanoseconds {
            let r = "stale: no data for \(settings.staleAfter)"
            c.closeRequest = r
            return [.close(reason: r, stale: true)]
        }
        var out = sends
        if let every = settings.pingInterval, now - c.lastPing >= every.nanoseconds, let text = plan.pingText(c.pings + 1) {
            c.pings += 1
            c.lastPing = now
            out.append(.ping(text))
        }
        if let age = settings.rotateAfter, gate.current == id, !gate.isRotating, now - c.opened >= age.nanoseconds {
            out.append(.rotate)
        }
        return out
    }

    // MARK: Rotation

    /// Starts a make-before-break rotation: the candidate connection's id, or nil while one is
    /// already running or nothing is connected.
    mutating func beginRotation() -> Int? {
        guard !gate.isRotating, gate.current != nil else { return nil }
        let id = allocate()
        gate.beginRotation(to: id)
        return id
    }

    // MARK: Disconnect and reconnect

    struct Ended: Equatable {
        var frames: Int
        /// Why the session closed it (nil: the venue or the network did).
        var closeRequest: String?
        var refused: Bool
        /// A rotation took over: the successor carries the stream on, no reconnect.
        var handedOver: Bool
        /// No connection is left open (the `feed_connected` gauge drops).
        var disconnected: Bool
    }

    mutating func ended(_ id: Int) -> Ended {
        let c = connections.removeValue(forKey: id)
        let wasCurrent = gate.current == id
        // Whatever connection carries on (or comes next) subscribes every book afresh.
        resubscribing = resubscribing.filter { $0.value.connection != id }
        if wasCurrent { resubscribeDue.removeAll() }
        let wasCandidate = gate.candidate == id
        gate.disconnected(id)
        let handedOver = c?.retired == true || (wasCurrent && gate.current != nil && gate.current != id)
        return Ended(
            frames: c?.frames ?? 0, closeRequest: c?.closeRequest, refused: c?.refused ?? false, handedOver: handedOver,
            disconnected: !handedOver && !wasCandidate)
    }

    /// The wait before reconnecting, after a connection (and its rotation successors) delivered
    /// `frames` frames: capped exponential backoff, reset once a connection delivered data unless the
    /// venue refused the subscription. `jitter` scales the wait (the session draws it from 0.75...1.25).
    mutating func reconnectDelay(frames: Int, refused: Bool, jitter: Double) -> Duration {
        if frames > 0 && !refused { backoff = settings.reconnectInitial }
        let wait = backoff * jitter
        backoff = min(backoff * 2, settings.reconnectMax)
        return wait
    }

    // MARK: Requests from the normalizer

    enum Job: Equatable {
        case fetchSnapshot(native: String)
        case backfill(native: String, first: Int64, last: Int64, stream: TradeStream)
    }

    /// A normalizer request: REST work to run; a book resubscription the current connection's next
    /// tick sends (at most every 2 s per instrument); or, where the venue cannot resubscribe one
    /// book, a close request on the current connection so the reconnect brings fresh snapshots (at
    /// most every 2 s).
    mutating func request(_ request: FeedRequest, now: Int64) -> Job? {
        switch request {
        case .bookResync(let instrument):
            switch bookResync {
            case .restSnapshot:
                return .fetchSnapshot(native: instrument.nativeSymbol)
            case .resubscribe:
                let native = instrument.nativeSymbol
                // Only what this feed subscribed (a venue sending more is not asked for more).
                guard plan.natives.contains(where: { $0.native == native }) else { return nil }
                guard resubscribing[native] == nil, resubscribeDue[native] == nil else { return nil }
                resubscribeDue[native] = max(now, (lastResubscribe[native] ?? .min / 2) + resubscribeEvery)
                return nil
            case .reconnect:
                if let last = lastResyncReconnect, now - last <= resyncReconnectEvery { return nil }
                guard let cur = gate.current else { return nil }
                lastResyncReconnect = now
                connections[cur]?.closeRequest = "resync \(instrument.symbol): resubscribing for a fresh snapshot"
                return nil
            }
        case .tradeBackfill(let instrument, let first, let last, let stream):
            return .backfill(native: instrument.nativeSymbol, first: first, last: last, stream: stream)
        }
    }

    /// The pipeline saw `native`'s book become valid again: its resubscription is complete.
    mutating func bookResynced(native: String) {
        resubscribing[native] = nil
    }
}
