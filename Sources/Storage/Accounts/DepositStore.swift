public import MarketCore
import PostgresNIO
import SQLiteNIO

/// A reference a user asked for (`POST /api/v1/deposits/intent`): a webhook naming it credits them.
public struct StoredDepositIntent: Sendable, Hashable {
    public var reference: String
    public var userID: String
    public var asset: String
    public var created: UnixNanos

    public init(reference: String, userID: String, asset: String, created: UnixNanos) {
        self.reference = reference
        self.userID = userID
        self.asset = asset
        self.created = created
    }
}

/// A webhook delivery that could not be credited to a user, kept for ops. `key` is the
/// transaction hash, or `body-<sha256 of the body>` when there is no usable hash.
public struct StoredSuspenseDeposit: Sendable, Hashable {
    public var key: String
    public var received: UnixNanos
    public var txHash: String?
    public var reference: String?
    public var asset: String?
    public var amount: WideDecimal?
    public var reason: String
    public var body: String

    public init(
        key: String, received: UnixNanos, txHash: String?, reference: String?, asset: String?, amount: WideDecimal?, reason: String,
        body: String
    ) {
        self.key = key
        self.received = received
        self.txHash = txHash
        self.reference = reference
        self.asset = asset
        self.amount = amount
        self.reason = reason
        self.body = body
    }
}

/// Deposit references and suspense deposits (migration 0012). A suspense row already stored under
/// its key is kept as it was (a webhook delivered again).
public protocol DepositStore: Sendable {
    func saveDepositIntent(_ intent: StoredDepositIntent) async throws
    func depositIntents() async throws -> [StoredDepositIntent]
    func saveSuspenseDeposit(_ deposit: StoredSuspenseDeposit) async throws
    /// Oldest first.
    func suspenseDeposits() async throws -> [StoredSuspenseDeposit]
}

extension SQLiteStore: DepositStore {
    public func saveDepositIntent(_ i: StoredDepositIntent) async throws {
        _ = try await withWriter { c in
            try await c.query(
                "INSERT INTO deposit_intents (reference, user_id, asset, created_at, created_ns) VALUES (?, ?, ?, ?, ?)",
                [
                    .text(i.reference), .text(i.userID), .text(i.asset), .text(i.created.iso8601(fractionDigits: 9)),
                    .integer(SQLiteInt64(i.created.rawValue)),
                ])
        }
    }

    public func depositIntents() async throws -> [StoredDepositIntent] {
        let rows = try await withReader { c in try await c.query("SELECT reference, user_id, asset, created_ns FROM deposit_intents") }
        return rows.compactMap { row in
            let c = row.columns.map(\.data)
            guard c.count == 4, let r = c[0].string, let u = c[1].string, let a = c[2].string, case .integer(let ns) = c[3] else { return nil }
            return StoredDepositIntent(reference: r, userID: u, asset: a, created: UnixNanos(Int64(ns)))
        }
    }

    public func saveSuspenseDeposit(_ d: StoredSuspenseDeposit) async throws {
        _ = try await withWriter { c in
            try await c.query(
                """
                INSERT INTO deposit_suspense (key, received_ns, received_at, tx_hash, reference, asset, amount, reason, body)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING
                """,
                [
                    .text(d.key), .integer(SQLiteInt64(d.received.rawValue)), .text(d.received.iso8601(fractionDigits: 9)),
                    d.txHash.map { .text($0) } ?? .null, d.reference.map { .text($0) } ?? .null, d.asset.map { .text($0) } ?? .null,
                    d.amount.map { .text($0.description) } ?? .null, .text(d.reason), .text(d.body),
                ])
        }
    }

    public func suspenseDeposits() async throws -> [StoredSuspenseDeposit] {
        let rows = try await withReader { c in
            try await c.query(
                "SELECT key, received_ns, tx_hash, reference, asset, amount, reason, body FROM deposit_suspense ORDER BY received_ns, key")
        }
        return try decodeRows {
            var out: [StoredSuspenseDeposit] = []
            for row in rows {
                let c = row.columns.map(\.data)
                guard c.count == 8, let key = c[0].string, case .integer(let ns) = c[1], let reason = c[6].string, let body = c[7].string else {
                    throw StoreQueryError("stored row cannot be read: deposit_suspense \(c)")
                }
                out.append(
                    StoredSuspenseDeposit(
                        key: key, received: UnixNanos(Int64(ns)), txHash: c[2].string, reference: c[3].string, asset: c[4].string,
                        amount: try c[5].string.map { try AccountColumns.decimal($0, "deposit_suspense", "amount") }, reason: reason, body: body))
            }
            return out
        }
    }
}

extension PostgresStore: DepositStore {
    public func saveDepositIntent(_ i: StoredDepositIntent) async throws {
        try await client.query(
            """
            INSERT INTO deposit_intents (reference, user_id, asset, created_at)
            VALUES (\(i.reference), \(i.userID), \(i.asset), \(Self.timestamp(i.created))::timestamptz)
            """, logger: logger)
    }

    public func depositIntents() async throws -> [StoredDepositIntent] {
        let rows = try await client.query(
            "SELECT reference, user_id, asset, (extract(epoch from created_at) * 1000000)::bigint FROM deposit_intents", logger: logger)
        var out: [StoredDepositIntent] = []
        for try await (r, u, a, us) in rows.decode((String, String, String, Int64).self) {
            out.append(StoredDepositIntent(reference: r, userID: u, asset: a, created: UnixNanos(us * 1000)))
        }
        return out
    }

    public func saveSuspenseDeposit(_ d: StoredSuspenseDeposit) async throws {
        try await client.query(
            """
            INSERT INTO deposit_suspense (key, received_ns, received_at, tx_hash, reference, asset, amount, reason, body)
            VALUES (\(d.key), \(d.received.rawValue), \(Self.timestamp(d.received))::timestamptz, \(d.txHash), \(d.reference), \(d.asset),
                \(d.amount?.description)::numeric, \(d.reason), \(d.body))
            ON CONFLICT (key) DO NOTHING
            """, logger: logger)
    }

    public func suspenseDeposits() async throws -> [StoredSuspenseDeposit] {
        let rows = try await client.query(
            "SELECT key, received_ns, tx_hash, reference, asset, amount::text, reason, body FROM deposit_suspense ORDER BY received_ns, key",
            logger: logger)
        var out: [StoredSuspenseDeposit] = []
        for try await (key, ns, tx, ref, asset, amount, reason, body) in rows.decode(
            (String, Int64, String?, String?, String?, String?, String, String).self)
        {
            out.append(
                StoredSuspenseDeposit(
                    key: key, received: UnixNanos(ns), txHash: tx, reference: ref, asset: asset,
                    amount: try amount.map { try AccountColumns.decimal($0, "deposit_suspense", "amount") }, reason: reason, body: body))
        }
        return out
    }
}
