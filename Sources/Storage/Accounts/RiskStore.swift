public import MarketCore
import Logging
import PostgresNIO
import SQLiteNIO

/// A user's risk state (migration 0015, `risk_state`): the limits an admin set for them (nil: the
/// configured default) and the daily-loss circuit breaker. Days are UTC days since 1970-01-01.
public struct StoredRiskState: Sendable, Hashable {
    public var userID: String
    /// Grows with every change; a write with a smaller version than the stored row changes nothing.
    public var version: Int64
    public var maxPositionPercent: WideDecimal?
    public var maxOpenOrders: Int?
    public var maxOrderNotionalUSD: WideDecimal?
    public var maxDailyLossUSD: WideDecimal?
    /// The breaker is tripped while `trippedDay` is today.
    public var trippedDay: Int64?
    public var tripped: UnixNanos?
    public var trippedLoss: WideDecimal?
    public var trippedReason: String?
    /// An admin reset on `resetDay` at a day loss of `resetLoss`: the breaker trips again that day
    /// only when the loss grows by the limit beyond it.
    public var resetDay: Int64?
    public var resetLoss: WideDecimal?
    public var updated: UnixNanos

    public init(userID: String, version: Int64, updated: UnixNanos) {
        self.userID = userID
        self.version = version
        self.updated = updated
    }
}

/// Reads and writes the per-user risk state (docs/trading.md "Risk limits and the circuit breaker").
public protocol RiskStore: Sendable {
    /// Upserts the row unless the stored one has a higher version.
    func saveRiskState(_ s: StoredRiskState) async throws
    func riskStates() async throws -> [StoredRiskState]
}

extension SQLiteStore: RiskStore {
    public func saveRiskState(_ s: StoredRiskState) async throws {
        // `?.description`, not `Optional.map`: see SQLiteStore.textOrNull (Int128 at -Onone).
        func dec(_ d: WideDecimal?) -> SQLiteData { if let t = d?.description { .text(t) } else { .null } }
        func int(_ i: Int64?) -> SQLiteData { i.map { .integer(SQLiteInt64($0)) } ?? .null }
        _ = try await withWriter { c in
            try await c.query(
                """
                INSERT INTO risk_state (user_id, version, max_position_percent, max_open_orders, max_order_notional_usd,
                    max_daily_loss_usd, tripped_day, tripped_ns, tripped_loss, tripped_reason, reset_day, reset_loss, updated_ns)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (user_id) DO UPDATE SET version = excluded.version,
                    max_position_percent = excluded.max_position_percent, max_open_orders = excluded.max_open_orders,
                    max_order_notional_usd = excluded.max_order_notional_usd, max_daily_loss_usd = excluded.max_daily_loss_usd,
                    tripped_day = excluded.tripped_day, tripped_ns = excluded.tripped_ns, tripped_loss = excluded.tripped_loss,
                    tripped_reason = excluded.tripped_reason, reset_day = excluded.reset_day, reset_loss = excluded.reset_loss,
                    updated_ns = excluded.updated_ns
                WHERE excluded.version > risk_state.version
                """,
                [
                    .text(s.userID), .integer(SQLiteInt64(s.version)), dec(s.maxPositionPercent), int(s.maxOpenOrders.map(Int64.init)),
                    dec(s.maxOrderNotionalUSD), dec(s.maxDailyLossUSD), int(s.trippedDay), int(s.tripped?.rawValue), dec(s.trippedLoss),
                    s.trippedReason.map { .text($0) } ?? .null, int(s.resetDay), dec(s.resetLoss), .integer(SQLiteInt64(s.updated.rawValue)),
                ])
        }
    }

    public func riskStates() async throws -> [StoredRiskState] {
        let t = "risk_state"
        let rows = try await withReader { c in
            try await c.query(
                """
                SELECT user_id, version, max_position_percent, max_open_orders, max_order_notional_usd, max_daily_loss_usd,
                    tripped_day, tripped_ns, tripped_loss, tripped_reason, reset_day, reset_loss, updated_ns
                FROM risk_state ORDER BY user_id
                """)
        }
        return try decodeRows {
            var out: [StoredRiskState] = []
            for row in rows {
                let c = row.columns.map(\.data)
                func int(_ i: Int) -> Int64? { if case .integer(let v) = c[i] { return Int64(v) } else { return nil } }
                guard c.count == 13, let user = c[0].string, let version = int(1), let updated = int(12) else {
                    throw StoreQueryError("stored row cannot be read: \(t) \(c)")
                }
                var s = StoredRiskState(userID: user, version: version, updated: UnixNanos(updated))
                s.maxPositionPercent = try AccountColumns.optionalDecimal(c[2].string, t, "max_position_percent")
                s.maxOpenOrders = int(3).map { Int($0) }
                s.maxOrderNotionalUSD = try AccountColumns.optionalDecimal(c[4].string, t, "max_order_notional_usd")
                s.maxDailyLossUSD = try AccountColumns.optionalDecimal(c[5].string, t, "max_daily_loss_usd")
                s.trippedDay = int(6)
                s.tripped = int(7).map { UnixNanos($0) }
                s.trippedLoss = try AccountColumns.optionalDecimal(c[8].string, t, "tripped_loss")
                s.trippedReason = c[9].string
                s.resetDay = int(10)
                s.resetLoss = try AccountColumns.optionalDecimal(c[11].string, t, "reset_loss")
                out.append(s)
            }
            return out
        }
    }
}

extension PostgresStore: RiskStore {
    public func saveRiskState(_ s: StoredRiskState) async throws {
        let orders = s.maxOpenOrders.map { Int32(clamping: $0) }
        try await client.query(
            """
            INSERT INTO risk_state (user_id, version, max_position_percent, max_open_orders, max_order_notional_usd,
                max_daily_loss_usd, tripped_day, tripped_ns, tripped_loss, tripped_reason, reset_day, reset_loss, updated_ns)
            VALUES (\(s.userID), \(s.version), \(s.maxPositionPercent?.description)::numeric, \(orders),
                \(s.maxOrderNotionalUSD?.description)::numeric, \(s.maxDailyLossUSD?.description)::numeric, \(s.trippedDay),
                \(s.tripped?.rawValue), \(s.trippedLoss?.description)::numeric, \(s.trippedReason), \(s.resetDay),
                \(s.resetLoss?.description)::numeric, \(s.updated.rawValue))
            ON CONFLICT (user_id) DO UPDATE SET version = EXCLUDED.version,
                max_position_percent = EXCLUDED.max_position_percent, max_open_orders = EXCLUDED.max_open_orders,
                max_order_notional_usd = EXCLUDED.max_order_notional_usd, max_daily_loss_usd = EXCLUDED.max_daily_loss_usd,
                tripped_day = EXCLUDED.tripped_day, tripped_ns = EXCLUDED.tripped_ns, tripped_loss = EXCLUDED.tripped_loss,
                tripped_reason = EXCLUDED.tripped_reason, reset_day = EXCLUDED.reset_day, reset_loss = EXCLUDED.reset_loss,
                updated_ns = EXCLUDED.updated_ns
            WHERE EXCLUDED.version > risk_state.version
            """, logger: logger)
    }

    public func riskStates() async throws -> [StoredRiskState] {
        let t = "risk_state"
        let rows = try await client.query(
            """
            SELECT user_id, version, max_position_percent::text, max_open_orders, max_order_notional_usd::text, max_daily_loss_usd::text,
                tripped_day, tripped_ns, tripped_loss::text, tripped_reason, reset_day, reset_loss::text, updated_ns
            FROM risk_state ORDER BY user_id
            """, logger: logger)
        var out: [StoredRiskState] = []
        for try await row in rows {
            let r = try row.decode(
                (String, Int64, String?, Int32?, String?, String?, Int64?, Int64?, String?, String?, Int64?, String?, Int64).self)
            var s = StoredRiskState(userID: r.0, version: r.1, updated: UnixNanos(r.12))
            s.maxPositionPercent = try AccountColumns.optionalDecimal(r.2, t, "max_position_percent")
            s.maxOpenOrders = r.3.map { Int($0) }
            s.maxOrderNotionalUSD = try AccountColumns.optionalDecimal(r.4, t, "max_order_notional_usd")
            s.maxDailyLossUSD = try AccountColumns.optionalDecimal(r.5, t, "max_daily_loss_usd")
            s.trippedDay = r.6
            s.tripped = r.7.map { UnixNanos($0) }
            s.trippedLoss = try AccountColumns.optionalDecimal(r.8, t, "tripped_loss")
            s.trippedReason = r.9
            s.resetDay = r.10
            s.resetLoss = try AccountColumns.optionalDecimal(r.11, t, "reset_loss")
            out.append(s)
        }
        return out
    }
}
