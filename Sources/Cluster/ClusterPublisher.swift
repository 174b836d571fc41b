public import Bus
import Metrics
public import NATS
import Synchronization

/// The `ingest` (and `services`) role's side of the cluster: a bus sink that publishes every frame
/// of the chosen channel kinds on NATS, numbered and encoded as this node's bus made it
/// (``ClusterEnvelope``). Frames reach NATS in bus order: `receive` runs under the bus lock and
/// `NATSClient.publish` only appends to the client's outgoing buffer.
public final class ClusterPublisher: BusSink {
    public struct Stats: Sendable, Equatable {
        public var published = 0
        /// Publishes the client refused (its buffer full while NATS was away): edges see a gap.
        public var failed = 0
        /// Frames not published because this node was standing by (``ClusterLeadership``).
        public var standby = 0
        public init(published: Int = 0, failed: Int = 0, standby: Int = 0) {
            self.published = published
            self.failed = failed
            self.standby = standby
        }
    }

    public let kinds: Set<ChannelKind>
    let client: NATSClient
    private let subjects = Mutex<[Int: String]>([:])
    private let published = Atomic<Int>(0)
    private let failed = Atomic<Int>(0)
    private let standingBy = Atomic<Int>(0)
    /// Nil: always publishes. Otherwise publishes only while it holds true (the ingest lease).
    let gate: ClusterLeadership?
    private let publishedMetric = Counter(label: "cluster_frames_published_total")
    private let failedMetric = Counter(label: "cluster_publish_failures_total")

    /// - Parameter leadership: with two ingest nodes for the same venues, only the lease holder publishes.
    public init(client: NATSClient, kinds: Set<ChannelKind> = ClusterEnvelope.ingestKinds, leadership: ClusterLeadership? = nil) {
        self.client = client
        self.kinds = kinds
        self.gate = leadership
    }

    public func receive(_ frame: BusFrame) {
        guard kinds.contains(frame.channel.kind) else { return }
        if let gate, !gate.isLeading {
            standingBy.add(1, ordering: .relaxed)
            return
        }
        let subject = subjects.withLock { cache in
            if let s = cache[frame.channelID] { return s }
            let s = ClusterEnvelope.subject(for: frame.channel)
            cache[frame.channelID] = s
            return s
        }
        do {
            try client.publish(subject: subject, payload: frame.json, headers: ClusterEnvelope.headers(for: frame))
            published.add(1, ordering: .relaxed)
            publishedMetric.increment()
        } catch {
            failed.add(1, ordering: .relaxed)
            failedMetric.increment()
        }
    }

    public var stats: Stats {
        Stats(
            published: published.load(ordering: .relaxed), failed: failed.load(ordering: .relaxed),
            standby: standingBy.load(ordering: .relaxed))
    }
}
