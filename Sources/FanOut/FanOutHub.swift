public import Bus
public import Logging
import NIOCore
import Synchronization

/// The fan-out server's shared state: one ``FanOutShard`` per event loop (each a single bus sink
/// for all of its clients), connection accounting and counters.
///
/// The bus hands every frame to each shard once; a shard routes it to its clients on its own event
/// loop, so the publisher never waits for a client and a client never waits for another.
public final class FanOutHub: Sendable {
    /// Verifies a token: the user id it was issued to, or a refusal whose message the client sees.
    public typealias TokenCheck = @Sendable (String) async -> Result<String, TokenRefusal>

    public let bus: MarketBus
    public let options: FanOutOptions
    /// Accepted venue segments in channel names (plus `*`).
    public let venues: Set<String>
    /// Accepted candle intervals in channel names (plus `*`).
    public let intervals: Set<String>
    /// Token → user id, or why the token is refused. Nil: `auth` is refused (no issuer configured).
    public let authenticate: TokenCheck?
    let logger: Logger
    private let shards = Mutex<[ObjectIdentifier: FanOutShard]>([:])
    let counters = FanOutCounters()
    private let accepting = Atomic<Bool>(true)

    public init(
        bus: MarketBus, options: FanOutOptions = FanOutOptions(), venues: Set<String>, intervals: Set<String>,
        authenticate: TokenCheck? = nil, logger: Logger
    ) {
        self.bus = bus
        self.options = options
        self.venues = venues
        self.intervals = intervals
        self.authenticate = authenticate
        self.logger = logger
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

    func closed(_ code: UInt16) {
        closes.withLock { $0[code, default: 0] += 1 }
    }

    func error(_ code: ErrorCode) {
        errors.withLock { $0[code.rawValue, default: 0] += 1 }
    }
}

/// Why a token was refused (`unauthorized` with this message).
public struct TokenRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
