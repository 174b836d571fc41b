import Foundation
import Logging
import MarketCore
import PostgresNIO
import SQLiteNIO
import Services
import Storage

/// The double-entry ledger's figures (issue 22; docs/performance.md "Ledger"), on SQLite and on
/// PostgreSQL in one run:
///
/// 1. **Transactions/s through the paper-trading path**: `ExecutionService.deposit` from
///    `LEDGERBENCH_CONCURRENCY` tasks (one user each), every call awaited until the account journal
///    has stored it. One call = the checks, one balanced ledger transaction (2 postings) appended to
///    the in-memory books under the accounts' lock, and one database transaction (the ledger rows
///    and the balance row) written by the journal, which stores entries one at a time in order.
/// 2. **Transactions/s of the ledger alone**: `PersistentLedger.append`, one at a time, a fill-shaped
///    transaction of 5 postings (2 assets) per call, each its own database transaction.
/// 3. **Reconciliation of `LEDGERBENCH_POSTINGS` postings** (1,000,000): the postings are
///    bulk-inserted straight into the ledger tables by SQL (server-side `generate_series` on
///    PostgreSQL, a recursive CTE on SQLite; balanced 2-leg `deposit` transactions over 1,000 users
///    and 2 assets), not through the API. Timed: loading them (`LedgerStore.ledgerTransactions()`,
///    decoding, `Ledger(restoring:)`, what start-up does) and `Ledger.reconcile()` itself (what the
///    periodic check does on the live books); the result must be `ok` with every posting counted.
///
/// Each part runs on a fresh database: a temporary SQLite file (WAL, synchronous=NORMAL, as the
/// gateway opens it), and a PostgreSQL database created through the admin URL and dropped after.
/// Without MARKETGATEWAY_TEST_POSTGRES_URL / _ADMIN_URL (scripts/with-postgres.sh sets both) only
/// SQLite runs. Environment: LEDGERBENCH_TRANSACTIONS (20000), LEDGERBENCH_CONCURRENCY (16),
/// LEDGERBENCH_POSTINGS (1000000), LEDGERBENCH_REPEATS (3), LEDGERBENCH_BACKENDS (sqlite,postgres).
@main
struct LedgerBench {
    static func main() async {
        let env = ProcessInfo.processInfo.environment
        do {
            let s = try Settings(env)
            var logger = Logger(label: "ledgerbench")
            logger.logLevel = .warning
            say("LedgerBench: \(s.transactions) transactions (\(s.concurrency) concurrent users), reconciliation of \(grouped(s.postings)) postings, \(s.repeats) repeats")
            say("load average at start: \(loadAverage())")
            if s.backends.contains("sqlite") { try await SQLiteRun(settings: s, logger: logger).run() }
            if s.backends.contains("postgres") {
                if let url = env["MARKETGATEWAY_TEST_POSTGRES_URL"], let admin = env["MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL"], !url.isEmpty,
                    !admin.isEmpty
                {
                    try await PostgresRun(settings: s, url: url, adminURL: admin, logger: logger).run()
                } else {
                    say(
                        "PostgreSQL: skipped (MARKETGATEWAY_TEST_POSTGRES_URL / _ADMIN_URL not set; run under "
                            + "bash ../scripts/with-postgres.sh)")
                }
            }
            say("load average at end: \(loadAverage())")
        } catch {
            FileHandle.standardError.write(Data("LedgerBench: \(String(reflecting: error))\n".utf8))
            exit(1)
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct Settings {
    var transactions: Int
    var concurrency: Int
    var postings: Int
    var repeats: Int
    var backends: Set<String>

    init(_ env: [String: String]) throws {
        func count(_ name: String, _ fallback: Int) throws -> Int {
            guard let text = env[name] else { return fallback }
            guard let n = Int(text), n > 0 else { throw BenchError("\(name)=\(text) is not a positive whole number") }
            return n
        }
        transactions = try count("LEDGERBENCH_TRANSACTIONS", 20_000)
        concurrency = try count("LEDGERBENCH_CONCURRENCY", 16)
        postings = try count("LEDGERBENCH_POSTINGS", 1_000_000)
        repeats = try count("LEDGERBENCH_REPEATS", 3)
        backends = Set((env["LEDGERBENCH_BACKENDS"] ?? "sqlite,postgres").split(separator: ",").map(String.init))
        guard postings % 2 == 0 else { throw BenchError("LEDGERBENCH_POSTINGS must be even (2-leg transactions)") }
    }
}

/// What one backend needs: a fresh, migrated store per part, and the bulk insert.
protocol Backend {
    var name: String { get }
    var settings: Settings { get }
    var logger: Logger { get }
    /// A fresh, migrated store; `body` runs on it, then it is closed and removed.
    func withFreshStore(_ label: String, _ body: (any AccountStore & LedgerStore) async throws -> Void) async throws
    /// Inserts `transactions` balanced 2-leg transactions straight into the ledger tables.
    func bulkInsert(transactions: Int, into store: any AccountStore & LedgerStore) async throws
}

extension Backend {
    func runParts() async throws {
        say("== \(name)")
        try await withFreshStore("journal") { store in try await journalPath(store) }
        try await withFreshStore("ledger") { store in try await ledgerOnly(store) }
        try await withFreshStore("reconcile") { store in try await reconciliation(store) }
    }

    /// Part 1: `ExecutionService.deposit`, awaited until stored, from `concurrency` users at once.
    func journalPath(_ store: any AccountStore & LedgerStore) async throws {
        let journal = AccountJournal(store: store, logger: logger)
        let writer = Task { await journal.run() }
        defer { writer.cancel() }
        let execution = ExecutionService(market: MarketView(), journal: journal, bus: nil, logger: logger)
        let users = (0..<settings.concurrency).map { "bench\($0)" }
        for u in users { _ = try await execution.createUser(id: u, name: u) }
        let perUser = settings.transactions / settings.concurrency
        var rates: [Double] = []
        var total = 0
        for r in 1...settings.repeats {
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for u in users {
                    group.addTask {
                        for i in 0..<perUser {
                            // 1.xx: amounts with fraction digits, never zero.
                            _ = try await execution.deposit(user: u, asset: "USDC", amount: WideDecimal.parse("1.\(i % 100)")!)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let seconds = (ContinuousClock.now - start).seconds
            let n = perUser * users.count
            total += n
            rates.append(Double(n) / seconds)
            say("  \(name) ExecutionService.deposit run \(r): \(grouped(n)) transactions in \(fmt(seconds)) s = \(grouped(Int(Double(n) / seconds)))/s")
        }
        let stored = try await store.ledgerTransactions()
        guard stored.count == total, stored.allSatisfy({ $0.postings.count == 2 }) else {
            throw BenchError("\(name): \(stored.count) ledger transactions stored, expected \(total) of 2 postings")
        }
        let r = execution.books.reconcile()
        guard r.ok else { throw BenchError("\(name): the books do not reconcile after the run: \(r)") }
        guard execution.ledgerDisagreements().isEmpty else { throw BenchError("\(name): accounts and ledger disagree") }
        say("  \(name) ExecutionService.deposit: median \(grouped(Int(median(rates)))) ledger transactions/s (all \(grouped(total)) stored; books reconcile)")
    }

    /// Part 2: `PersistentLedger.append`, one fill-shaped transaction (5 postings) at a time.
    func ledgerOnly(_ store: any AccountStore & LedgerStore) async throws {
        let ledger = try await PersistentLedger.load(from: store)
        var rates: [Double] = []
        var next = 0
        for r in 1...settings.repeats {
            let n = settings.transactions / 4
            let start = ContinuousClock.now
            for _ in 0..<n {
                next += 1
                try await ledger.append(fill(next))
            }
            let seconds = (ContinuousClock.now - start).seconds
            rates.append(Double(n) / seconds)
            say("  \(name) PersistentLedger.append run \(r): \(grouped(n)) transactions in \(fmt(seconds)) s = \(grouped(Int(Double(n) / seconds)))/s")
        }
        let stored = try await store.ledgerTransactions()
        guard stored.count == next else { throw BenchError("\(name): \(stored.count) transactions stored, expected \(next)") }
        let r = ledger.reconcile()
        guard r.ok else { throw BenchError("\(name): \(r)") }
        say("  \(name) PersistentLedger.append: median \(grouped(Int(median(rates)))) ledger transactions/s (5 postings each)")
    }

    /// A buy of 0.001 BTC for 60 USDC plus a 0.06 USDC fee, as `TradingPostings` posts a fill.
    func fill(_ i: Int) -> LedgerTransaction {
        let user = "u\(i % 100)"
        let notional = WideDecimal.parse("60.\(i % 1000)")!
        let fee = WideDecimal.parse("0.06")!
        let qty = WideDecimal.parse("0.001")!
        return LedgerTransaction(
            id: "fill-\(i)", time: UnixNanos(1_700_000_000_000_000_000 + Int64(i)), kind: .fill, memo: "bench",
            postings: [
                LedgerPosting(.user(user, .available, "USDC"), notional.adding(fee)!.negated),
                LedgerPosting(.house(.paperCounterparty, "USDC"), notional),
                LedgerPosting(.house(.houseFees, "USDC"), fee),
                LedgerPosting(.user(user, .holding, "BTC"), qty),
                LedgerPosting(.house(.paperCounterparty, "BTC"), qty.negated),
            ])
    }

    /// Part 3: bulk insert, then time the load and the reconciliation.
    func reconciliation(_ store: any AccountStore & LedgerStore) async throws {
        let transactions = settings.postings / 2
        let start = ContinuousClock.now
        try await bulkInsert(transactions: transactions, into: store)
        say("  \(name) bulk insert of \(grouped(settings.postings)) postings (\(grouped(transactions)) transactions, by SQL): \(fmt((ContinuousClock.now - start).seconds)) s")
        var loads: [Double] = []
        var checks: [Double] = []
        for r in 1...settings.repeats {
            let t0 = ContinuousClock.now
            let loaded = try await PersistentLedger.load(from: store)
            let t1 = ContinuousClock.now
            let result = loaded.books.snapshot.reconcile()
            let t2 = ContinuousClock.now
            let postings = loaded.books.snapshot.transactions.reduce(0) { $0 + $1.postings.count }
            guard result.ok, result.transactions == transactions, postings == settings.postings else {
                throw BenchError("\(name): reconciliation of the bulk postings: \(result) (\(postings) postings)")
            }
            loads.append((t1 - t0).seconds)
            checks.append((t2 - t1).seconds)
            say("  \(name) run \(r): load \(fmt((t1 - t0).seconds)) s, reconcile \(fmt((t2 - t1).seconds)) s: \(result)")
        }
        say(
            "  \(name) \(grouped(settings.postings)) postings: reconcile median \(fmt(median(checks))) s "
                + "(\(grouped(Int(Double(settings.postings) / median(checks)))) postings/s); load from the store median \(fmt(median(loads))) s")
    }
}

// MARK: SQLite

struct SQLiteRun: Backend {
    let settings: Settings
    let logger: Logger
    var name: String { "SQLite" }

    func run() async throws {
        let version = try await SQLiteConnection.open(storage: .memory, logger: logger)
        let v = try await version.query("SELECT sqlite_version()").first?.columns.first?.data.string ?? "?"
        try await version.close()
        say("SQLite \(v), a file in \(NSTemporaryDirectory()) (WAL, synchronous=NORMAL)")
        try await runParts()
    }

    func withFreshStore(_ label: String, _ body: (any AccountStore & LedgerStore) async throws -> Void) async throws {
        let path = NSTemporaryDirectory() + "ledgerbench-\(getpid())-\(label).sqlite"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let store = try await SQLiteStore(path: path, logger: logger)
        do {
            _ = try await store.migrate()
            try await body(store)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    func bulkInsert(transactions n: Int, into store: any AccountStore & LedgerStore) async throws {
        guard let store = store as? SQLiteStore else { throw BenchError("not a SQLite store") }
        let c = try await SQLiteConnection.open(storage: .file(path: store.path), logger: logger)
        _ = try await c.query("PRAGMA busy_timeout = 5000")
        let series = "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < \(n))"
        // 0.01 … 99.73, never zero; leg 0 credits a user, leg 1 debits the pool by as much.
        let amount = "printf('%d.%02d', (n % 9973 + 1) / 100, (n % 9973 + 1) % 100)"
        let asset = "CASE WHEN n % 2 = 0 THEN 'USDC' ELSE 'BTC' END"
        do {
            _ = try await c.query("BEGIN")
            _ = try await c.query(
                """
                \(series) INSERT INTO ledger_transactions (id, time, time_ns, kind, memo)
                SELECT 'bulk-' || n, '2023-11-14T22:13:20.000000000Z', 1700000000000000000 + n, 'deposit', 'bench' FROM g
                """)
            _ = try await c.query(
                """
                \(series) INSERT INTO ledger_postings (transaction_id, leg, user_id, account_kind, asset, amount)
                SELECT 'bulk-' || n, 0, 'u' || (n % 1000), 'available', \(asset), \(amount) FROM g
                """)
            _ = try await c.query(
                """
                \(series) INSERT INTO ledger_postings (transaction_id, leg, user_id, account_kind, asset, amount)
                SELECT 'bulk-' || n, 1, NULL, 'house_pool', \(asset), '-' || \(amount) FROM g
                """)
            _ = try await c.query("COMMIT")
        } catch {
            try? await c.close()
            throw error
        }
        try await c.close()
    }
}

// MARK: PostgreSQL

struct PostgresRun: Backend {
    let settings: Settings
    let logger: Logger
    let configuration: Storage.PostgresConfiguration
    let admin: Storage.PostgresConfiguration
    var name: String { "PostgreSQL" }

    init(settings: Settings, url: String, adminURL: String, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        configuration = try Storage.PostgresConfiguration(url: url)
        admin = try Storage.PostgresConfiguration(url: adminURL)
    }

    func run() async throws {
        let c = try await PostgresConnection.connect(configuration: admin.connectionConfiguration(), id: 1, logger: logger)
        var facts: [String] = []
        for name in ["server_version", "fsync", "synchronous_commit", "shared_buffers"] {
            for try await (v,) in try await c.query(PostgresQuery(unsafeSQL: "SHOW \(name)"), logger: logger).decode((String,).self) {
                facts.append("\(name)=\(v)")
            }
        }
        try await c.close()
        say("PostgreSQL on \(configuration.host):\(configuration.port): \(facts.joined(separator: ", "))")
        try await runParts()
    }

    func withFreshStore(_ label: String, _ body: (any AccountStore & LedgerStore) async throws -> Void) async throws {
        let database = "ledgerbench_\(getpid())_\(label)"
        let c = try await PostgresConnection.connect(configuration: admin.connectionConfiguration(), id: 2, logger: logger)
        try await c.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database)"), logger: logger)
        var conf = configuration
        conf.database = database
        let store = PostgresStore(configuration: conf, logger: logger)
        var failure: (any Error)?
        do {
            _ = try await store.migrate()
            try await body(store)
        } catch { failure = error }
        await store.close()
        _ = try? await c.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"), logger: logger)
        try? await c.close()
        if let failure { throw failure }
    }

    func bulkInsert(transactions n: Int, into store: any AccountStore & LedgerStore) async throws {
        guard store is PostgresStore else { throw BenchError("not a PostgreSQL store") }
        // The database withFreshStore("reconcile") created.
        var conf = configuration
        conf.database = "ledgerbench_\(getpid())_reconcile"
        let c = try await PostgresConnection.connect(configuration: conf.connectionConfiguration(), id: 3, logger: logger)
        let asset = "CASE WHEN g % 2 = 0 THEN 'USDC' ELSE 'BTC' END"
        do {
            try await c.query("BEGIN", logger: logger)
            try await c.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO ledger_transactions (id, time, time_ns, kind, memo)
                        SELECT 'bulk-' || g, to_timestamp(1700000000), 1700000000000000000 + g, 'deposit', 'bench'
                        FROM generate_series(1, \(n)) g ORDER BY g
                        """), logger: logger)
            try await c.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO ledger_postings (transaction_id, leg, user_id, account_kind, asset, amount)
                        SELECT 'bulk-' || g, l, CASE WHEN l = 0 THEN 'u' || (g % 1000) END,
                            CASE WHEN l = 0 THEN 'available' ELSE 'house_pool' END, \(asset),
                            (CASE WHEN l = 0 THEN 1 ELSE -1 END) * round(((g % 9973) + 1)::numeric / 100, 2)
                        FROM generate_series(1, \(n)) g CROSS JOIN generate_series(0, 1) l
                        """), logger: logger)
            try await c.query("COMMIT", logger: logger)
            try await c.query("ANALYZE ledger_transactions", logger: logger)
            try await c.query("ANALYZE ledger_postings", logger: logger)
        } catch {
            try? await c.close()
            throw error
        }
        try await c.close()
    }
}

// MARK: helpers

func say(_ line: String) { print(line) }

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    let n = s.count
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}

func fmt(_ seconds: Double) -> String { String(format: "%.3f", seconds) }

func grouped(_ n: Int) -> String {
    let digits = String(n)
    var out = ""
    for (i, c) in digits.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}

func loadAverage() -> String {
    (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
