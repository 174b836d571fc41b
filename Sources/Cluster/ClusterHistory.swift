public import NATS

/// The JetStream stream that keeps recent frames for edges that start later (docs/nats.md
/// "Resume history for a new edge"): subjects `md.>`, bounded by age and size, oldest dropped first.
/// The ingest node's core publishes land in it; no publish is acked, so the event path does not wait.
public enum ClusterHistory {
    public static let streamName = "MG_MARKET"

    public struct Limits: Sendable, Equatable {
        public var maxAge: Duration
        public var maxBytes: Int64
        public var replicas: Int
        public init(maxAge: Duration, maxBytes: Int64, replicas: Int = 1) {
            self.maxAge = maxAge
            self.maxBytes = maxBytes
            self.replicas = replicas
        }
    }

    public static func config(_ limits: Limits) -> StreamConfig {
        var c = StreamConfig(name: streamName, subjects: [ClusterEnvelope.marketWildcard])
        c.maxAge = limits.maxAge
        c.maxBytes = limits.maxBytes
        c.replicas = limits.replicas
        c.discard = .old
        return c
    }

    /// Creates the stream, or updates its limits to `limits` (every node may call it; the same
    /// configuration is a no-op).
    @discardableResult
    public static func ensure(_ jetStream: JetStream, _ limits: Limits) async throws -> StreamInfo {
        try await jetStream.createOrUpdateStream(config(limits))
    }
}
