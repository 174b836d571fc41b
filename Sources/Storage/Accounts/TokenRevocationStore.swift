public import MarketCore
import Logging
import PostgresNIO
import SQLiteNIO

/// Token revocations (migration 0021, `token_revocations`): per user, the instant before which
/// their tokens are refused. Stored so a restart does not bring a revoked token back.
public protocol TokenRevocationStore: Sendable {
    /// Records `before` for `user`; a stored later instant wins (a revocation never moves back).
    func saveRevocation(user: String, before: UnixNanos) async throws
    func revocations() async throws -> [String: UnixNanos]
}

extension SQLiteStore: TokenRevocationStore {
    public func saveRevocation(user: String, before: UnixNanos) async throws {
        _ = try await withWriter { c in
            try await c.query(
                """
                INSERT INTO token_revocations (user_id, revoked_before_ns) VALUES (?, ?)
                ON CONFLICT (user_id) DO UPDATE SET revoked_before_ns = MAX(token_revocations.revoked_before_ns, excluded.revoked_before_ns)
                """,
                [.text(user), .integer(SQLiteInt64(before.rawValue))])
        }
    }

    public func revocations() async throws -> [String: UnixNanos] {
        let rows = try await withReader { c in try await c.query("SELECT user_id, revoked_before_ns FROM token_revocations") }
        return try decodeRows {
            var out: [String: UnixNanos] = [:]
            for row in rows {
                let c = row.columns.map(\.data)
                guard c.count == 2, let user = c[0].string, case .integer(let ns) = c[1] else {
                    throw StoreQueryError("stored row cannot be read: token_revocations \(c)")
                }
                out[user] = UnixNanos(Int64(ns))
            }
            return out
        }
    }
}

extension PostgresStore: TokenRevocationStore {
    public func saveRevocation(user: String, before: UnixNanos) async throws {
        try await client.query(
            """
            INSERT INTO token_revocations (user_id, revoked_before_ns) VALUES (\(user), \(before.rawValue))
            ON CONFLICT (user_id) DO UPDATE SET revoked_before_ns = GREATEST(token_revocations.revoked_before_ns, EXCLUDED.revoked_before_ns)
            """, logger: logger)
    }

    public func revocations() async throws -> [String: UnixNanos] {
        let rows = try await client.query("SELECT user_id, revoked_before_ns FROM token_revocations", logger: logger)
        var out: [String: UnixNanos] = [:]
        for try await (user, ns) in rows.decode((String, Int64).self) { out[user] = UnixNanos(ns) }
        return out
    }
}
