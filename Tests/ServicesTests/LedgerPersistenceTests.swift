import Foundation
import MarketCore
import Testing

@testable import Services
@testable import Storage


/// Migration 0011 on both backends: the ledger's transactions survive a restart exactly, a
/// duplicate id is refused, the tables are append-only, and a corrupted row shows as drift.
@Suite("Ledger persistence", .serialized, .timeLimit(.minutes(2)))
struct LedgerPersistenceTests {
    static let t0 = UnixNanos(1_723_161_600_000_000_123)

    static func deposit(_ id: String, _ user: String, _ amount: String) -> LedgerTransaction {
        LedgerTransaction(
            id: id, time: t0, kind: .deposit, memo: "paper funding",
            postings: [
                LedgerPosting(.house(.housePool, "USDC"), d("-" + amount)),
                LedgerPosting(.user(user, .available, "USDC"), d(amount)),
            ])
    }

    /// Kim buys 0.5 BTC for 30000.25 USDC and pays a 3.5 USDC fee.
    static let buy = LedgerTransaction(
        id: "fill-1", time: UnixNanos(t0.rawValue + 1), kind: .fill,
        postings: [
            LedgerPosting(.user("kim", .available, "USDC"), d("-30003.75")),
            LedgerPosting(.house(.paperCounterparty, "USDC"), d("30000.25")),
            LedgerPosting(.house(.houseFees, "USDC"), d("3.5")),
            LedgerPosting(.user("kim", .holding, "BTC"), d("0.5")),
            LedgerPosting(.house(.paperCounterparty, "BTC"), d("-0.5")),
        ])

    @Test(arguments: Backend.available)
    func aTransactionWrittenIsThereAfterARestartWithTheSameBalances(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let first = try await open()
            let ledger = try await PersistentLedger.load(from: first as! any LedgerStore)
            try await ledger.append(Self.deposit("dep-1", "kim", "100000.000000000000000001"))
            try await ledger.append(Self.deposit("dep-2", "lee", "250"))
            try await ledger.append(Self.buy)
            await first.close()

            let second = try await open()
            let reopened = try await PersistentLedger.load(from: second as! any LedgerStore)
            let books = reopened.books.snapshot
            // Independent expectations: 100000.000000000000000001 − 30003.75 etc.
            #expect(books.balance(of: .user("kim", .available, "USDC")) == d("69996.250000000000000001"))
            #expect(books.balance(of: .user("kim", .holding, "BTC")) == d("0.5"))
            #expect(books.balance(of: .user("lee", .available, "USDC")) == d("250"))
            #expect(books.balance(of: .house(.housePool, "USDC")) == d("-100250.000000000000000001"))
            #expect(books.balance(of: .house(.houseFees, "USDC")) == d("3.5"))
            #expect(books.transactions.map(\.id) == ["dep-1", "dep-2", "fill-1"])
            #expect(books.transactions == ledger.books.snapshot.transactions)
            for a in ledger.books.snapshot.accounts { #expect(books.balance(of: a) == ledger.books.balance(of: a), "\(a)") }
            let r = reopened.reconcile()
            #expect(r.ok, "\(r)")
            #expect(r.asset("USDC")?.deposits == LedgerSum(d("100250.000000000000000001")))
            await second.close()
        }
    }

    @Test(arguments: Backend.available)
    func aDuplicateTransactionIDIsRefusedByTheLedgerAndByTheDatabase(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store = try await open()
            let ledger = try await PersistentLedger.load(from: store as! any LedgerStore)
            try await ledger.append(Self.deposit("dep-1", "kim", "10"))
            let refused = await #expect(throws: LedgerPostingError.self) { try await ledger.append(Self.deposit("dep-1", "kim", "99")) }
            #expect(refused?.code == .duplicateID)
            // Straight to the database (as a second process would): the primary key refuses it.
            await #expect(throws: (any Error).self) {
                try await (store as! any LedgerStore).appendLedgerTransaction(Self.deposit("dep-1", "lee", "5").stored)
            }
            let stored = try await (store as! any LedgerStore).ledgerTransactions()
            #expect(stored.count == 1 && stored.first?.postings.map(\.amount) == [d("-10"), d("10")])
            await store.close()
        }
    }

    @Test func updateAndDeleteOfLedgerRowsAreRefusedByPostgreSQL() async throws {
        guard Backend.available.contains(.postgres) else { return }
        try await Backend.postgres.withDatabase { open in
            let store = try await open() as! PostgresStore
            let ledger = try await PersistentLedger.load(from: store)
            try await ledger.append(Self.deposit("dep-1", "kim", "10"))
            for sql in [
                "UPDATE ledger_postings SET amount = 11 WHERE transaction_id = 'dep-1'",
                "DELETE FROM ledger_postings WHERE transaction_id = 'dep-1'",
                "UPDATE ledger_transactions SET memo = 'x'",
                "DELETE FROM ledger_transactions",
                "TRUNCATE ledger_postings",
            ] {
                let error = await #expect(throws: (any Error).self, "\(sql)") { try await store.executeRaw(sql) }
                #expect(String(reflecting: error).contains("append-only"), "\(sql): \(String(reflecting: error))")
            }
            let after = try await PersistentLedger.load(from: store).books.snapshot
            #expect(after.balance(of: .user("kim", .available, "USDC")) == d("10"))
            await store.close()
        }
    }

    /// Migration 0013 (SQLite) and 0011 (PostgreSQL): the database itself refuses to change or
    /// remove a stored transaction or posting, on both backends; the books are as before.
    @Test(arguments: Backend.available)
    func updateAndDeleteOfLedgerRowsAreRefusedOnBothBackends(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store = try await open()
            let ledger = try await PersistentLedger.load(from: store as! any LedgerStore)
            try await ledger.append(Self.deposit("dep-1", "kim", "10"))
            for sql in [
                "UPDATE ledger_postings SET amount = 11 WHERE transaction_id = 'dep-1'",
                "DELETE FROM ledger_postings WHERE transaction_id = 'dep-1'",
                "UPDATE ledger_transactions SET memo = 'x'",
                "DELETE FROM ledger_transactions",
            ] {
                let error = await #expect(throws: (any Error).self, "\(sql)") {
                    if let s = store as? SQLiteStore { _ = try await s.execute(sql) } else { try await (store as! PostgresStore).executeRaw(sql) }
                }
                #expect(String(reflecting: error).contains("append-only"), "\(sql): \(String(reflecting: error))")
            }
            let after = try await PersistentLedger.load(from: store as! any LedgerStore).books.snapshot
            #expect(after.balance(of: .user("kim", .available, "USDC")) == d("10"))
            #expect(after.transactions.map(\.memo) == ["paper funding"])
            await store.close()
        }
    }

    /// A posting added behind the ledger's back (an INSERT is the one change the tables allow)
    /// unbalances its transaction: the books still load, and the reconciliation says DRIFT.
    @Test(arguments: Backend.available)
    func aCorruptedStoredRowIsReportedAsDrift(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store = try await open()
            let ledger = try await PersistentLedger.load(from: store as! any LedgerStore)
            try await ledger.append(Self.deposit("dep-1", "kim", "100"))
            #expect(ledger.reconcile().ok)
            let forged = "INSERT INTO ledger_postings (transaction_id, leg, user_id, account_kind, asset, amount) VALUES ('dep-1', 2, 'kim', 'available', 'USDC', '7')"
            if let s = store as? SQLiteStore {
                _ = try await s.execute(forged)
            } else if let p = store as? PostgresStore {
                try await p.executeRaw(forged)
            }
            await store.close()

            let again = try await open()
            let r = try await PersistentLedger.load(from: again as! any LedgerStore).reconcile()
            #expect(!r.ok)
            #expect(r.asset("USDC")?.total == LedgerSum(d("7")))
            #expect(r.asset("USDC")?.fundingDrift == LedgerSum(d("7")))
            #expect(r.description.hasPrefix("DRIFT: USDC balances sum to 7, not 0"), "\(r)")
            await again.close()
        }
    }
}
