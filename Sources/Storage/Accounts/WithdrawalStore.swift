public import MarketCore
import Logging
import PostgresNIO
import SQLiteNIO

/// A withdrawal request (migration 0014). Written (upserted by id) in the same database
/// transaction as the ledger transaction that reserved, paid out or released its funds
/// (``LedgerWrite/withdrawals``).
public struct StoredWithdrawal: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable { case pending, approved, rejected }

    public var id: String
    public var userID: String
    public var asset: String
    public var amount: WideDecimal
    public var destination: String
    public var status: Status
    public var requested: UnixNanos
    public var decided: UnixNanos?

    public init(
        id: String, userID: String, asset: String, amount: WideDecimal, destination: String, status: Status, requested: UnixNanos,
        decided: UnixNanos? = nil
    ) {
        self.id = id
        self.userID = userID
        self.asset = asset
        self.amount = amount
        self.destination = destination
        self.status = status
        self.requested = requested
        self.decided = decided
    }
}

/// Reads the withdrawals back at start-up (they are written through ``AccountStore/commit(_:)``).
public protocol WithdrawalStore: Sendable {
    /// Oldest first.
    func withdrawals() async throws -> [StoredWithdrawal]
}

extension SQLiteStore: WithdrawalStore {
    static func upsertWithdrawal(_ w: StoredWithdrawal, _ c: SQLiteConnection) async throws {
        _ = try await c.query(
            """
            INSERT INTO withdrawals (id, user_id, asset, amount, destination, status, requested_ns, requested_at, decided_ns)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, decided_ns = excluded.decided_ns
            """,
            [
                .text(w.id), .text(w.userID), .text(w.asset), .text(w.amount.description), .text(w.destination), .text(w.status.rawValue),
                .integer(SQLiteInt64(w.requested.rawValue)), .text(w.requested.iso8601(fractionDigits: 9)),
                w.decided.map { .integer(SQLiteInt64($0.rawValue)) } ?? .null,
            ])
    }

    public func withdrawals() async throws -> [StoredWithdrawal] {
        let rows = try await withReader { c in
            try await c.query(
                "SELECT id, user_id, asset, amount, destination, status, requested_ns, decided_ns FROM withdrawals ORDER BY requested_ns, id")
        }
        return try decodeRows {
            var out: [StoredWithdrawal] = []
            for row in rows {
                let c = row.columns.map(\.data)
                guard c.count == 8, let id = c[0].string, let user = c[1].string, let asset = c[2].string, let amount = c[3].string,
                    let destination = c[4].string, let status = c[5].string.flatMap(StoredWithdrawal.Status.init(rawValue:)),
                    case .integer(let requested) = c[6]
                else { throw StoreQueryError("stored row cannot be read: withdrawals \(c)") }
                var decided: UnixNanos?
                if case .integer(let d) = c[7] { decided = UnixNanos(Int64(d)) }
                out.append(
                    StoredWithdrawal(
                        id: id, userID: user, asset: asset, amount: try AccountColumns.decimal(amount, "withdrawals", "amount"),
                        destination: destination, status: status, requested: UnixNanos(Int64(requested)), decided: decided))
            }
            return out
        }
    }
}

extension PostgresStore: WithdrawalStore {
    static func upsertWithdrawal(_ w: StoredWithdrawal, _ conn: PostgresConnection, logger: Logger) async throws {
        try await conn.query(
            """
            INSERT INTO withdrawals (id, user_id, asset, amount, destination, status, requested_ns, requested_at, decided_ns)
            VALUES (\(w.id), \(w.userID), \(w.asset), \(w.amount.description)::numeric, \(w.destination), \(w.status.rawValue),
                \(w.requested.rawValue), \(Self.timestamp(w.requested))::timestamptz, \(w.decided?.rawValue))
            ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, decided_ns = EXCLUDED.decided_ns
            """, logger: logger)
    }

    public func withdrawals() async throws -> [StoredWithdrawal] {
        let rows = try await client.query(
            "SELECT id, user_id, asset, amount::text, destination, status, requested_ns, decided_ns FROM withdrawals ORDER BY requested_ns, id",
            logger: logger)
        var out: [StoredWithdrawal] = []
        for try await (id, user, asset, amount, destination, status, requested, decided) in rows.decode(
            (String, String, String, String, String, String, Int64, Int64?).self)
        {
            guard let s = StoredWithdrawal.Status(rawValue: status) else {
                throw StoreQueryError("stored row cannot be read: withdrawals \(id) status \(status)")
            }
            out.append(
                StoredWithdrawal(
                    id: id, userID: user, asset: asset, amount: try AccountColumns.decimal(amount, "withdrawals", "amount"),
                    destination: destination, status: s, requested: UnixNanos(requested), decided: decided.map { UnixNanos($0) }))
        }
        return out
    }
}
