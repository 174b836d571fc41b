public import NIOCore

/// A key-value bucket's settings.
public struct KeyValueConfig: Sendable, Equatable {
    /// Letters, digits, `-` and `_`.
    public var bucket: String
    /// Entries expire this long after they were last written; nil: never.
    public var ttl: Duration?
    /// Values kept per key (1: only the latest).
    public var history = 1
    public var replicas = 1
    public var storage: StreamConfig.Storage = .file
    /// -1: no limit.
    public var maxBytes: Int64 = -1

    public init(bucket: String, ttl: Duration? = nil) {
        self.bucket = bucket
        self.ttl = ttl
    }

    /// The stream behind the bucket, configured as the NATS key-value convention (ADR-8) has it.
    var streamConfig: StreamConfig {
        var config = StreamConfig(name: "KV_\(bucket)", subjects: ["$KV.\(bucket).>"])
        config.maxMessagesPerSubject = Int64(history)
        config.maxBytes = maxBytes
        config.maxAge = ttl ?? .zero
        config.storage = storage
        config.replicas = replicas
        config.allowRollup = true
        config.denyDelete = true
        config.allowDirect = true
        config.discard = .new
        // The server refuses a duplicate window longer than the age limit.
        let window: Duration = .seconds(120)
        config.duplicateWindow = ttl.map { Swift.min($0, window) } ?? window
        return config
    }
}

/// One key's latest value.
public struct KeyValueEntry: Sendable, Equatable {
    public enum Operation: String, Sendable { case put = "PUT", delete = "DEL", purge = "PURGE" }
    public var key: String
    public var value: ByteBuffer
    /// The stream sequence of this write: pass it to `update(_:value:expectedRevision:)`.
    public var revision: UInt64
    public var operation: Operation
}

/// A failed conditional write.
public struct KeyValueError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// `create` found the key already set.
        case keyExists
        /// `update`/`delete` found another revision than expected.
        case wrongRevision
        /// The key has characters the bucket's subjects cannot carry.
        case invalidKey
    }
    public var code: Code
    public var key: String
    public var message: String
    public var description: String { "key-value \(code) for \(key): \(message)" }
}

/// A JetStream key-value bucket: the last value per key, with compare-and-set by revision.
/// Enough for a leader lease: `create` succeeds for one contender only, `update` with the expected
/// revision renews it, and the bucket's TTL frees the key when the holder stops renewing.
public struct KeyValue: Sendable {
    public let bucket: String
    let jetStream: JetStream

    var streamName: String { "KV_\(bucket)" }
    func subject(_ key: String) -> String { "$KV.\(bucket).\(key)" }

    /// The latest value of `key`, or nil when it was never set, was deleted, or expired.
    public func get(_ key: String) async throws -> KeyValueEntry? {
        guard let entry = try await entry(key), entry.operation == .put else { return nil }
        return entry
    }

    /// The latest write of `key`, including a delete marker; nil when there is none.
    public func entry(_ key: String) async throws -> KeyValueEntry? {
        try Self.validate(key)
        // From the stream leader (not a direct get, which any replica may answer from behind).
        guard let message = try await jetStream.getLastMessage(stream: streamName, subject: subject(key)) else { return nil }
        let operation = message.headers?["KV-Operation"].flatMap(KeyValueEntry.Operation.init(rawValue:)) ?? .put
        return KeyValueEntry(key: key, value: message.payload, revision: message.sequence, operation: operation)
    }

    /// Sets `key` whatever its current value; returns the new revision.
    @discardableResult
    public func put(_ key: String, value: ByteBuffer) async throws -> UInt64 {
        try Self.validate(key)
        return try await jetStream.publish(subject: subject(key), payload: value).sequence
    }

    /// Sets `key` only if it has no value (never set, deleted or expired); returns the revision.
    /// - Throws: `KeyValueError` `.keyExists`.
    public func create(_ key: String, value: ByteBuffer) async throws -> UInt64 {
        try Self.validate(key)
        do {
            return try await jetStream.publish(subject: subject(key), payload: value, expectedLastSubjectSequence: 0).sequence
        } catch let error as JetStreamError where error.errorCode == JetStreamError.wrongLastSequence {
            // A delete marker still counts as the subject's last message: overwrite exactly that one.
            if let last = try await entry(key), last.operation != .put {
                return try await update(key, value: value, expectedRevision: last.revision)
            }
            throw KeyValueError(code: .keyExists, key: key, message: error.errorDescription)
        }
    }

    /// Sets `key` only if its latest revision is `expectedRevision` (compare-and-set).
    /// - Throws: `KeyValueError` `.wrongRevision`.
    public func update(_ key: String, value: ByteBuffer, expectedRevision: UInt64) async throws -> UInt64 {
        try Self.validate(key)
        do {
            return try await jetStream.publish(subject: subject(key), payload: value, expectedLastSubjectSequence: expectedRevision).sequence
        } catch let error as JetStreamError where error.errorCode == JetStreamError.wrongLastSequence {
            throw KeyValueError(code: .wrongRevision, key: key, message: error.errorDescription)
        }
    }

    /// Deletes `key` (writes a delete marker), only at `expectedRevision` when given.
    public func delete(_ key: String, expectedRevision: UInt64? = nil) async throws {
        try Self.validate(key)
        var headers = NATSHeaders()
        headers["KV-Operation"] = KeyValueEntry.Operation.delete.rawValue
        do {
            _ = try await jetStream.publish(subject: subject(key), payload: ByteBuffer(), headers: headers, expectedLastSubjectSequence: expectedRevision)
        } catch let error as JetStreamError where error.errorCode == JetStreamError.wrongLastSequence {
            throw KeyValueError(code: .wrongRevision, key: key, message: error.errorDescription)
        }
    }

    static func validate(_ key: String) throws {
        let ok = !key.isEmpty && !key.hasPrefix(".") && !key.hasSuffix(".")
            && key.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                    || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: "/") || b == UInt8(ascii: "=") || b == UInt8(ascii: ".")
            }
        guard ok else { throw KeyValueError(code: .invalidKey, key: key, message: "allowed: letters, digits, - _ / = and inner dots") }
    }
}

extension JetStream {
    /// Creates the bucket (or updates its settings) and returns it.
    public func createKeyValue(_ config: KeyValueConfig) async throws -> KeyValue {
        guard !config.bucket.isEmpty,
            config.bucket.utf8.allSatisfy({ b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
            })
        else { throw NATSError(.invalidSubject, "bucket name \(String(reflecting: config.bucket)): letters, digits, - and _ only") }
        _ = try await createOrUpdateStream(config.streamConfig)
        return KeyValue(bucket: config.bucket, jetStream: self)
    }

    /// An existing bucket.
    /// - Throws: `JetStreamError` `streamNotFound` when there is no such bucket.
    public func keyValue(_ bucket: String) async throws -> KeyValue {
        _ = try await streamInfo("KV_\(bucket)")
        return KeyValue(bucket: bucket, jetStream: self)
    }
}
