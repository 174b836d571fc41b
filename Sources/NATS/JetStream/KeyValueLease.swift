import NIOCore

/// A leader lease on one key of a bucket with a TTL: at most one holder at a time.
///
/// Call `acquireOrRenew()` regularly, well inside the TTL (a third of it, say). The first contender
/// to `create` the key holds it; each renewal is a compare-and-set on the revision it last wrote, so
/// a holder that lost the key (it expired, someone else created it) finds out on its next renewal.
/// When the holder stops renewing (it died), the bucket's TTL removes the key and the next contender
/// gets it.
///
/// - Important: a holder must stop acting as leader once `lastRenewal + ttl` has passed without a
///   successful renewal, even if it cannot reach NATS to learn that it lost: by then another
///   contender may hold the key. `holder` must be unique per process (for example node name plus a
///   random suffix): two processes with the same holder value would both believe they lead.
public struct KeyValueLease: Sendable {
    public let keyValue: KeyValue
    public let key: String
    /// This contender's identity, stored as the key's value.
    public let holder: String
    /// The revision of our last successful write; nil when we do not hold the lease.
    public private(set) var revision: UInt64?

    public init(keyValue: KeyValue, key: String, holder: String) {
        self.keyValue = keyValue
        self.key = key
        self.holder = holder
    }

    /// Whether our last attempt left us holding the lease.
    public var isHeld: Bool { revision != nil }

    /// Acquires the lease if it is free, renews it if we hold it; returns whether we hold it now.
    /// - Throws: when NATS could not be asked (timeout, disconnected): the outcome is unknown, so
    ///   treat it as not renewed.
    public mutating func acquireOrRenew() async throws -> Bool {
        let value = ByteBuffer(string: holder)
        do {
            if let revision {
                self.revision = try await keyValue.update(key, value: value, expectedRevision: revision)
            } else {
                self.revision = try await keyValue.create(key, value: value)
            }
            return true
        } catch let error as KeyValueError where error.code == .keyExists || error.code == .wrongRevision {
            // Our own earlier write may have succeeded without us hearing the answer: the value says.
            if let current = try await keyValue.get(key), current.value == value {
                self.revision = current.revision
                return true
            }
            self.revision = nil
            return false
        }
    }

    /// Gives the lease up at once (a delete at our revision), so a contender need not wait for the TTL.
    public mutating func release() async throws {
        guard let revision else { return }
        self.revision = nil
        try await keyValue.delete(key, expectedRevision: revision)
    }

    /// Who holds the lease now, if anyone.
    public func currentHolder() async throws -> String? {
        try await keyValue.get(key).map { String(buffer: $0.value) }
    }
}
