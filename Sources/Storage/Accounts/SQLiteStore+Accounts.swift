public import MarketCore
import SQLiteNIO

/// ``AccountStore`` on SQLite (tables of `sqlite/0002_paper_trading.sql` and `0010_durable_trading.sql`).
///
/// Times are ISO-8601 text with 9 fraction digits plus the exact `time_ns` (which orders and
/// filters); `users.created_at` has no `_ns` column, and its 9-digit text reads back exactly.
/// Decimals are exact text, booleans 0/1. JSON goes through `json(?)`, which rejects malformed
/// text (as PostgreSQL's `jsonb` does) and stores it minified.
extension SQLiteStore: AccountStore {
    public func createUser(_ user: StoredUser) async throws -> Bool {
        let rows = try await withWriter { c in
            try await c.query(
                "INSERT INTO users (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
                [.text(user.id), .text(user.name), .text(Self.text(user.createdAt))])
        }
        return !rows.isEmpty
    }

    public func commit(_ write: LedgerWrite) async throws {
        let updated = SQLiteData.text(Self.text(write.time))
        try await withWriter { c in
            try await Self.transaction(c) {
                // Fills first, then the state they produced; any failure rolls back all of it.
                for f in write.fills {
                    let d = f.details
                    _ = try await c.query(
                        """
                        INSERT INTO trades_paper (time, time_ns, user_id, order_id, fill_id, venue, symbol, side, qty, price, fee,
                            slippage_bps, realized_pnl, notional, levels, order_type, liquidity, remaining, fee_asset, source)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, fill_id, time_ns) DO NOTHING
                        """,
                        [
                            .text(Self.text(f.time)), Self.nanos(f.time), .text(f.userID), .text(f.orderID), .text(f.fillID),
                            .text(f.venue), .text(f.symbol), .text(f.side.text), .text(f.qty.description), .text(f.price.description),
                            .text(f.fee.description), Self.textOrNull(f.slippageBps?.description), Self.textOrNull(f.realizedPnL?.description),
                            Self.textOrNull(d?.notional.description), (d?.levels).map { SQLiteData.integer($0) } ?? .null, Self.textOrNull(d?.orderType),
                            Self.textOrNull(d?.liquidity), Self.textOrNull(d?.remaining.description), Self.textOrNull(d?.feeAsset),
                            Self.textOrNull(d?.source),
                        ])
                }
                for o in write.orders {
                    _ = try await c.query(
                        """
                        INSERT INTO resting_orders (order_id, user_id, venue, symbol, side, limit_price, quantity, remaining, reserved,
                            reserved_asset, placed, placed_ns, source, fills, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (order_id) DO UPDATE SET remaining = excluded.remaining, reserved = excluded.reserved,
                            fills = excluded.fills, updated_at = excluded.updated_at
                        """,
                        [
                            .text(o.orderID), .text(o.userID), .text(o.venue), .text(o.symbol), .text(o.side.text), .text(o.limitPrice.description),
                            .text(o.quantity.description), .text(o.remaining.description), .text(o.reserved.description), .text(o.reservedAsset),
                            .text(Self.text(o.placed)), Self.nanos(o.placed), Self.textOrNull(o.source), .integer(o.fills), updated,
                        ])
                }
                for id in write.closedOrders {
                    _ = try await c.query("DELETE FROM resting_orders WHERE order_id = ?", [.text(id)])
                }
                for p in write.positions {
                    _ = try await c.query(
                        """
                        INSERT INTO positions (user_id, venue, symbol, qty, avg_price, realized_pnl, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (user_id, venue, symbol) DO UPDATE SET qty = excluded.qty, avg_price = excluded.avg_price,
                            realized_pnl = excluded.realized_pnl, updated_at = excluded.updated_at
                        """,
                        [
                            .text(p.userID), .text(p.venue), .text(p.symbol), .text(p.qty.description), .text(p.avgPrice.description),
                            .text(p.realizedPnL.description), updated,
                        ])
                }
                for b in write.balances {
                    _ = try await c.query(
                        """
                        INSERT INTO balances (user_id, asset, amount, updated_at) VALUES (?, ?, ?, ?)
                        ON CONFLICT (user_id, asset) DO UPDATE SET amount = excluded.amount, updated_at = excluded.updated_at
                        """, [.text(b.userID), .text(b.asset), .text(b.amount.description), updated])
                }
                for t in write.ledger { try await Self.insertLedger(t, c, idempotent: true) }
                for w in write.withdrawals { try await Self.upsertWithdrawal(w, c) }
                for m in write.marks { try await Self.upsertMark(m, c) }
            }
        }
    }

    public func logPreTrade(_ record: StoredPreTrade) async throws {
        _ = try await withWriter { c in
            try await c.query(
                """
                INSERT INTO pretrade_log (time, time_ns, user_id, venue, symbol, passed, failures, request, checks)
                VALUES (?, ?, ?, ?, ?, ?, json(?), json(?), json(?))
                """,
                [
                    .text(Self.text(record.time)), Self.nanos(record.time), .text(record.userID), .text(record.venue),
                    .text(record.symbol), .integer(record.passed ? 1 : 0), .text(record.failuresJSON), .text(record.requestJSON),
                    record.checksJSON.isEmpty ? .null : .text(record.checksJSON),
                ])
        }
    }

    public func logMood(_ record: StoredMood) async throws {
        _ = try await withWriter { c in
            try await c.query(
                """
                INSERT INTO agent_status_log (time, time_ns, user_id, score, state, factors, reason)
                VALUES (?, ?, ?, ?, ?, json(?), ?)
                """,
                [
                    .text(Self.text(record.time)), Self.nanos(record.time), .text(record.userID), .text(record.score.description),
                    .text(record.state), .text(record.factorsJSON), .text(record.reason),
                ])
        }
    }

    public func saveAgent(_ a: StoredAgent) async throws {
        _ = try await withWriter { c in
            try await c.query(
                """
                INSERT INTO agents (id, user_id, strategy, venue, symbol, quantity, quote_amount, created, created_ns, orders, rejected, last_result,
                    parent_id, generation, allocation, spawned)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET orders = excluded.orders, rejected = excluded.rejected, last_result = excluded.last_result,
                    spawned = excluded.spawned
                """,
                [
                    .text(a.id), .text(a.userID), .text(a.strategy), .text(a.venue), .text(a.symbol), Self.textOrNull(a.quantity?.description),
                    Self.textOrNull(a.quoteAmount?.description), .text(Self.text(a.created)), Self.nanos(a.created), .integer(a.orders),
                    .integer(a.rejected), Self.textOrNull(a.lastResult), Self.textOrNull(a.parentID), .integer(a.generation),
                    Self.textOrNull(a.allocation?.description), .integer(a.spawned),
                ])
        }
    }

    public func removeAgent(id: String) async throws {
        _ = try await withWriter { c in try await c.query("DELETE FROM agents WHERE id = ?", [.text(id)]) }
    }

    public func deadLetter(_ letter: StoredDeadLetter) async throws {
        _ = try await withWriter { c in
            try await c.query(
                "INSERT INTO journal_dead_letters (time, time_ns, kind, payload, error) VALUES (?, ?, ?, ?, ?)",
                [
                    .text(Self.text(letter.time)), Self.nanos(letter.time), .text(AccountColumns.printable(letter.kind)),
                    .text(AccountColumns.printable(letter.payload)), .text(AccountColumns.printable(letter.error)),
                ])
        }
    }

    // MARK: reads

    public func users() async throws -> [StoredUser] {
        let rows = try await withReader { c in try await c.query("SELECT id, name, created_at FROM users ORDER BY id") }
        return try rows.map { row in
            let cols = try Self.columns(row, 3, "users")
            let created = try Self.string(cols[2], "users", "created_at")
            guard let time = UnixNanos.parseISO8601(created) else { throw StoreQueryError.unreadable("users", "created_at", created) }
            return StoredUser(id: try Self.string(cols[0], "users", "id"), name: try Self.string(cols[1], "users", "name"), createdAt: time)
        }
    }

    public func balances() async throws -> [StoredBalance] {
        let t = "balances"
        let rows = try await withReader { c in try await c.query("SELECT user_id, asset, amount FROM balances ORDER BY user_id, asset") }
        return try rows.map { row in
            let cols = try Self.columns(row, 3, t)
            return StoredBalance(
                userID: try Self.string(cols[0], t, "user_id"), asset: try Self.string(cols[1], t, "asset"),
                amount: try AccountColumns.decimal(cols[2].string, t, "amount"))
        }
    }

    public func positions() async throws -> [StoredPosition] {
        let t = "positions"
        let rows = try await withReader { c in
            try await c.query("SELECT user_id, venue, symbol, qty, avg_price, realized_pnl FROM positions ORDER BY user_id, venue, symbol")
        }
        return try rows.map { row in
            let cols = try Self.columns(row, 6, t)
            return StoredPosition(
                userID: try Self.string(cols[0], t, "user_id"), venue: try Self.string(cols[1], t, "venue"),
                symbol: try Self.string(cols[2], t, "symbol"), qty: try AccountColumns.decimal(cols[3].string, t, "qty"),
                avgPrice: try AccountColumns.decimal(cols[4].string, t, "avg_price"),
                realizedPnL: try AccountColumns.decimal(cols[5].string, t, "realized_pnl"))
        }
    }

    public func restingOrders() async throws -> [StoredRestingOrder] {
        let t = "resting_orders"
        let rows = try await withReader { c in
            try await c.query(
                """
                SELECT order_id, user_id, venue, symbol, side, limit_price, quantity, remaining, reserved, reserved_asset, placed_ns,
                    source, fills
                FROM resting_orders ORDER BY placed_ns, order_id
                """)
        }
        return try rows.map { row in
            let cols = try Self.columns(row, 13, t)
            guard case .integer(let fills) = cols[12] else { throw StoreQueryError.unreadable(t, "fills", cols[12].description) }
            return StoredRestingOrder(
                orderID: try Self.string(cols[0], t, "order_id"), userID: try Self.string(cols[1], t, "user_id"),
                venue: try Self.string(cols[2], t, "venue"), symbol: try Self.string(cols[3], t, "symbol"),
                side: try AccountColumns.side(cols[4].string, t), limitPrice: try AccountColumns.decimal(cols[5].string, t, "limit_price"),
                quantity: try AccountColumns.decimal(cols[6].string, t, "quantity"),
                remaining: try AccountColumns.decimal(cols[7].string, t, "remaining"),
                reserved: try AccountColumns.decimal(cols[8].string, t, "reserved"),
                reservedAsset: try Self.string(cols[9], t, "reserved_asset"), placed: try Self.time(cols[10], t),
                source: cols[11].string, fills: fills)
        }
    }

    public func agents() async throws -> [StoredAgent] {
        let t = "agents"
        let rows = try await withReader { c in
            try await c.query(
                """
                SELECT id, user_id, strategy, venue, symbol, quantity, quote_amount, created_ns, orders, rejected, last_result,
                    parent_id, generation, allocation, spawned
                FROM agents ORDER BY created_ns, id
                """)
        }
        return try rows.map { row in
            let cols = try Self.columns(row, 15, t)
            guard case .integer(let orders) = cols[8], case .integer(let rejected) = cols[9], case .integer(let generation) = cols[12],
                case .integer(let spawned) = cols[14]
            else {
                throw StoreQueryError.unreadable(t, "orders", cols[8].description)
            }
            return StoredAgent(
                id: try Self.string(cols[0], t, "id"), userID: try Self.string(cols[1], t, "user_id"),
                strategy: try Self.string(cols[2], t, "strategy"), venue: try Self.string(cols[3], t, "venue"),
                symbol: try Self.string(cols[4], t, "symbol"), quantity: try AccountColumns.optionalDecimal(cols[5].string, t, "quantity"),
                quoteAmount: try AccountColumns.optionalDecimal(cols[6].string, t, "quote_amount"), created: try Self.time(cols[7], t),
                orders: orders, rejected: rejected, lastResult: cols[10].string, parentID: cols[11].string, generation: generation,
                allocation: try AccountColumns.optionalDecimal(cols[13].string, t, "allocation"), spawned: spawned)
        }
    }

    public func deadLetters(limit: Int) async throws -> [StoredDeadLetter] {
        let t = "journal_dead_letters"
        let rows = try await withReader { c in
            try await c.query(
                "SELECT time_ns, kind, payload, error FROM journal_dead_letters ORDER BY id LIMIT ?", [.integer(AccountColumns.limit(limit))])
        }
        return try rows.map { row in
            let cols = try Self.columns(row, 4, t)
            return StoredDeadLetter(
                time: try Self.time(cols[0], t), kind: try Self.string(cols[1], t, "kind"), payload: try Self.string(cols[2], t, "payload"),
                error: try Self.string(cols[3], t, "error"))
        }
    }

    public func paperFills(userID: String, since: UnixNanos?, limit: Int) async throws -> [StoredPaperFill] {
        let t = "trades_paper"
        let rows = try await withReader { c in
            try await c.query(
                """
                SELECT time_ns, order_id, fill_id, venue, symbol, side, qty, price, fee, slippage_bps, realized_pnl,
                    notional, levels, order_type, liquidity, remaining, fee_asset, source
                FROM trades_paper WHERE user_id = ? AND time_ns >= ? ORDER BY time_ns DESC, fill_id DESC LIMIT ?
                """, [.text(userID), Self.nanos(since ?? UnixNanos(.min)), .integer(AccountColumns.limit(limit))])
        }
        return try rows.map { row in
            let cols = try Self.columns(row, 18, t)
            let levels: Int?
            switch cols[12] {
            case .integer(let n): levels = n
            case .null: levels = nil
            default: throw StoreQueryError.unreadable(t, "levels", cols[12].description)
            }
            return StoredPaperFill(
                time: try Self.time(cols[0], t), userID: userID, orderID: try Self.string(cols[1], t, "order_id"),
                fillID: try Self.string(cols[2], t, "fill_id"), venue: try Self.string(cols[3], t, "venue"),
                symbol: try Self.string(cols[4], t, "symbol"), side: try AccountColumns.side(cols[5].string, t),
                qty: try AccountColumns.decimal(cols[6].string, t, "qty"), price: try AccountColumns.decimal(cols[7].string, t, "price"),
                fee: try AccountColumns.decimal(cols[8].string, t, "fee"),
                slippageBps: try AccountColumns.optionalDecimal(cols[9].string, t, "slippage_bps"),
                realizedPnL: try AccountColumns.optionalDecimal(cols[10].string, t, "realized_pnl"),
                details: try AccountColumns.fillDetails(
                    notional: cols[11].string, levels: levels, orderType: cols[13].string, liquidity: cols[14].string,
                    remaining: cols[15].string, feeAsset: cols[16].string, source: cols[17].string))
        }
    }

    public func moodHistory(userID: String, limit: Int) async throws -> [StoredMood] {
        let t = "agent_status_log"
        let rows = try await withReader { c in
            try await c.query(
                "SELECT time_ns, score, state, factors, reason FROM agent_status_log WHERE user_id = ? ORDER BY time_ns DESC LIMIT ?",
                [.text(userID), .integer(AccountColumns.limit(limit))])
        }
        return try rows.map { row in
            let cols = try Self.columns(row, 5, t)
            return StoredMood(
                time: try Self.time(cols[0], t), userID: userID, score: try AccountColumns.decimal(cols[1].string, t, "score"),
                state: try Self.string(cols[2], t, "state"), factorsJSON: try Self.string(cols[3], t, "factors"),
                reason: try Self.string(cols[4], t, "reason"))
        }
    }

    public func preTradeLog(userID: String, limit: Int) async throws -> [StoredPreTrade] {
        let t = "pretrade_log"
        let rows = try await withReader { c in
            try await c.query(
                """
                SELECT time_ns, venue, symbol, passed, failures, request, checks FROM pretrade_log
                WHERE user_id = ? ORDER BY time_ns DESC LIMIT ?
                """, [.text(userID), .integer(AccountColumns.limit(limit))])
        }
        return try rows.map { row in
            let cols = try Self.columns(row, 7, t)
            guard case .integer(let passed) = cols[3], passed == 0 || passed == 1 else {
                throw StoreQueryError.unreadable(t, "passed", cols[3].description)
            }
            return StoredPreTrade(
                time: try Self.time(cols[0], t), userID: userID, venue: try Self.string(cols[1], t, "venue"),
                symbol: try Self.string(cols[2], t, "symbol"), passed: passed == 1, failuresJSON: try Self.string(cols[4], t, "failures"),
                requestJSON: try Self.string(cols[5], t, "request"), checksJSON: cols[6].string ?? "")
        }
    }

    // MARK: helpers

    private static func text(_ t: UnixNanos) -> String { t.iso8601(fractionDigits: 9) }
    private static func nanos(_ t: UnixNanos) -> SQLiteData { .integer(SQLiteInt64(t.rawValue)) }
    /// Takes the text, not a `WideDecimal?`: Swift 6.3.1 at -Onone crashes (misaligned Int128
    /// load) in `Optional.map` over a struct holding an `Int128`; `?.description` is fine.
    private static func textOrNull(_ s: String?) -> SQLiteData { s.map { .text($0) } ?? .null }

    private static func columns(_ row: SQLiteRow, _ count: Int, _ table: String) throws(StoreQueryError) -> [SQLiteData] {
        let cols = row.columns.map(\.data)
        guard cols.count == count else { throw StoreQueryError("stored row cannot be read: \(table) has \(cols.count) columns, expected \(count)") }
        return cols
    }

    private static func string(_ d: SQLiteData, _ table: String, _ column: String) throws(StoreQueryError) -> String {
        guard case .text(let s) = d else { throw .unreadable(table, column, d.description) }
        return s
    }

    private static func time(_ d: SQLiteData, _ table: String) throws(StoreQueryError) -> UnixNanos {
        guard case .integer(let ns) = d else { throw .unreadable(table, "time_ns", d.description) }
        return UnixNanos(Int64(ns))
    }
}
