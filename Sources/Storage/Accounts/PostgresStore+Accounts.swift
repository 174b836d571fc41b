public import MarketCore
import PostgresNIO

/// ``AccountStore`` on PostgreSQL (tables of `postgres/0002_paper_trading.sql`).
///
/// Decimals are bound as text and cast (`$1::numeric`), and read back as `::text`, so they stay
/// exact. `timestamptz` keeps microseconds: times are stored truncated to the microsecond (never
/// rounded up) and read back as such, so a stored `UnixNanos` comes back with its last three
/// digits zero. Two fills whose id and time differ only below the microsecond count as one.
extension PostgresStore: AccountStore {
    public func createUser(_ user: StoredUser) async throws -> Bool {
        let rows = try await client.query(
            """
            INSERT INTO users (id, name, created_at) VALUES (\(user.id), \(user.name), \(Self.timestamp(user.createdAt))::timestamptz)
            ON CONFLICT (id) DO NOTHING RETURNING id
            """, logger: logger)
        return try await !rows.collect().isEmpty
    }

    public func commit(_ write: LedgerWrite) async throws {
        let updated = Self.timestamp(write.time)
        try await inTransaction { conn in
            // Fills first, then the state they produced; any failure rolls back all of it.
            for f in write.fills {
                try await conn.query(
                    """
                    INSERT INTO trades_paper (time, user_id, order_id, fill_id, venue, symbol, side, qty, price, fee, slippage_bps, realized_pnl)
                    VALUES (\(Self.timestamp(f.time))::timestamptz, \(f.userID), \(f.orderID), \(f.fillID), \(f.venue), \(f.symbol),
                        \(f.side.text), \(f.qty.description)::numeric, \(f.price.description)::numeric, \(f.fee.description)::numeric,
                        \(f.slippageBps?.description)::numeric, \(f.realizedPnL?.description)::numeric)
                    ON CONFLICT (user_id, fill_id, time) DO NOTHING
                    """, logger: logger)
            }
            for p in write.positions {
                try await conn.query(
                    """
                    INSERT INTO positions (user_id, venue, symbol, qty, avg_price, realized_pnl, updated_at)
                    VALUES (\(p.userID), \(p.venue), \(p.symbol), \(p.qty.description)::numeric, \(p.avgPrice.description)::numeric,
                        \(p.realizedPnL.description)::numeric, \(updated)::timestamptz)
                    ON CONFLICT (user_id, venue, symbol) DO UPDATE SET qty = EXCLUDED.qty, avg_price = EXCLUDED.avg_price,
                        realized_pnl = EXCLUDED.realized_pnl, updated_at = EXCLUDED.updated_at
                    """, logger: logger)
            }
            for b in write.balances {
                try await conn.query(
                    """
                    INSERT INTO balances (user_id, asset, amount, updated_at)
                    VALUES (\(b.userID), \(b.asset), \(b.amount.description)::numeric, \(updated)::timestamptz)
                    ON CONFLICT (user_id, asset) DO UPDATE SET amount = EXCLUDED.amount, updated_at = EXCLUDED.updated_at
                    """, logger: logger)
            }
        }
    }

    public func logPreTrade(_ record: StoredPreTrade) async throws {
        try await client.query(
            """
            INSERT INTO pretrade_log (time, user_id, venue, symbol, passed, failures, request)
            VALUES (\(Self.timestamp(record.time))::timestamptz, \(record.userID), \(record.venue), \(record.symbol), \(record.passed),
                \(record.failuresJSON)::jsonb, \(record.requestJSON)::jsonb)
            """, logger: logger)
    }

    public func logMood(_ record: StoredMood) async throws {
        try await client.query(
            """
            INSERT INTO agent_status_log (time, user_id, score, state, factors, reason)
            VALUES (\(Self.timestamp(record.time))::timestamptz, \(record.userID), \(record.score.description)::numeric, \(record.state),
                \(record.factorsJSON)::jsonb, \(record.reason))
            """, logger: logger)
    }

    // MARK: reads

    public func users() async throws -> [StoredUser] {
        let rows = try await client.query(
            "SELECT id, name, (extract(epoch FROM created_at) * 1000000)::int8 FROM users ORDER BY id", logger: logger)
        var out: [StoredUser] = []
        for try await (id, name, us) in rows.decode((String, String, Int64).self) {
            out.append(StoredUser(id: id, name: name, createdAt: .microseconds(us)))
        }
        return out
    }

    public func balances() async throws -> [StoredBalance] {
        let rows = try await client.query("SELECT user_id, asset, amount::text FROM balances ORDER BY user_id, asset", logger: logger)
        var out: [StoredBalance] = []
        for try await (user, asset, amount) in rows.decode((String, String, String).self) {
            out.append(StoredBalance(userID: user, asset: asset, amount: try AccountColumns.decimal(amount, "balances", "amount")))
        }
        return out
    }

    public func positions() async throws -> [StoredPosition] {
        let rows = try await client.query(
            """
            SELECT user_id, venue, symbol, qty::text, avg_price::text, realized_pnl::text
            FROM positions ORDER BY user_id, venue, symbol
            """, logger: logger)
        var out: [StoredPosition] = []
        for try await (user, venue, symbol, qty, avg, pnl) in rows.decode((String, String, String, String, String, String).self) {
            out.append(
                StoredPosition(
                    userID: user, venue: venue, symbol: symbol, qty: try AccountColumns.decimal(qty, "positions", "qty"),
                    avgPrice: try AccountColumns.decimal(avg, "positions", "avg_price"),
                    realizedPnL: try AccountColumns.decimal(pnl, "positions", "realized_pnl")))
        }
        return out
    }

    public func paperFills(userID: String, since: UnixNanos?, limit: Int) async throws -> [StoredPaperFill] {
        // `since` truncated like the stored times, so a fill stored at or after it is never left out.
        let rows = try await client.query(
            """
            SELECT (extract(epoch FROM time) * 1000000)::int8, order_id, fill_id, venue, symbol, side, qty::text, price::text,
                fee::text, slippage_bps::text, realized_pnl::text
            FROM trades_paper WHERE user_id = \(userID) AND time >= coalesce(\(since.map(Self.timestamp))::timestamptz, '-infinity')
            ORDER BY time DESC, fill_id DESC LIMIT \(AccountColumns.limit(limit))
            """, logger: logger)
        let t = "trades_paper"
        var out: [StoredPaperFill] = []
        for try await (us, order, fill, venue, symbol, side, qty, price, fee, slippage, pnl) in rows.decode(
            (Int64, String, String, String, String, String, String, String, String, String?, String?).self)
        {
            out.append(
                StoredPaperFill(
                    time: .microseconds(us), userID: userID, orderID: order, fillID: fill, venue: venue, symbol: symbol,
                    side: try AccountColumns.side(side, t), qty: try AccountColumns.decimal(qty, t, "qty"),
                    price: try AccountColumns.decimal(price, t, "price"), fee: try AccountColumns.decimal(fee, t, "fee"),
                    slippageBps: try AccountColumns.optionalDecimal(slippage, t, "slippage_bps"),
                    realizedPnL: try AccountColumns.optionalDecimal(pnl, t, "realized_pnl")))
        }
        return out
    }

    public func moodHistory(userID: String, limit: Int) async throws -> [StoredMood] {
        let rows = try await client.query(
            """
            SELECT (extract(epoch FROM time) * 1000000)::int8, score::text, state, factors::text, reason
            FROM agent_status_log WHERE user_id = \(userID) ORDER BY time DESC LIMIT \(AccountColumns.limit(limit))
            """, logger: logger)
        var out: [StoredMood] = []
        for try await (us, score, state, factors, reason) in rows.decode((Int64, String, String, String, String).self) {
            out.append(
                StoredMood(
                    time: .microseconds(us), userID: userID, score: try AccountColumns.decimal(score, "agent_status_log", "score"),
                    state: state, factorsJSON: factors, reason: reason))
        }
        return out
    }

    public func preTradeLog(userID: String, limit: Int) async throws -> [StoredPreTrade] {
        let rows = try await client.query(
            """
            SELECT (extract(epoch FROM time) * 1000000)::int8, venue, symbol, passed, failures::text, request::text
            FROM pretrade_log WHERE user_id = \(userID) ORDER BY time DESC LIMIT \(AccountColumns.limit(limit))
            """, logger: logger)
        var out: [StoredPreTrade] = []
        for try await (us, venue, symbol, passed, failures, request) in rows.decode((Int64, String, String, Bool, String, String).self) {
            out.append(
                StoredPreTrade(
                    time: .microseconds(us), userID: userID, venue: venue, symbol: symbol, passed: passed,
                    failuresJSON: failures, requestJSON: request))
        }
        return out
    }

    // MARK: helpers

    /// `timestamptz` text truncated to the microsecond (PostgreSQL would round 9 digits, moving a time forward).
    static func timestamp(_ t: UnixNanos) -> String { t.iso8601(fractionDigits: 6) }

    /// `body` in one transaction on one pooled connection; rolled back when it throws.
    private func inTransaction(_ body: (PostgresConnection) async throws -> Void) async throws {
        try await client.withConnection { conn in
            try await conn.query("BEGIN", logger: logger)
            do {
                try await body(conn)
                try await conn.query("COMMIT", logger: logger)
            } catch {
                _ = try? await conn.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }
}
