import Bus
public import MarketCore
public import NIOCore
import NIOWebSocket

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The fan-out's time: a monotonic clock for intervals (message rate, auth attempts, pings) and
/// the wall clock for tokens' `exp`. The hub reads both here and nowhere else; the client's
/// decisions take the readings as arguments (``FanOutClientMachine``).
public struct FanOutClock: Sendable {
    public var monotonic: @Sendable () -> NIODeadline
    public var wall: @Sendable () -> UnixNanos

    public init(monotonic: @escaping @Sendable () -> NIODeadline, wall: @escaping @Sendable () -> UnixNanos) {
        self.monotonic = monotonic
        self.wall = wall
    }

    public static let system = FanOutClock(monotonic: { .now() }, wall: { UnixNanos.wallClock() })
}

extension UnixNanos {
    /// CLOCK_REALTIME: the wall clock a token's `exp` is compared with.
    static func wallClock() -> UnixNanos {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return UnixNanos(Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec))
    }
}

/// Everything ``FanOutClient`` decides, as a value: whether a client message is handled, deferred
/// behind a pending `auth` or refused (size, rate); auth attempts and the session's identity,
/// warning and expiry; subscriptions, their limits and the per-channel cursors; whether a frame
/// goes to the socket or the client's queue, conflated, and when the queue closes the client;
/// pings and the silence that closes it. Time comes in as arguments (monotonic `NIODeadline`s and
/// wall-clock `UnixNanos`), so tests drive it without sleeping; the handler performs what it
/// returns (writes, timers, counters) on its event loop.
struct FanOutClientMachine {
    let options: FanOutOptions
    /// Requests held while an `auth` is verified; one more is refused (`rate_limited`).
    static let maxDeferred = 64

    private(set) var closing = false
    /// When the client last sent anything (any frame counts as an answer to our pings).
    private(set) var lastHeard: NIODeadline
    private var bucket: TokenBucket
    private var lastRateLimitReply = NIODeadline.distantPast
    /// When the last `authAttemptsPerMinute` auth messages came.
    private var authAttempts: [NIODeadline] = []
    /// An `auth` is being verified: later requests wait for it, in order (a client may pipeline
    /// `auth` and a private `subscribe`).
    private(set) var authPending = false
    private(set) var deferred: [WebSocketFrame] = []
    /// The authenticated user and its token's expiry.
    private(set) var user: String?
    private(set) var expires: UnixNanos?
    private(set) var patterns: [ChannelName] = []
    /// Channel id → seq of the last frame sent (or covered by a snapshot) on that channel.
    private(set) var cursors: [Int: UInt64] = [:]
    private(set) var backlog = Backlog()

    init(options: FanOutOptions, now: NIODeadline) {
        self.options = options
        self.lastHeard = now
        self.bucket = TokenBucket(rate: options.messagesPerSecond, burst: options.messageBurst)
    }

    /// An error frame for the client, counted under its code (and its limit, when one was passed).
    struct Refusal: Error, Equatable {
        var id: RequestID
        var code: ErrorCode
        var message: String
        var limit: LimitName?
    }

    enum SignOutReason: String {
        case expired
        case revoked
        case authFailed = "auth_failed"
    }

    /// A message for the client other than data (the handler encodes it with ``ServerReply``).
    enum Message: Equatable {
        case error(Refusal)
        case authAck(id: RequestID, user: String, expires: UnixNanos?)
        case expiring(user: String, expires: UnixNanos)
        case signedOut(user: String, expires: UnixNanos?, reason: SignOutReason, channels: [String])
    }

    // MARK: Output

    struct Overflow: Equatable {
        var limit: LimitName
        /// Frames (`queuedFrames`) or bytes (`outstandingBytes`) queued.
        var queued: Int
        var reason: String
    }

    enum Output: Equatable {
        /// Nothing to write: a frame the client already has, or the client is closing.
        case drop
        /// Straight to the socket.
        case write
        /// Into the client's queue: `added` more queued frames (0 when one replaced its predecessor),
        /// `conflated` frames replaced; `overflow`: the queue passed a limit, close with 4008.
        case queued(added: Int, conflated: Int, overflow: Overflow?)
    }

    /// A data frame from the bus: dropped when its seq is not past the channel's cursor (a
    /// snapshot or another pattern covered it), else written while the queue is empty and the
    /// socket writable, else queued (conflated by `key`).
    mutating func deliver(channelID: Int, seq: UInt64, wire: ByteBuffer, key: ConflationKey?, writable: Bool) -> Output {
        if let last = cursors[channelID], seq <= last { return .drop }
        cursors[channelID] = seq
        if backlog.isEmpty && writable { return .write }
        return enqueue(wire, key: key)
    }

    /// A frame outside the bus's delivery (acks, errors, pongs, session messages, snapshots and
    /// history, broadcasts): in order with the data frames, never conflated.
    mutating func send(_ wire: ByteBuffer, writable: Bool) -> Output {
        guard !closing else { return .drop }
        if backlog.isEmpty && writable { return .write }
        return enqueue(wire, key: nil)
    }

    private mutating func enqueue(_ wire: ByteBuffer, key: ConflationKey?) -> Output {
        guard !closing else { return .drop }
        let before = backlog.count
        backlog.append(wire, key: key)
        let conflated = backlog.replaced
        backlog.replaced = 0
        var overflow: Overflow?
        if backlog.lossless > options.maxQueuedFrames {
            overflow = Overflow(
                limit: .queuedFrames, queued: backlog.count,
                reason: "client fell behind: more than \(options.maxQueuedFrames) frames queued")
        } else if backlog.bytes > options.maxOutstandingBytes {
            overflow = Overflow(
                limit: .outstandingBytes, queued: backlog.bytes,
                reason: "client fell behind: more than \(options.maxOutstandingBytes) bytes queued")
        }
        return .queued(added: backlog.count - before, conflated: conflated, overflow: overflow)
    }

    /// The oldest queued frame (marked when it replaced a predecessor), once the socket drains.
    mutating func nextQueued() -> ByteBuffer? {
        guard let (wire, conflated) = backlog.popFirst() else { return nil }
        return conflated ? WebSocketWire.markedConflated(wire) : wire
    }

    /// Whether a client ping gets a pong now: only with nothing queued (RFC 6455 5.5.3 allows
    /// answering only the latest ping, so a client that pings without reading queues no pongs).
    func answersPing(writable: Bool) -> Bool { backlog.isEmpty && writable }

    // MARK: Closing

    /// Starts the close: the queued frames dropped, or nil when already closing.
    mutating func close() -> Int? {
        guard !closing else { return nil }
        closing = true
        let dropped = backlog.count
        backlog.removeAll()
        return dropped
    }

    struct Removed: Equatable {
        /// Gone without a close handshake (close code 1006).
        var abrupt: Bool
        var queued: Int
        var patterns: Int
    }

    /// The connection is gone: what it held, for the counters.
    mutating func removed() -> Removed {
        let r = Removed(abrupt: !closing, queued: backlog.count, patterns: patterns.count)
        patterns.removeAll()
        backlog.removeAll()
        return r
    }

    // MARK: Heartbeat

    /// Anything arrived from the client.
    mutating func heard(now: NIODeadline) { lastHeard = now }

    enum Heartbeat: Equatable {
        case none
        case ping
        case close(code: UInt16, reason: String)
    }

    /// The shard's ping tick: a client silent for more than three intervals is closed (1001).
    func heartbeat(now: NIODeadline, interval: TimeAmount) -> Heartbeat {
        guard !closing else { return .none }
        if now - lastHeard > interval * 3 { return .close(code: CloseCode.goingAway, reason: "no answer to pings") }
        return .ping
    }

    // MARK: Client messages

    enum Inbound: Equatable {
        /// The client is closing: nothing is answered.
        case ignore
        /// Held until the pending `auth` is answered (``takeDeferred()``).
        case deferred
        case refuse(Refusal)
        /// Over `messagesPerSecond`: dropped and counted; `reply` is the `rate_limited` message to
        /// send, at most one a second, so a flood is not answered with a flood.
        case rateLimited(reply: String?)
        /// Parse and answer it.
        case handle
    }

    /// A text message arrived: whether it is handled now.
    mutating func text(_ frame: WebSocketFrame, now: NIODeadline) -> Inbound {
        guard !closing else { return .ignore }
        if authPending {
            guard deferred.count < Self.maxDeferred else {
                return .refuse(
                    Refusal(id: .none, code: .rateLimited, message: "too many requests while auth is pending; message dropped"))
            }
            deferred.append(frame)
            return .deferred
        }
        if frame.length > options.maxMessageBytes {
            return .refuse(
                Refusal(
                    id: .none, code: .frameTooLarge, message: "message of \(frame.length) bytes; at most \(options.maxMessageBytes)",
                    limit: .messageBytes))
        }
        if bucket.take(now: now) { return .handle }
        guard now - lastRateLimitReply >= .seconds(1) else { return .rateLimited(reply: nil) }
        lastRateLimitReply = now
        return .rateLimited(reply: "more than \(Int(options.messagesPerSecond)) messages per second; message dropped")
    }

    /// The requests that waited for an `auth`, in order, to be handled again.
    mutating func takeDeferred() -> [WebSocketFrame] {
        defer { deferred = [] }
        return deferred
    }

    // MARK: Auth and sessions

    /// What the handler does about the session (in order).
    enum SessionStep: Equatable {
        case send(Message)
        /// Private patterns were dropped: the subscriptions gauge goes down, the shard re-routes.
        case droppedPatterns(Int)
        case cancelTimers
        /// Send the `expiring` message after this many nanoseconds.
        case warn(afterNanos: Int64, Message)
        /// Sign out (`expired`) after this many nanoseconds.
        case expire(afterNanos: Int64)
    }

    enum AuthStart: Equatable {
        /// Verify the token, then call ``authFinished(id:_:wall:)``.
        case verify
        case close(code: UInt16, reason: String, limit: LimitName)
    }

    /// An `auth` message: each attempt costs a signature check, and a socket trying token after
    /// token is guessing, so at most `authAttemptsPerMinute` in any sliding minute.
    mutating func authRequested(now: NIODeadline) -> AuthStart {
        authAttempts.removeAll { now - $0 >= .minutes(1) }
        guard authAttempts.count < options.authAttemptsPerMinute else {
            return .close(
                code: CloseCode.tooManyAuthAttempts, reason: "more than \(options.authAttemptsPerMinute) auth attempts per minute",
                limit: .authAttempts)
        }
        authAttempts.append(now)
        authPending = true
        return .verify
    }

    /// The token check answered at wall time `wall`; nil when the client closed meanwhile.
    /// Afterwards the deferred requests are handled (``takeDeferred()``).
    mutating func authFinished(id: RequestID, _ result: Result<TokenGrant, TokenRefusal>, wall: UnixNanos) -> [SessionStep]? {
        authPending = false
        guard !closing else { return nil }
        var out: [SessionStep] = []
        switch result {
        case .success(let grant):
            // A new identity: private subscriptions of the previous one end.
            if let previous = user, previous != grant.user { out += signOut(reason: nil) }
            user = grant.user
            expires = grant.expires
            out.append(.send(.authAck(id: id, user: grant.user, expires: grant.expires)))
            out += schedule(grant, wall: wall)
        case .failure(let refusal):
            // A failed re-auth ends the previous identity too: the socket must not keep rights
            // its client could no longer prove.
            let previous = user
            let suffix = previous.map { "; the previous identity '\($0)' and its private channels are dropped" } ?? ""
            out.append(.send(.error(Refusal(id: id, code: .unauthorized, message: refusal.message + suffix))))
            if previous != nil { out += signOut(reason: .authFailed) }
        }
        return out
    }

    /// The `expiring` message `sessionWarning` before `exp` (at once when that is past), and the
    /// sign-out at `exp`.
    private func schedule(_ grant: TokenGrant, wall: UnixNanos) -> [SessionStep] {
        var out: [SessionStep] = [.cancelTimers]
        guard let exp = grant.expires else { return out }
        let left = exp.rawValue - wall.rawValue
        let warnIn = left - Int64(TimeAmount(options.sessionWarning).nanoseconds)
        let warning = Message.expiring(user: grant.user, expires: exp)
        out.append(warnIn <= 0 ? .send(warning) : .warn(afterNanos: warnIn, warning))
        out.append(.expire(afterNanos: max(0, left)))
        return out
    }

    /// Ends the identity: private channels go, and (with a reason) the client is told which.
    mutating func signOut(reason: SignOutReason?) -> [SessionStep] {
        guard let previous = user else { return [] }
        var out: [SessionStep] = [.cancelTimers]
        user = nil
        let mine = patterns.filter { $0.kind.isPrivate }
        if !mine.isEmpty {
            patterns.removeAll { $0.kind.isPrivate }
            out.append(.droppedPatterns(mine.count))
        }
        let at = expires
        expires = nil
        if let reason {
            out.append(.send(.signedOut(user: previous, expires: at, reason: reason, channels: mine.map(\.description))))
        }
        return out
    }

    /// Ends the session when its token is past `exp` at `wall` (the timer may not have fired yet).
    mutating func checkExpiry(wall: UnixNanos) -> [SessionStep] {
        if let expires, wall >= expires { return signOut(reason: .expired) }
        return []
    }

    // MARK: Subscriptions

    /// A subscribe the client may make: the concrete channels to attach, and how many patterns
    /// it added.
    struct Subscription: Equatable {
        var channels: [ChannelName]
        var added: Int
    }

    /// A subscribe of valid, known names at wall time `wall`. `expand` lists the channels a
    /// wildcard matches now. All or nothing: a private channel not allowed, or a limit passed, and
    /// nothing changes. `session` is an expiry noticed on the way (handled before the answer).
    mutating func subscribe(
        id: RequestID, _ parsed: [ChannelName], wall: UnixNanos, expand: (ChannelName) -> [ChannelName]
    ) -> (session: [SessionStep], result: Result<Subscription, Refusal>) {
        let session = checkExpiry(wall: wall)
        for p in parsed where p.kind.isPrivate {
            guard let user else {
                return (session, .failure(Refusal(id: id, code: .unauthorized, message: "\(p) is private: send auth first")))
            }
            guard p.scope == user else {
                return (session, .failure(Refusal(id: id, code: .forbidden, message: "\(p) belongs to another user")))
            }
        }
        let new = parsed.reduce(into: [ChannelName]()) { acc, p in
            if !patterns.contains(p) && !acc.contains(p) { acc.append(p) }
        }
        guard patterns.count + new.count <= options.maxSubscriptions else {
            return (
                session,
                .failure(
                    Refusal(
                        id: id, code: .tooManySubscriptions,
                        message: "at most \(options.maxSubscriptions) subscriptions per connection (\(patterns.count) held)",
                        limit: .subscriptions))
            )
        }
        // The concrete channels first: a subscribe matching too many changes nothing.
        var concrete: [ChannelName] = []
        var seen = Set<ChannelName>()
        let cap = options.maxChannelsPerSubscribe
        for p in parsed {
            for ch in p.hasWildcard ? expand(p) : [p] where seen.insert(ch).inserted {
                concrete.append(ch)
            }
            if concrete.count > cap {
                return (
                    session,
                    .failure(
                        Refusal(
                            id: id, code: .tooManyChannels,
                            message: "subscription refused: \(parsed.map(\.description).joined(separator: ", ")) match more than \(cap) channels "
                                + "(at most \(cap) per subscribe); subscribe to narrower patterns",
                            limit: .channelsPerSubscribe))
                )
            }
        }
        patterns += new
        return (session, .success(Subscription(channels: concrete, added: new.count)))
    }

    enum Follow: Equatable {
        /// A channel the client did not follow: ack the bus's position and send its first frames.
        case fresh
        /// Already followed (through another pattern, or an earlier subscribe) and no `since`:
        /// ack it as recovered, nothing to resend.
        case alreadyFollowed
        /// Already followed, but the client gave `since`: answered like any resume (history after
        /// its seq, or recovered:false and a fresh snapshot when the epoch is not the channel's).
        case resend
    }

    /// The bus attached a subscribed channel at `seq` (its id nil when it has no events yet).
    mutating func attached(channelID: Int?, seq: UInt64, resuming: Bool) -> Follow {
        guard let channelID else { return .fresh }
        if let last = cursors[channelID], last >= seq { return resuming ? .resend : .alreadyFollowed }
        cursors[channelID] = seq
        return .fresh
    }

    /// An unsubscribe of valid names: the patterns removed, in the request's order (names not
    /// held are left out of the ack).
    mutating func unsubscribe(_ parsed: [ChannelName]) -> [ChannelName] {
        var removed: [ChannelName] = []
        for p in parsed {
            if let i = patterns.firstIndex(of: p) {
                patterns.remove(at: i)
                removed.append(p)
            }
        }
        return removed
    }

    /// Whether a bus channel goes to this client.
    func wants(_ channel: ChannelName) -> Bool {
        !closing && patterns.contains { $0.matches(channel) }
    }
}
