public import MarketCore
import PostgresNIO

/// ``AccountStore`` on PostgreSQL (tables of `postgres/0002_paper_trading.sql` and `0010_durable_trading.sql`).
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
                let d = f.details
                try await conn.query(
                    """
                    INSERT INTO trades_paper (time, user_id, order_id, fill_id, venue, symbol, side, qty, price, fee, slippage_bps, realized_pnl,
                        notional, levels, order_type, liquidity, remaining, fee_asset, source)
                    VALUES (\(Self.timestamp(f.time))::timestamptz, \(f.userID), \(f.orderID), \(f.fillID), \(f.venue), \(f.symbol),
                        \(f.side.text), \(f.qty.description)::numeric, \(f.price.description)::numeric, \(f.fee.description)::numeric,
                        \(f.slippageBps?.description)::numeric, \(f.realizedPnL?.description)::numeric,
                        \(d?.notional.description)::numeric, \((d?.levels).map { Int32(clamping: $0) }), \(d?.orderType), \(d?.liquidity),
                        \(d?.remaining.description)::numeric, \(d?.feeAsset), \(d?.source))
                    ON CONFLICT (user_id, fill_id, time) DO NOTHING
                    """, logger: logger)
            }
            for o in write.orders {
                try await conn.query(
                    """
                    INSERT INTO resting_orders (order_id, user_id, venue, symbol, side, limit_price, quantity, remaining, reserved,
                        reserved_asset, placed, source, fills, updated_at)
                    VALUES (\(o.orderID), \(o.userID), \(o.venue), \(o.symbol), \(o.side.text), \(o.limitPrice.description)::numeric,
                        \(o.quantity.description)::numeric, \(o.remaining.description)::numeric, \(o.reserved.description)::numeric,
                        \(o.reservedAsset), \(Self.timestamp(o.placed))::timestamptz, \(o.source), \(Int32(clamping: o.fills)), \(updated)::timestamptz)
                    ON CONFLICT (order_id) DO UPDATE SET remaining = EXCLUDED.remaining, reserved = EXCLUDED.reserved,
                        fills = EXCLUDED.fills, updated_at = EXCLUDED.updated_at
                    """, logger: logger)
            }
            for id in write.closedOrders {
                try await conn.query("DELETE FROM resting_orders WHERE order_id = \(id)", logger: logger)
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
            for t in write.ledger { try await Self.insertLedger(t, conn, idempotent: true, logger: logger) }
            for w in write.withdrawals { try await Self.upsertWithdrawal(w, conn, logger: logger) }
            for m in write.marks { try await Self.upsertMark(m, conn, logger: logger) }
        }
    }

    public func logPreTrade(_ record: StoredPreTrade) async throws {
        try await client.query(
            """
            INSERT INTO pretrade_log (time, user_id, venue, symbol, passed, failures, request, checks)
            VALUES (\(Self.timestamp(record.time))::timestamptz, \(record.userID), \(record.venue), \(record.symbol), \(record.passed),
                \(record.failuresJSON)::jsonb, \(record.requestJSON)::jsonb, \(record.checksJSON.isEmpty ? nil : record.checksJSON)::jsonb)
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

    public func saveAgent(_ a: StoredAgent) async throws {
        try await client.query(
            """
            INSERT INTO agents (id, user_id, strategy, venue, symbol, quantity, quote_amount, created, orders, rejected, last_result,
                parent_id, generation, allocation, spawned)
            VALUES (\(a.id), \(a.userID), \(a.strategy), \(a.venue), \(a.symbol), \(a.quantity?.description)::numeric,
                \(a.quoteAmount?.description)::numeric, \(Self.timestamp(a.created))::timestamptz, \(Int32(clamping: a.orders)),
                \(Int32(clamping: a.rejected)), \(a.lastResult), \(a.parentID), \(Int32(clamping: a.generation)),
                \(a.allocation?.description)::numeric, \(Int32(clamping: a.spawned)))
            ON CONFLICT (id) DO UPDATE SET orders = EXCLUDED.orders, rejected = EXCLUDED.rejected, last_result = EXCLUDED.last_result,
                spawned = EXCLUDED.spawned
            """, logger: logger)
    }

    public func removeAgent(id: String) async throws {
        try await client.query("DELETE FROM agents WHERE id = \(id)", logger: logger)
    }

    public func deadLetter(_ letter: StoredDeadLetter) async throws {
        try await client.query(
            """
            INSERT INTO journal_dead_letters (time, kind, payload, error)
            VALUES (\(Self.timestamp(letter.time))::timestamptz, \(AccountColumns.printable(letter.kind)),
                \(AccountColumns.printable(letter.payload)), \(AccountColumns.printable(letter.error)))
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

    public func restingOrders() async throws -> [StoredRestingOrder] {
        let rows = try await client.query(
            """
            SELECT order_id, user_id, venue, symbol, side, limit_price::text, quantity::text, remaining::text, reserved::text,
                reserved_asset, (extract(epoch FROM placed) * 1000000)::int8, source, fills
            FROM resting_orders ORDER BY placed, order_id
            """, logger: logger)
        let t = "resting_orders"
        var out: [StoredRestingOrder] = []
        for try await (id, user, venue, symbol, side, limit, qty, remaining, reserved, asset, us, source, fills) in rows.decode(
            (String, String, String, String, String, String, String, String, String, String, Int64, String?, Int32).self)
        {
            out.append(
                StoredRestingOrder(
                    orderID: id, userID: user, venue: venue, symbol: symbol, side: try AccountColumns.side(side, t),
                    limitPrice: try AccountColumns.decimal(limit, t, "limit_price"), quantity: try AccountColumns.decimal(qty, t, "quantity"),
                    remaining: try AccountColumns.decimal(remaining, t, "remaining"), reserved: try AccountColumns.decimal(reserved, t, "reserved"),
                    reservedAsset: asset, placed: .microseconds(us), source: source, fills: Int(fills)))
        }
        return out
    }

    public func agents() async throws -> [StoredAgent] {
        let rows = try await client.query(
            """
            SELECT id, user_id, strategy, venue, symbol, quantity::text, quote_amount::text,
                (extract(epoch FROM created) * 1000000)::int8, orders, rejected, last_result, parent_id, generation, allocation::text, spawned
            FROM agents ORDER BY created, id
            """, logger: logger)
        let t = "agents"
        var out: [StoredAgent] = []
        for try await (id, user, strategy, venue, symbol, qty, quote, us, orders, rejected, last, parent, generation, allocation, spawned)
            in rows.decode((String, String, String, String, String, String?, String?, Int64, Int32, Int32, String?, String?, Int32, String?, Int32).self)
        {
            out.append(
                StoredAgent(
                    id: id, userID: user, strategy: strategy, venue: venue, symbol: symbol,
                    quantity: try AccountColumns.optionalDecimal(qty, t, "quantity"),
                    quoteAmount: try AccountColumns.optionalDecimal(quote, t, "quote_amount"), created: .microseconds(us),
                    orders: Int(orders), rejected: Int(rejected), lastResult: last, parentID: parent, generation: Int(generation),
                    allocation: try AccountColumns.optionalDecimal(allocation, t, "allocation"), spawned: Int(spawned)))
        }
        return out
    }

    public func deadLetters(limit: Int) async throws -> [StoredDeadLetter] {
        let rows = try await client.query(
            """
            SELECT (extract(epoch FROM time) * 1000000)::int8, kind, payload, error
            FROM journal_dead_letters ORDER BY id LIMIT \(AccountColumns.limit(limit))
            """, logger: logger)
        var out: [StoredDeadLetter] = []
        for try await (us, kind, payload, error) in rows.decode((Int64, String, String, String).self) {
            out.append(StoredDeadLetter(time: .microseconds(us), kind: kind, payload: payload, error: error))
        }
        return out
    }

    public func paperFills(userID: String, since: UnixNanos?, limit: Int) async throws -> [StoredPaperFill] {
        // `since` truncated like the stored times, so a fill stored at or after it is never left out.
        let rows = try await client.query(
            """
            SELECT (extract(epoch FROM time) * 1000000)::int8, order_id, fill_id, venue, symbol, side, qty::text, price::text,
                fee::text, slippage_bps::text, realized_pnl::text, notional::text, levels, order_type, liquidity, remaining::text,
                fee_asset, source
            FROM trades_paper WHERE user_id = \(userID) AND time >= coalesce(\(since.map(Self.timestamp))::timestamptz, '-infinity')
            ORDER BY time DESC, fill_id DESC LIMIT \(AccountColumns.limit(limit))
            """, logger: logger)
        let t = "trades_paper"
        var out: [StoredPaperFill] = []
        for try await (us, order, fill, venue, symbol, side, qty, price, fee, slippage, pnl, notional, levels, type, liquidity, remaining, feeAsset, source)
            in rows.decode(
                (Int64, String, String, String, String, String, String, String, String, String?, String?, String?, Int32?, String?, String?,
                    String?, String?, String?).self)
        {
            out.append(
                StoredPaperFill(
                    time: .microseconds(us), userID: userID, orderID: order, fillID: fill, venue: venue, symbol: symbol,
                    side: try AccountColumns.side(side, t), qty: try AccountColumns.decimal(qty, t, "qty"),
                    price: try AccountColumns.decimal(price, t, "price"), fee: try AccountColumns.decimal(fee, t, "fee"),
                    slippageBps: try AccountColumns.optionalDecimal(slippage, t, "slippage_bps"),
                    realizedPnL: try AccountColumns.optionalDecimal(pnl, t, "realized_pnl"),
                    details: try AccountColumns.fillDetails(
                        notional: notional, levels: levels.map(Int.init), orderType: type, liquidity: liquidity, remaining: remaining,
                        feeAsset: feeAsset, source: source)))
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
            SELECT (extract(epoch FROM time) * 1000000)::int8, venue, symbol, passed, failures::text, request::text, checks::text
            FROM pretrade_log WHERE user_id = \(userID) ORDER BY time DESC LIMIT \(AccountColumns.limit(limit))
            """, logger: logger)
        var out: [StoredPreTrade] = []
        for try await (us, venue, symbol, passed, failures, request, checks) in rows.decode(
            (Int64, String, String, Bool, String, String, String?).self)
        {
            out.append(
                StoredPreTrade(
                    time: .microseconds(us), userID: userID, venue: venue, symbol: symbol, passed: passed,
                    failuresJSON: failures, requestJSON: request, checksJSON: checks ?? ""))
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
