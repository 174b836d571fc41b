import NIOCore

/// A stream's configuration (the fields this client sets; the server fills in the rest).
public struct StreamConfig: Sendable, Equatable, Codable {
    public enum Storage: String, Sendable, Codable { case file, memory }
    public enum Retention: String, Sendable, Codable { case limits, interest, workqueue }
    /// What happens when a limit is reached: drop the oldest messages, or refuse new ones.
    public enum Discard: String, Sendable, Codable { case old, new }

    public var name: String
    /// Subjects (wildcards allowed) whose messages the stream stores.
    public var subjects: [String]
    public var retention: Retention = .limits
    /// -1: no limit.
    public var maxMessages: Int64 = -1
    /// -1: no limit.
    public var maxBytes: Int64 = -1
    /// Messages older than this are removed; `.zero`: no limit.
    public var maxAge: Duration = .zero
    /// -1: no limit (a KV bucket's history).
    public var maxMessagesPerSubject: Int64 = -1
    /// -1: the server's max payload.
    public var maxMessageSize: Int32 = -1
    public var storage: Storage = .file
    /// 1, 3 or 5 copies in a cluster.
    public var replicas = 1
    public var discard: Discard = .old
    /// Publishes with the same `Nats-Msg-Id` inside this window are stored once; nil: the server's default (2 minutes, at most `maxAge`).
    public var duplicateWindow: Duration?
    /// Allow `Nats-Rollup` headers.
    public var allowRollup = false
    public var denyDelete = false
    public var denyPurge = false
    /// Allow `$JS.API.DIRECT.GET` (answered by any replica).
    public var allowDirect = false

    enum CodingKeys: String, CodingKey {
        case name, subjects, retention, maxMessages = "max_msgs", maxBytes = "max_bytes", maxAge = "max_age"
        case maxMessagesPerSubject = "max_msgs_per_subject", maxMessageSize = "max_msg_size", storage
        case replicas = "num_replicas", discard, duplicateWindow = "duplicate_window", allowRollup = "allow_rollup_hdrs"
        case denyDelete = "deny_delete", denyPurge = "deny_purge", allowDirect = "allow_direct", maxConsumers = "max_consumers"
    }

    /// A stream `name` over `subjects` with the other fields at their defaults.
    public init(name: String, subjects: [String]) {
        self.name = name
        self.subjects = subjects
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        subjects = try c.decodeIfPresent([String].self, forKey: .subjects) ?? []
        retention = try c.decodeIfPresent(Retention.self, forKey: .retention) ?? .limits
        maxMessages = try c.decodeIfPresent(Int64.self, forKey: .maxMessages) ?? -1
        maxBytes = try c.decodeIfPresent(Int64.self, forKey: .maxBytes) ?? -1
        maxAge = try c.decodeNanoseconds(forKey: .maxAge) ?? .zero
        maxMessagesPerSubject = try c.decodeIfPresent(Int64.self, forKey: .maxMessagesPerSubject) ?? -1
        maxMessageSize = try c.decodeIfPresent(Int32.self, forKey: .maxMessageSize) ?? -1
        storage = try c.decodeIfPresent(Storage.self, forKey: .storage) ?? .file
        replicas = try c.decodeIfPresent(Int.self, forKey: .replicas) ?? 1
        discard = try c.decodeIfPresent(Discard.self, forKey: .discard) ?? .old
        duplicateWindow = try c.decodeNanoseconds(forKey: .duplicateWindow)
        allowRollup = try c.decodeIfPresent(Bool.self, forKey: .allowRollup) ?? false
        denyDelete = try c.decodeIfPresent(Bool.self, forKey: .denyDelete) ?? false
        denyPurge = try c.decodeIfPresent(Bool.self, forKey: .denyPurge) ?? false
        allowDirect = try c.decodeIfPresent(Bool.self, forKey: .allowDirect) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(subjects, forKey: .subjects)
        try c.encode(retention, forKey: .retention)
        try c.encode(maxMessages, forKey: .maxMessages)
        try c.encode(maxBytes, forKey: .maxBytes)
        try c.encode(maxAge.nanoseconds, forKey: .maxAge)
        try c.encode(maxMessagesPerSubject, forKey: .maxMessagesPerSubject)
        try c.encode(maxMessageSize, forKey: .maxMessageSize)
        try c.encode(-1, forKey: .maxConsumers)
        try c.encode(storage, forKey: .storage)
        try c.encode(replicas, forKey: .replicas)
        try c.encode(discard, forKey: .discard)
        if let duplicateWindow { try c.encode(duplicateWindow.nanoseconds, forKey: .duplicateWindow) }
        try c.encode(allowRollup, forKey: .allowRollup)
        try c.encode(denyDelete, forKey: .denyDelete)
        try c.encode(denyPurge, forKey: .denyPurge)
        try c.encode(allowDirect, forKey: .allowDirect)
    }
}

/// A stream's configuration and state as the server reports them.
public struct StreamInfo: Sendable, Decodable {
    public struct State: Sendable, Equatable, Decodable {
        public var messages: UInt64
        public var bytes: UInt64
        public var firstSequence: UInt64
        public var lastSequence: UInt64
        public var consumerCount: Int

        enum CodingKeys: String, CodingKey {
            case messages, bytes, firstSequence = "first_seq", lastSequence = "last_seq", consumerCount = "consumer_count"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            messages = try c.decodeIfPresent(UInt64.self, forKey: .messages) ?? 0
            bytes = try c.decodeIfPresent(UInt64.self, forKey: .bytes) ?? 0
            firstSequence = try c.decodeIfPresent(UInt64.self, forKey: .firstSequence) ?? 0
            lastSequence = try c.decodeIfPresent(UInt64.self, forKey: .lastSequence) ?? 0
            consumerCount = try c.decodeIfPresent(Int.self, forKey: .consumerCount) ?? 0
        }
    }

    /// Where the stream's replicas are (clustered JetStream only).
    public struct Cluster: Sendable, Equatable, Decodable {
        public struct Replica: Sendable, Equatable, Decodable {
            public var name: String
            public var current: Bool
            public var offline: Bool?
        }
        public var name: String?
        /// The server that leads the stream's Raft group.
        public var leader: String?
        /// The other replicas.
        public var replicas: [Replica]?
    }

    public var config: StreamConfig
    public var state: State
    public var cluster: Cluster?
}

extension JetStream {
    /// Creates a stream.
    /// - Throws: `JetStreamError` (`streamNameInUse` when it exists with another configuration).
    public func createStream(_ config: StreamConfig) async throws -> StreamInfo {
        try await call("STREAM.CREATE.\(config.name)", body: config)
    }

    /// Replaces a stream's configuration (subjects, limits; not storage).
    public func updateStream(_ config: StreamConfig) async throws -> StreamInfo {
        try await call("STREAM.UPDATE.\(config.name)", body: config)
    }

    /// Creates the stream, or updates it when it exists with another configuration.
    public func createOrUpdateStream(_ config: StreamConfig) async throws -> StreamInfo {
        do {
            return try await createStream(config)
        } catch let error as JetStreamError where error.errorCode == JetStreamError.streamNameInUse {
            return try await updateStream(config)
        }
    }

    /// A stream's configuration and state.
    public func streamInfo(_ name: String) async throws -> StreamInfo {
        try await call("STREAM.INFO.\(name)")
    }

    /// Deletes a stream and its messages.
    public func deleteStream(_ name: String) async throws {
        struct Deleted: Decodable { var success: Bool }
        _ = try await call("STREAM.DELETE.\(name)", as: Deleted.self)
    }
}
