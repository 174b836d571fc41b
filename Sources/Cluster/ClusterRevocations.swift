public import Foundation
public import Logging
import Metrics
public import NATS
import NIOCore
import Synchronization

/// Token revocations shared by every node (docs/nats.md "Token revocations"): a JetStream KV
/// bucket ``bucket``, key = user id, value = the revoked-before instant as decimal Unix
/// nanoseconds, one value per key, no TTL. The node that revokes ``publish(user:before:)``es; every
/// node ``run(apply:)``s: it reads the bucket's current revocations (``loaded`` once done), then
/// follows new ones, and hands each to `apply` (the token authority, then the hub's sign-out).
///
/// A later instant always wins: the put is a compare-and-set that never lowers a key's value, and
/// the receivers keep the later one too. Needs JetStream: without it ``init(jetStream:logger:)``
/// throws and the node logs that revocations stay local.
public final class ClusterRevocations: Sendable {
    public static let bucket = "MG_REVOCATIONS"

    public struct Stats: Sendable, Equatable {
        /// Revocations written to the bucket, and puts that failed (each failed attempt).
        public var published = 0
        public var publishFailures = 0
        /// Revocations given up on after every attempt failed (they hold on this node only).
        public var abandoned = 0
        /// Entries read from the bucket, and entries that were not a user id and an instant.
        public var received = 0
        public var malformed = 0
    }

    let kv: KeyValue
    let jetStream: JetStream
    let logger: Logger
    /// Attempts per put and the pause before the first retry (doubling, at most 5 s).
    let attempts: Int
    let retryDelay: Duration
    private let counts = Mutex(Stats())
    private let loadedFlag = Atomic<Bool>(false)
    private let failureMetric = Counter(label: "cluster_revocation_publish_failures_total")

    /// Creates the bucket (or finds it with the same settings).
    /// - Throws: when JetStream is not available (nats-server without `-js`).
    public init(jetStream: JetStream, attempts: Int = 8, retryDelay: Duration = .milliseconds(250), logger: Logger) async throws {
        var config = KeyValueConfig(bucket: Self.bucket)
        config.history = 1
        kv = try await jetStream.createKeyValue(config)
        self.jetStream = jetStream
        self.attempts = max(1, attempts)
        self.retryDelay = retryDelay
        self.logger = logger
    }

    public var stats: Stats { counts.withLock { $0 } }

    /// Whether the bucket's revocations at start-up have all been applied.
    public var loaded: Bool { loadedFlag.load(ordering: .acquiring) }

    static func nanos(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1e9).rounded(.down)) }

    /// Puts `user`'s revocation into the bucket in the background: retried ``attempts`` times
    /// (each failure logged and counted); the local revocation holds whatever happens here.
    public func publish(user: String, before: Date) {
        Task { await put(user: user, before: before) }
    }

    /// The put itself; returns whether the bucket holds `before` or a later instant for `user`.
    @discardableResult
    public func put(user: String, before: Date) async -> Bool {
        let ns = Self.nanos(before)
        var delay = retryDelay
        for attempt in 1...attempts {
            do {
                try await putIfLater(user, ns)
                counts.withLock { $0.published += 1 }
                return true
            } catch let e as KeyValueError where e.code == .invalidKey {
                logger.error("cluster: a user id that cannot be a KV key; revocation stays local", metadata: ["user": "\(user)"])
                return false
            } catch {
                counts.withLock { $0.publishFailures += 1 }
                failureMetric.increment()
                logger.error(
                    "cluster: token revocation not put into NATS", metadata: ["user": "\(user)", "attempt": "\(attempt)/\(attempts)", "error": "\(error)"])
                if attempt < attempts {
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(5))
                }
            }
        }
        counts.withLock { $0.abandoned += 1 }
        logger.error("cluster: token revocation reaches no other node (NATS unreachable); it holds on this node", metadata: ["user": "\(user)"])
        return false
    }

    /// Compare-and-set: never lowers the stored instant (a late retry of an older revocation).
    private func putIfLater(_ user: String, _ ns: Int64) async throws {
        let value = ByteBuffer(string: String(ns))
        while true {
            let current = try await kv.entry(user)
            if let current, current.operation == .put, let stored = Int64(String(buffer: current.value)), stored >= ns { return }
            do {
                if let current {
                    _ = try await kv.update(user, value: value, expectedRevision: current.revision)
                } else {
                    _ = try await kv.create(user, value: value)
                }
                return
            } catch let e as KeyValueError where e.code == .wrongRevision || e.code == .keyExists {
                continue  // someone wrote meanwhile: compare again
            }
        }
    }

    /// Reads every revocation the bucket holds, then follows new ones, until cancelled; `apply` gets
    /// each user id and instant in bucket order (from this one task).
    public func run(apply: @escaping @Sendable (String, Date) async -> Void) async throws {
        let consumer = try await jetStream.orderedConsumer(
            stream: "KV_\(Self.bucket)", filterSubject: "$KV.\(Self.bucket).>", deliverFrom: .all, logger: logger)
        defer { consumer.close() }
        let held = consumer.initialPending
        if held == 0 { markLoaded(0) }
        var delivered: UInt64 = 0
        let prefix = "$KV.\(Self.bucket)."
        for try await m in consumer {
            delivered += 1
            defer { if !loaded, delivered >= held || m.pending == 0 { markLoaded(delivered) } }
            // A delete or purge marker: revocations are never taken back.
            if let op = m.headers?["KV-Operation"], op != KeyValueEntry.Operation.put.rawValue { continue }
            guard m.subject.hasPrefix(prefix), let ns = Int64(String(buffer: m.payload)) else {
                counts.withLock { $0.malformed += 1 }
                logger.error("cluster: dropped a revocation entry that is not an instant", metadata: ["subject": "\(m.subject)"])
                continue
            }
            counts.withLock { $0.received += 1 }
            await apply(String(m.subject.dropFirst(prefix.count)), Date(timeIntervalSince1970: Double(ns) / 1e9))
        }
    }

    private func markLoaded(_ n: UInt64) {
        if !loadedFlag.exchange(true, ordering: .acquiringAndReleasing) {
            logger.info("cluster: token revocations read", metadata: ["entries": "\(n)"])
        }
    }

    /// Returns once ``loaded``, after `limit` at most (then logs a warning: serving with what is
    /// known), or when the task is cancelled.
    public func waitUntilLoaded(limit: Duration = .seconds(10)) async {
        let deadline = ContinuousClock.now + limit
        while !loaded, ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if !loaded {
            logger.warning("cluster: serving before the token revocations were read", metadata: ["limit": "\(limit)"])
        }
    }
}
