public import MarketCore
import Logging
import PostgresNIO
import SQLiteNIO

/// A user's performance-fee state in one settlement asset (migration 0018): the realized P&L so
/// far, the high-water mark the fee has been charged up to, and the fees paid. Written (upserted)
/// in the same database transaction as the fill that changed it (``LedgerWrite/marks``).
public struct StoredPerformanceMark: Sendable, Hashable {
    public var userID: String
    public var asset: String
    public var realized: WideDecimal
    public var highWaterMark: WideDecimal
    public var feesPaid: WideDecimal
    public var updated: UnixNanos

    public init(userID: String, asset: String, realized: WideDecimal, highWaterMark: WideDecimal, feesPaid: WideDecimal, updated: UnixNanos) {
        self.userID = userID
        self.asset = asset
        self.realized = realized
        self.highWaterMark = highWaterMark
        self.feesPaid = feesPaid
        self.updated = updated
    }
}

/// Reads the marks back at start-up (they are written through ``AccountStore/commit(_:)``).
public protocol PerformanceMarkStore: Sendable {
    func performanceMarks() async throws -> [StoredPerformanceMark]
}

extension SQLiteStore: PerformanceMarkStore {
    static func upsertMark(_ m: StoredPerformanceMark, _ c: SQLiteConnection) async throws {
        _ = try await c.query(
            """
            INSERT INTO performance_marks (user_id, asset, realized, high_water_mark, fees_paid, updated_ns) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (user_id, asset) DO UPDATE SET realized = excluded.realized, high_water_mark = excluded.high_water_mark,
                fees_paid = excluded.fees_paid, updated_ns = excluded.updated_ns
            """,
            [
                .text(m.userID), .text(m.asset), .text(m.realized.description), .text(m.highWaterMark.description),
                .text(m.feesPaid.description), .integer(SQLiteInt64(m.updated.rawValue)),
            ])
    }

    public func performanceMarks() async throws -> [StoredPerformanceMark] {
        let rows = try await withReader { c in
            try await c.query("SELECT user_id, asset, realized, high_water_mark, fees_paid, updated_ns FROM performance_marks ORDER BY user_id, asset")
        }
        return try decodeRows {
            var out: [StoredPerformanceMark] = []
            for row in rows {
                let c = row.columns.map(\.data)
                guard c.count == 6, let user = c[0].string, let asset = c[1].string, let realized = c[2].string, let mark = c[3].string,
                    let fees = c[4].string, case .integer(let updated) = c[5]
                else { throw StoreQueryError("stored row cannot be read: performance_marks \(c)") }
                out.append(try Self.mark(user, asset, realized, mark, fees, Int64(updated)))
            }
            return out
        }
    }
}

extension PostgresStore: PerformanceMarkStore {
    static func upsertMark(_ m: StoredPerformanceMark, _ conn: PostgresConnection, logger: Logger) async throws {
        try await conn.query(
            """
            INSERT INTO performance_marks (user_id, asset, realized, high_water_mark, fees_paid, updated_ns)
            VALUES (\(m.userID), \(m.asset), \(m.realized.description)::numeric, \(m.highWaterMark.description)::numeric,
                \(m.feesPaid.description)::numeric, \(m.updated.rawValue))
            ON CONFLICT (user_id, asset) DO UPDATE SET realized = EXCLUDED.realized, high_water_mark = EXCLUDED.high_water_mark,
                fees_paid = EXCLUDED.fees_paid, updated_ns = EXCLUDED.updated_ns
            """, logger: logger)
    }

    public func performanceMarks() async throws -> [StoredPerformanceMark] {
        let rows = try await client.query(
            "SELECT user_id, asset, realized::text, high_water_mark::text, fees_paid::text, updated_ns FROM performance_marks ORDER BY user_id, asset",
            logger: logger)
        var out: [StoredPerformanceMark] = []
        for try await (user, asset, realized, mark, fees, updated) in rows.decode((String, String, String, String, String, Int64).self) {
            out.append(try SQLiteStore.mark(user, asset, realized, mark, fees, updated))
        }
        return out
    }
}

extension SQLiteStore {
    static func mark(_ user: String, _ asset: String, _ realized: String, _ mark: String, _ fees: String, _ updated: Int64) throws
        -> StoredPerformanceMark
    {
        StoredPerformanceMark(
            userID: user, asset: asset, realized: try AccountColumns.decimal(realized, "performance_marks", "realized"),
            highWaterMark: try AccountColumns.decimal(mark, "performance_marks", "high_water_mark"),
            feesPaid: try AccountColumns.decimal(fees, "performance_marks", "fees_paid"), updated: UnixNanos(updated))
    }
}
