public import Logging
public import NATS
import Synchronization

/// Which of two ingest nodes for the same venues publishes (issue 21 "Ingest failover"): a
/// JetStream KV lease with a TTL. Both run their feeds (live connections); only the holder's
/// ``ClusterPublisher`` publishes. A takeover is a new epoch on every channel, because the new
/// leader's bus numbers with its own boot id, so clients see it as a resync (`recovered:false`,
/// fresh snapshots), exactly as when one process restarts.
public final class ClusterLeadership: Sendable {
    public static let bucket = "MG_INGEST_LEASE"

    public let ttl: Duration
    let key: String
    let holder: String
    let jetStream: JetStream
    let logger: Logger
    private let leading = Atomic<Bool>(false)
    /// Nanoseconds (ContinuousClock since `origin`) until which the last renewal lets us lead.
    private let validUntil = Atomic<Int64>(0)
    private let origin = ContinuousClock.now
    private let takeovers = Atomic<Int>(0)

    /// - Parameters:
    ///   - key: the venue set both contenders serve (one lease per set).
    ///   - holder: unique per process (node name and a random suffix).
    public init(jetStream: JetStream, key: String = "ingest", holder: String, ttl: Duration = .seconds(6), logger: Logger) {
        self.jetStream = jetStream
        self.key = key
        self.holder = holder
        self.ttl = ttl
        self.logger = logger
    }

    /// Whether this node publishes now. False from the moment `lastRenewal + ttl` passes, even
    /// when NATS cannot be reached to learn that the lease was lost.
    public var isLeading: Bool {
        leading.load(ordering: .relaxed) && now() < validUntil.load(ordering: .relaxed)
    }

    /// Times this node became the leader.
    public var leadershipsTaken: Int { takeovers.load(ordering: .relaxed) }

    private func now() -> Int64 {
        let (s, a) = (ContinuousClock.now - origin).components
        return s * 1_000_000_000 + a / 1_000_000_000
    }

    /// Contends and renews every third of the TTL until the task is cancelled; gives the lease up on the way out.
    public func run() async throws {
        var config = KeyValueConfig(bucket: Self.bucket, ttl: ttl)
        config.history = 1
        let kv = try await jetStream.createKeyValue(config)
        var lease = KeyValueLease(keyValue: kv, key: key, holder: holder)
        let (ttlSeconds, ttlAttos) = ttl.components
        let ttlNanos = ttlSeconds * 1_000_000_000 + ttlAttos / 1_000_000_000
        while !Task.isCancelled {
            let attempt = now()
            let held = (try? await lease.acquireOrRenew()) ?? false
            if held {
                // A renewal after `validUntil` passed (an answer slower than the TTL) is a new
                // leadership too: this node stood down meanwhile (its publisher dropped what it held).
                let lapsed = leading.load(ordering: .relaxed) && now() >= validUntil.load(ordering: .relaxed)
                if lapsed { takeovers.add(1, ordering: .relaxed) }
                validUntil.store(attempt + ttlNanos, ordering: .relaxed)
                if !leading.exchange(true, ordering: .relaxed) {
                    takeovers.add(1, ordering: .relaxed)
                    logger.notice("cluster: this ingest node leads (publishes)", metadata: ["holder": "\(holder)"])
                } else if lapsed {
                    logger.notice("cluster: this ingest node leads again after its lease lapsed", metadata: ["holder": "\(holder)"])
                }
            } else if leading.exchange(false, ordering: .relaxed) {
                logger.warning("cluster: this ingest node lost the lease and stands by", metadata: ["holder": "\(holder)"])
            }
            try? await Task.sleep(for: ttl / 3)
        }
        if leading.exchange(false, ordering: .relaxed) { try? await lease.release() }
    }
}
