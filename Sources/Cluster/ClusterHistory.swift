public import NATS

/// The JetStream streams that keep recent frames for edges that start later, or that a user moves
/// to (docs/nats.md "Resume history for a new edge", "Private channels"): `MG_MARKET` with subjects
/// `md.>` and `MG_PRIVATE` with `user.>`, each bounded by the same age and size, oldest dropped
/// first. The publishers' core publishes land in them; no publish is acked, so the event path does
/// not wait.
public enum ClusterHistory {
    public static let streamName = "MG_MARKET"
    /// Private events (`user.<id>.executions`, `user.<id>.mood`); an edge reads one user's subjects
    /// from it while that user has a socket there.
    public static let privateStreamName = "MG_PRIVATE"

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
        config(limits, name: streamName, subject: ClusterEnvelope.marketWildcard)
    }

    public static func privateConfig(_ limits: Limits) -> StreamConfig {
        config(limits, name: privateStreamName, subject: ClusterEnvelope.userWildcard)
    }

    static func config(_ limits: Limits, name: String, subject: String) -> StreamConfig {
        var c = StreamConfig(name: name, subjects: [subject])
        c.maxAge = limits.maxAge
        c.maxBytes = limits.maxBytes
        c.replicas = limits.replicas
        c.discard = .old
        return c
    }

    /// Creates both streams, or updates their limits to `limits` (`MG_PRIVATE` to `privateLimits`
    /// when given; every node may call it; the same configuration is a no-op). Returns the market
    /// stream's info.
    @discardableResult
    public static func ensure(_ jetStream: JetStream, _ limits: Limits, privateLimits: Limits? = nil) async throws -> StreamInfo {
        let market = try await jetStream.createOrUpdateStream(config(limits))
        _ = try await jetStream.createOrUpdateStream(privateConfig(privateLimits ?? limits))
        return market
    }
}
