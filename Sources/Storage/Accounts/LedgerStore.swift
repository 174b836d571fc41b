public import MarketCore
import Logging
import PostgresNIO
import SQLiteNIO

/// One stored posting of the double-entry ledger (migration 0011): `userID` nil for a house account.
public struct StoredLedgerPosting: Sendable, Hashable {
    public var userID: String?
    public var accountKind: String
    public var asset: String
    public var amount: WideDecimal

    public init(userID: String?, accountKind: String, asset: String, amount: WideDecimal) {
        self.userID = userID
        self.accountKind = accountKind
        self.asset = asset
        self.amount = amount
    }
}

/// One stored ledger transaction with its postings, in leg order.
public struct StoredLedgerTransaction: Sendable, Hashable {
    public var id: String
    public var time: UnixNanos
    public var kind: String
    public var memo: String
    public var postings: [StoredLedgerPosting]

    public init(id: String, time: UnixNanos, kind: String, memo: String, postings: [StoredLedgerPosting]) {
        self.id = id
        self.time = time
        self.kind = kind
        self.memo = memo
        self.postings = postings
    }
}

/// The append-only ledger tables. The store does not check that postings balance (the ledger
/// does, before writing); it writes a transaction with all its postings or nothing, and refuses an
/// id already stored (a primary-key violation).
public protocol LedgerStore: Sendable {
    func appendLedgerTransaction(_ transaction: StoredLedgerTransaction) async throws
    /// Every transaction in the order it was appended.
    func ledgerTransactions() async throws -> [StoredLedgerTransaction]
}

extension SQLiteStore: LedgerStore {
    public func appendLedgerTransaction(_ t: StoredLedgerTransaction) async throws {
        try await withWriter { c in
            try await Self.transaction(c) { try await Self.insertLedger(t, c, idempotent: false) }
        }
    }

    /// Inserts one ledger transaction inside the caller's database transaction. `idempotent`: a
    /// transaction whose id is stored already is skipped (a journal entry retried after a commit
    /// whose answer was lost), not refused.
    static func insertLedger(_ t: StoredLedgerTransaction, _ c: SQLiteConnection, idempotent: Bool) async throws {
        let conflict = idempotent ? " ON CONFLICT (id) DO NOTHING RETURNING id" : ""
        let inserted = try await c.query(
            "INSERT INTO ledger_transactions (id, time, time_ns, kind, memo) VALUES (?, ?, ?, ?, ?)" + conflict,
            [.text(t.id), .text(t.time.iso8601(fractionDigits: 9)), .integer(SQLiteInt64(t.time.rawValue)), .text(t.kind), .text(t.memo)])
        if idempotent && inserted.isEmpty { return }
        for (leg, p) in t.postings.enumerated() {
            _ = try await c.query(
                "INSERT INTO ledger_postings (transaction_id, leg, user_id, account_kind, asset, amount) VALUES (?, ?, ?, ?, ?, ?)",
                [.text(t.id), .integer(leg), p.userID.map { .text($0) } ?? .null, .text(p.accountKind), .text(p.asset), .text(p.amount.description)])
        }
    }

    public func ledgerTransactions() async throws -> [StoredLedgerTransaction] {
        let rows = try await withReader { c in
            try await c.query(
                """
                SELECT t.id, t.time_ns, t.kind, t.memo, p.user_id, p.account_kind, p.asset, p.amount
                FROM ledger_transactions t LEFT JOIN ledger_postings p ON p.transaction_id = t.id ORDER BY t.seq, p.leg
                """)
        }
        return try Self.ledgerTransactions(rows)
    }

    // Out of the async function, as decodeRows (StoreErrors.swift) says why.
    @inline(never)
    static func ledgerTransactions(_ rows: [SQLiteRow]) throws -> [StoredLedgerTransaction] {
        let table = "ledger_postings"
        var out: [StoredLedgerTransaction] = []
        for row in rows {
            let c = row.columns.map(\.data)
            guard c.count == 8, let id = c[0].string, case .integer(let ns) = c[1], let kind = c[2].string, let memo = c[3].string else {
                throw StoreQueryError("stored row cannot be read: ledger_transactions \(c)")
            }
            if out.last?.id != id { out.append(StoredLedgerTransaction(id: id, time: UnixNanos(Int64(ns)), kind: kind, memo: memo, postings: [])) }
            guard let accountKind = c[5].string else { continue }  // a transaction without postings (only by hand)
            let p = StoredLedgerPosting(
                userID: c[4].string, accountKind: accountKind, asset: c[6].string ?? "",
                amount: try AccountColumns.decimal(c[7].string, table, "amount"))
            out[out.count - 1].postings.append(p)
        }
        return out
    }
}

extension PostgresStore: LedgerStore {
    public func appendLedgerTransaction(_ t: StoredLedgerTransaction) async throws {
        try await client.withConnection { conn in
            try await conn.query("BEGIN", logger: logger)
            do {
                try await Self.insertLedger(t, conn, idempotent: false, logger: logger)
                try await conn.query("COMMIT", logger: logger)
            } catch {
                _ = try? await conn.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// Inserts one ledger transaction inside the caller's database transaction; `idempotent` as in
    /// `SQLiteStore.insertLedger`.
    static func insertLedger(_ t: StoredLedgerTransaction, _ conn: PostgresConnection, idempotent: Bool, logger: Logger) async throws {
        if idempotent {
            let rows = try await conn.query(
                """
                INSERT INTO ledger_transactions (id, time, time_ns, kind, memo)
                VALUES (\(t.id), \(Self.timestamp(t.time))::timestamptz, \(t.time.rawValue), \(t.kind), \(t.memo))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, logger: logger)
            if try await rows.collect().isEmpty { return }
        } else {
            try await conn.query(
                """
                INSERT INTO ledger_transactions (id, time, time_ns, kind, memo)
                VALUES (\(t.id), \(Self.timestamp(t.time))::timestamptz, \(t.time.rawValue), \(t.kind), \(t.memo))
                """, logger: logger)
        }
        for (leg, p) in t.postings.enumerated() {
            try await conn.query(
                """
                INSERT INTO ledger_postings (transaction_id, leg, user_id, account_kind, asset, amount)
                VALUES (\(t.id), \(Int32(clamping: leg)), \(p.userID), \(p.accountKind), \(p.asset), \(p.amount.description)::numeric)
                """, logger: logger)
        }
    }

    public func ledgerTransactions() async throws -> [StoredLedgerTransaction] {
        let rows = try await client.query(
            """
            SELECT t.id, t.time_ns, t.kind, t.memo, p.user_id, p.account_kind, p.asset, p.amount::text
            FROM ledger_transactions t LEFT JOIN ledger_postings p ON p.transaction_id = t.id ORDER BY t.seq, p.leg
            """, logger: logger)
        var out: [StoredLedgerTransaction] = []
        for try await (id, ns, kind, memo, user, accountKind, asset, amount) in rows.decode(
            (String, Int64, String, String, String?, String?, String?, String?).self)
        {
            if out.last?.id != id { out.append(StoredLedgerTransaction(id: id, time: UnixNanos(ns), kind: kind, memo: memo, postings: [])) }
            guard let accountKind else { continue }
            let p = StoredLedgerPosting(
                userID: user, accountKind: accountKind, asset: asset ?? "",
                amount: try AccountColumns.decimal(amount, "ledger_postings", "amount"))
            out[out.count - 1].postings.append(p)
        }
        return out
    }
}

extension PostgresStore {
    /// Runs one statement without binds (tests and diagnostics: forging or altering ledger rows).
    func executeRaw(_ sql: String) async throws {
        try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }
}
