public import Bus
public import Logging
public import MarketCore
public import NIOCore
import Synchronization

/// The fan-out server's shared state: one ``FanOutShard`` per event loop (each a single bus sink
/// for all of its clients), connection accounting and counters.
///
/// The bus hands every frame to each shard once; a shard routes it to its clients on its own event
/// loop, so the publisher never waits for a client and a client never waits for another.
public final class FanOutHub: Sendable {
    /// Verifies a token: the user id it was issued to, or a refusal whose message the client sees.
    /// Identity only (no expiry); ``SessionCheck`` is the full form.
    public typealias TokenCheck = @Sendable (String) async -> Result<String, TokenRefusal>
    /// Verifies a token: who it was issued to and until when, or a refusal whose message the
    /// client sees. The composition root fills it from the token authority and the user list.
    public typealias SessionCheck = @Sendable (String) async -> Result<TokenGrant, TokenRefusal>

    public let bus: MarketBus
    public let options: FanOutOptions
    /// Accepted venue segments in channel names (plus `*`).
    public let venues: Set<String>
    /// Accepted candle intervals in channel names (plus `*`).
    public let intervals: Set<String>
    /// Token → session, or why the token is refused. Nil: `auth` is refused (no issuer configured).
    let sessionCheck: SessionCheck?
    /// Which users have a socket here (nil: nobody asks).
    let presence: (any UserPresence)?
    /// The server certificate, when the listener speaks TLS.
    public let tls: ServerTLS?
    let logger: Logger
    /// The one source of time for the fan-out's decisions (rate limits, pings, token expiry).
    public let clock: FanOutClock
    private let shards = Mutex<[ObjectIdentifier: FanOutShard]>([:])
    let counters = FanOutCounters()
    private let accepting = Atomic<Bool>(true)
    /// Venue → symbols the gateway carries; nil = any symbol (no instrument list given).
    private let instruments: Mutex<[String: Set<String>]?>
    private let addresses = Mutex<[String: Int]>([:])
    private let handshakes: Mutex<TokenBucket>

    /// - Parameters:
    ///   - instruments: venue id → canonical symbols the gateway carries. Subscribes to market
    ///     channels of any other symbol are refused (`bad_channel`). Nil accepts any symbol.
    ///   - authenticate: identity-only token check (sessions never expire); `sessions` wins.
    ///   - sessions: token check with expiry: an authenticated socket is told before `exp` and
    ///     loses its private channels at `exp`.
    ///   - clock: where time is read (the system's clocks unless a test passes its own).
    ///   - presence: told which users have a socket here (a cluster edge's per-user subscriptions).
    public init(
        bus: MarketBus, options: FanOutOptions = FanOutOptions(), venues: Set<String>, intervals: Set<String>,
        instruments: [String: Set<String>]? = nil, authenticate: TokenCheck? = nil, sessions: SessionCheck? = nil,
        tls: ServerTLS? = nil, clock: FanOutClock = .system, presence: (any UserPresence)? = nil, logger: Logger
    ) {
        self.presence = presence
        self.bus = bus
        self.options = options
        self.venues = venues
        self.intervals = intervals
        self.instruments = Mutex(instruments)
        if let sessions {
            self.sessionCheck = sessions
        } else if let authenticate {
            self.sessionCheck = { token in await authenticate(token).map { TokenGrant(user: $0, expires: nil) } }
        } else {
            self.sessionCheck = nil
        }
        self.tls = tls
        self.clock = clock
        self.logger = logger
        self.handshakes = Mutex(TokenBucket(rate: options.handshakesPerSecond, burst: max(1, options.handshakesPerSecond)))
    }

    // MARK: instruments

    /// Replaces the instruments the gateway carries (the update hook for a configuration change).
    /// Existing subscriptions stay; later subscribes are checked against the new set.
    public func setInstruments(_ instruments: [String: Set<String>]?) {
        self.instruments.withLock { $0 = instruments }
    }

    /// Why a market channel (or pattern) names an instrument the gateway does not carry, or nil.
    func unknownInstrument(_ p: ChannelName) -> String? {
        guard let symbol = p.symbol, symbol != ChannelName.wildcard else { return nil }
        return instruments.withLock { known -> String? in
            guard let known else { return nil }
            switch p.kind {
            case .trades, .book, .ticker, .candles:
                if p.scope == ChannelName.wildcard {
                    return known.values.contains { $0.contains(symbol) } ? nil : "unknown symbol '\(symbol)' in \(p): no venue carries it"
                }
                guard let symbols = known[p.scope], symbols.contains(symbol) else {
                    let list = (known[p.scope] ?? []).sorted()
                    let shown = list.prefix(20).joined(separator: ", ") + (list.count > 20 ? ", … (\(list.count) in all)" : "")
                    return "unknown symbol '\(symbol)' in \(p) (\(p.scope) carries: \(list.isEmpty ? "none" : shown))"
                }
                return nil
            case .signals:
                return known.values.contains { $0.contains(symbol) } ? nil : "unknown symbol '\(symbol)' in \(p): no venue carries it"
            case .status, .executions, .mood:
                return nil
            }
        }
    }

    // MARK: connection limits

    /// Counts a new TCP connection from `address`; false when the address is at its limit.
    func connectionOpened(from address: String) -> Bool {
        let ok = addresses.withLock { a -> Bool in
            let n = a[address, default: 0]
            guard n < options.maxConnectionsPerAddress else { return false }
            a[address] = n + 1
            return true
        }
        if !ok { counters.refuse(.connectionsPerAddress) }
        return ok
    }

    func connectionClosed(from address: String) {
        addresses.withLock { a in
            let n = a[address, default: 0]
            if n <= 1 { a[address] = nil } else { a[address] = n - 1 }
        }
    }

    /// Takes one websocket handshake from the per-second budget; false when it is spent.
    func takeHandshake() -> Bool {
        let ok = handshakes.withLock { $0.take(now: clock.monotonic()) }
        if !ok { counters.refuse(.handshakesPerSecond) }
        return ok
    }

    // MARK: sessions

    /// Ends the sessions of `user` on every connected socket: each loses its identity and private
    /// channels and is told (`session` `signed_out`, reason `revoked`). Returns how many sockets.
    @discardableResult
    public func revokeSessions(of user: String) async -> Int {
        let all = shards.withLock { Array($0.values) }
        var n = 0
        for s in all {
            n += (try? await s.loop.submit { s.revokeSessions(of: user) }.get()) ?? 0
        }
        return n
    }

    /// The shard of an event loop, created (and attached to the bus) on first use.
    func shard(for loop: any EventLoop) -> FanOutShard {
        let (shard, created) = shards.withLock { s -> (FanOutShard, Bool) in
            if let existing = s[ObjectIdentifier(loop)] { return (existing, false) }
            let new = FanOutShard(hub: self, loop: loop)
            s[ObjectIdentifier(loop)] = new
            return (new, true)
        }
        if created {
            bus.addSink(shard)
            shard.startHeartbeat()
        }
        return shard
    }

    /// Whether a new connection may be upgraded now.
    func admits() -> Bool {
        accepting.load(ordering: .relaxed) && counters.connections.load(ordering: .relaxed) < options.maxConnections
    }

    /// Stops accepting connections and closes every client with 1001 (going away).
    public func shutdown() async {
        accepting.store(false, ordering: .relaxed)
        let all = shards.withLock { Array($0.values) }
        for s in all {
            bus.removeSink(s)
            try? await s.loop.submit { s.closeAll() }.get()
        }
    }

    /// Sends one text message to every connected client, after everything already queued for it
    /// (the load test's `{"type":"end"}`).
    public func broadcast(_ text: String) async {
        let frame = WebSocketWire.frame(payload: Array(text.utf8))
        let all = shards.withLock { Array($0.values) }
        for s in all {
            try? await s.loop.submit { s.broadcast(frame) }.get()
        }
    }

    /// Clients (on all shards) whose patterns match `channel`.
    public func subscriberCount(_ channel: ChannelName) async -> Int {
        let all = shards.withLock { Array($0.values) }
        var n = 0
        for s in all {
            n += (try? await s.loop.submit { s.subscriberCount(channel) }.get()) ?? 0
        }
        return n
    }

    public struct Stats: Sendable {
        public var connections = 0
        public var connectionsTotal = 0
        public var rejectedConnections = 0
        public var subscriptions = 0
        public var framesSent = 0
        public var framesConflated = 0
        public var queuedFrames = 0
        public var slowDisconnects = 0
        /// Bytes of the data frames counted in `framesSent`.
        public var bytesSent = 0
        /// Queued frames discarded when their client closed or went away.
        public var framesDropped = 0
        /// Connections ended, by websocket close code (1006: gone without a close handshake).
        public var closes: [UInt16: Int] = [:]
        public var clientErrors: [String: Int] = [:]
        /// Refusals per limit (``LimitName`` raw values): docs/protocol.md "Limits".
        public var limitRefusals: [String: Int] = [:]
        public init() {}
    }

    public var stats: Stats {
        var s = Stats()
        s.connections = counters.connections.load(ordering: .relaxed)
        s.connectionsTotal = counters.connectionsTotal.load(ordering: .relaxed)
        s.rejectedConnections = counters.rejected.load(ordering: .relaxed)
        s.subscriptions = counters.subscriptions.load(ordering: .relaxed)
        s.framesSent = counters.framesSent.load(ordering: .relaxed)
        s.framesConflated = counters.conflated.load(ordering: .relaxed)
        s.queuedFrames = counters.queued.load(ordering: .relaxed)
        s.slowDisconnects = counters.slowDisconnects.load(ordering: .relaxed)
        s.bytesSent = counters.bytesSent.load(ordering: .relaxed)
        s.framesDropped = counters.dropped.load(ordering: .relaxed)
        s.closes = counters.closes.withLock { $0 }
        s.clientErrors = counters.errors.withLock { $0 }
        s.limitRefusals = counters.refusals.withLock { $0 }
        return s
    }
}

/// Counters shared by all shards (updated once per batch, not per frame, on the hot path).
final class FanOutCounters: Sendable {
    let connections = Atomic<Int>(0)
    let connectionsTotal = Atomic<Int>(0)
    let rejected = Atomic<Int>(0)
    let subscriptions = Atomic<Int>(0)
    let framesSent = Atomic<Int>(0)
    let conflated = Atomic<Int>(0)
    let queued = Atomic<Int>(0)
    let slowDisconnects = Atomic<Int>(0)
    let bytesSent = Atomic<Int>(0)
    let dropped = Atomic<Int>(0)
    let closes = Mutex<[UInt16: Int]>([:])
    let errors = Mutex<[String: Int]>([:])
    let refusals = Mutex<[String: Int]>([:])

    func closed(_ code: UInt16) {
        closes.withLock { $0[code, default: 0] += 1 }
    }

    func error(_ code: ErrorCode) {
        errors.withLock { $0[code.rawValue, default: 0] += 1 }
    }

    func refuse(_ limit: LimitName) {
        refusals.withLock { $0[limit.rawValue, default: 0] += 1 }
    }
}

/// The limits of docs/protocol.md "Limits", as counted in ``FanOutHub/Stats/limitRefusals`` (and
/// the `gateway_limit_refusals_total{limit=…}` metric).
public enum LimitName: String, Sendable, CaseIterable {
    case connections = "connections"
    case connectionsPerAddress = "connections_per_ip"
    case handshakesPerSecond = "handshakes_per_second"
    case handshakeTimeout = "handshake_timeout"
    case headerBytes = "header_bytes"
    case bodyBytes = "body_bytes"
    case messagesPerSecond = "messages_per_second"
    case subscriptions = "subscriptions"
    case channelsPerSubscribe = "channels_per_subscribe"
    case messageBytes = "message_bytes"
    case frameBytes = "frame_bytes"
    case authAttempts = "auth_attempts"
    case outstandingBytes = "outstanding_bytes"
    case queuedFrames = "queued_frames"
    case restRequestsPerToken = "rest_requests_per_token"
}

/// Who a token was issued to and until when (nil: no expiry).
public struct TokenGrant: Sendable, Hashable {
    public var user: String
    public var expires: UnixNanos?
    public init(user: String, expires: UnixNanos?) {
        self.user = user
        self.expires = expires
    }
}

/// A token bucket: `rate` per second, at most `burst` saved up.
public struct TokenBucket: Sendable {
    public let rate: Double
    public let burst: Double
    private var tokens: Double
    private var last: NIODeadline?

    public init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
    }

    /// Whether the bucket has refilled to its burst by `now` (its owner has been idle).
    public func isFull(now: NIODeadline) -> Bool {
        guard let last else { return true }
        return tokens + Double((now - last).nanoseconds) / 1e9 * rate >= burst
    }

    /// Takes one token if there is one.
    public mutating func take(now: NIODeadline) -> Bool {
        if let last { tokens = min(burst, tokens + Double((now - last).nanoseconds) / 1e9 * rate) }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// Why a token was refused (`unauthorized` with this message).
public struct TokenRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
