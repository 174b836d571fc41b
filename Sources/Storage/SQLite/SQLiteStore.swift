import Synchronization
import Foundation
public import Logging
import MarketCore
import SQLiteNIO

/// The embedded store: one SQLite file in WAL mode (CONTRACTS.md "Store": times as ISO-8601 text
/// plus `time_ns`, decimals as exact text, booleans 0/1, book levels as JSON).
///
/// Writes go through one connection, serialized, one transaction per batch. Reads use a second
/// connection, so in WAL mode they see committed batches only and never wait for a writer.
public final class SQLiteStore: MarketStore {
    public var backend: StoreBackend { .sqlite }
    /// The database file.
    public let path: String
    private let writer: SQLiteConnection
    /// The same connection as `writer` for `:memory:` (a second connection would see another database).
    private let reader: SQLiteConnection
    /// Set by close(): deinit must not close the handles a second time.
    private let handlesClosed = Mutex(false)
    private let gate = SQLiteGate()
    private let logger: Logger
    private let layouts: [StoreTable: SQLiteTableLayout]

    /// How long a statement waits for another process's lock before failing with SQLITE_BUSY.
    public static let busyTimeoutMilliseconds = 5_000

    /// Opens (creating when missing, parent folders included) the database file at `path`.
    /// Call ``migrate()`` before writing.
    public init(path: String, logger: Logger = Logger(label: "MarketGateway.SQLiteStore")) async throws {
        self.path = path
        self.logger = logger
        var layouts: [StoreTable: SQLiteTableLayout] = [:]
        for t in StoreTable.allCases { layouts[t] = SQLiteTableLayout(t) }
        self.layouts = layouts

        let inMemory = path == ":memory:"
        if !inMemory {
            let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        let writer = try await SQLiteConnection.open(storage: inMemory ? .memory : .file(path: path), logger: logger)
        var reader = writer
        do {
            try await Self.configure(writer, path: path, logger: logger, wal: !inMemory)
            if !inMemory {
                reader = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
                try await Self.configure(reader, path: path, logger: logger, wal: false)
                _ = try await reader.query("PRAGMA query_only = 1")
            }
        } catch {
            // A connection must be closed before it is released (sqlite-nio asserts it).
            try? await reader.close()
            try? await writer.close()
            throw error
        }
        self.writer = writer
        self.reader = reader
    }

    private static func configure(_ c: SQLiteConnection, path: String, logger: Logger, wal: Bool) async throws {
        // Replaces sqlite-nio's retry-forever busy handler with a bounded wait.
        _ = try await c.query("PRAGMA busy_timeout = \(busyTimeoutMilliseconds)")
        if wal {
            let mode = try await c.query("PRAGMA journal_mode = WAL").first?.columns.first?.data.string
            if mode?.lowercased() != "wal" {
                logger.warning("SQLite did not switch to WAL mode", metadata: ["path": "\(path)", "mode": "\(mode ?? "?")"])
            }
        }
        // With WAL, NORMAL is durable against application crashes and much faster than FULL.
        _ = try await c.query("PRAGMA synchronous = NORMAL")
        // SQLite ignores REFERENCES unless this is on (per connection; sqlite-nio's build leaves it off).
        _ = try await c.query("PRAGMA foreign_keys = ON")
    }

    deinit {
        // Without close() the handles would be released open (sqlite-nio asserts). Closing a
        // closed connection again crashes inside sqlite-nio, so only when close() did not run.
        guard !handlesClosed.withLock({ $0 }) else { return }
        let writer = self.writer
        let reader = self.reader
        Task {
            if reader !== writer { try? await reader.close() }
            try? await writer.close()
        }
    }

    // MARK: migrations

    public func migrate() async throws -> MigrationReport {
        let migrations = try Migrations.load(.sqlite)
        let applied = try await withWriter { c in try await Self.migrate(c, migrations, logger: self.logger) }
        let report = MigrationReport(backend: .sqlite, applied: applied, skipped: [])
        logger.info("\(report)", metadata: ["path": "\(path)"])
        return report
    }

    private static func migrate(_ c: SQLiteConnection, _ migrations: [Migration], logger: Logger) async throws -> [Int] {
        _ = try await c.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)
            """)
        var recorded: [Int: String] = [:]
        for row in try await c.query("SELECT version, checksum FROM schema_migrations") {
            guard let v = row.columns[0].data.integer, let sum = row.columns[1].data.string else { continue }
            recorded[Int(v)] = sum
        }
        // Every applied migration must still match its file before anything new is applied.
        for m in migrations {
            if let sum = recorded[m.version] { try checkChecksum(m, recorded: sum) }
        }
        let known = Set(migrations.map(\.version))
        if let unknown = recorded.keys.filter({ !known.contains($0) }).max() {
            logger.warning("the database has a migration this build does not know", metadata: ["version": "\(unknown)"])
        }
        var applied: [Int] = []
        for m in migrations where recorded[m.version] == nil {
            let didApply = try await transaction(c) {
                // Another process may have applied it since the check above.
                let rows = try await c.query("SELECT checksum FROM schema_migrations WHERE version = ?", [.integer(m.version)])
                if let sum = rows.first?.columns.first?.data.string {
                    try checkChecksum(m, recorded: sum)
                    return false
                }
                // sqlite-nio prepares only the first statement of a text: run them one by one.
                for statement in m.statements {
                    do {
                        _ = try await c.query(statement)
                    } catch {
                        throw MigrationError("migration \(m.version) (\(m.name)) failed: \(error)")
                    }
                }
                _ = try await c.query(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
                    [.integer(m.version), .text(m.name), .text(m.checksum), .text(nowISO8601())])
                return true
            }
            if didApply { applied.append(m.version) }
        }
        return applied
    }

    private static func checkChecksum(_ m: Migration, recorded: String) throws(MigrationError) {
        guard recorded == m.checksum else {
            throw MigrationError(
                "migration \(m.version) (\(m.name)) was changed after it was applied: recorded checksum \(recorded), "
                    + "file checksum \(m.checksum); add a new migration instead of editing an applied one")
        }
    }

    private static func nowISO8601() -> String {
        UnixNanos.milliseconds(Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))).iso8601(fractionDigits: 3)
    }

    // MARK: writes

    public func write(_ batch: RowBatch) async throws {
        guard !batch.isEmpty, let layout = layouts[batch.table] else { return }
        // Convert every row first: a bad row fails the batch before the database is touched.
        var statements: [(sql: String, binds: [SQLiteData])] = []
        var binds: [SQLiteData] = []
        var rowsInChunk = 0
        binds.reserveCapacity(layout.rowsPerStatement * layout.bindsPerRow)
        for (i, line) in batch.lines.enumerated() {
            try layout.appendBinds(line: line, rowNumber: i + 1, to: &binds)
            rowsInChunk += 1
            if rowsInChunk == layout.rowsPerStatement {
                statements.append((layout.fullChunkSQL, binds))
                binds.removeAll(keepingCapacity: true)
                rowsInChunk = 0
            }
        }
        if rowsInChunk > 0 { statements.append((layout.insertSQL(rows: rowsInChunk), binds)) }
        try await withWriter { c in
            try await Self.transaction(c) {
                for s in statements { _ = try await c.query(s.sql, s.binds) }
            }
        }
    }

    /// `body` in one transaction; BEGIN IMMEDIATE takes the write lock up front, so a concurrent
    /// process makes us wait (busy timeout) instead of failing halfway.
    static func transaction<T>(_ c: SQLiteConnection, _ body: () async throws -> T) async throws -> T {
        _ = try await c.query("BEGIN IMMEDIATE")
        do {
            let result = try await body()
            _ = try await c.query("COMMIT")
            return result
        } catch {
            _ = try? await c.query("ROLLBACK")
            throw error
        }
    }

    // MARK: reads

    // Not optimized: Swift 6.3.1 crashes (signal 11, LLVM coroutine splitting) compiling this
    // async function with -O. It runs once per history request; the query dominates.
    @_optimize(none)
    public func candles(_ query: CandleQuery) async throws -> [StoredCandle] {
        guard let table = StoreTable.candles(query.interval) else { throw StoreQueryError.unsupportedInterval(query.interval) }
        let interval: Interval = table == .candles1m ? .oneMinute : .fiveMinutes
        let limit = min(max(query.limit, 1), CandleQuery.maxLimit)
        let (sql, binds) = Self.candleSelect(table: table, query: query, limit: limit)
        let rows = try await withReader { c in try await c.query(sql, binds) }
        var out: [StoredCandle] = []
        out.reserveCapacity(rows.count)
        for row in rows {
            let cols = row.columns.map(\.data)
            guard cols.count == 12, let start = cols[0].integer, let trades = cols[9].integer, let revision = cols[10].integer,
                let complete = cols[11].integer
            else { throw SQLiteStoreError("\(table.rawValue): unreadable row \(row)") }
            let decimals = cols[1...8].map { $0.string ?? "" }
            guard
                let candle = StoredCandle(
                    venue: query.venue, symbol: query.symbol, interval: interval, start: UnixNanos(Int64(start)),
                    decimals: decimals, trades: Int64(trades), revision: Int(revision), complete: complete != 0)
            else { throw SQLiteStoreError("\(table.rawValue): a stored decimal does not parse in row \(row)") }
            out.append(candle)
        }
        if query.from == nil { out.reverse() }
        return out
    }

    /// The candle SELECT and its binds.
    private static func candleSelect(table: StoreTable, query: CandleQuery, limit: Int) -> (String, [SQLiteData]) {
        var sql = """
            SELECT time_ns, open, high, low, close, volume, quote_volume, vwap, taker_buy_volume, trades, revision, complete
            FROM \(table.rawValue) WHERE venue = ? AND symbol = ?
            """
        var binds: [SQLiteData] = [.text(query.venue), .text(query.symbol)]
        for (bound, op) in [(query.from, ">="), (query.to, "<")] {
            guard let bound else { continue }
            sql += " AND time_ns \(op) ?"
            binds.append(.integer(SQLiteInt64(bound.rawValue)))
        }
        // Without `from`, the latest `limit` rows: read newest first, then reverse.
        sql += query.from == nil ? " ORDER BY time_ns DESC LIMIT ?" : " ORDER BY time_ns ASC LIMIT ?"
        binds.append(.integer(limit))
        return (sql, binds)
    }

    public func latestBookSnapshot(venue: String, symbol: String) async throws -> StoredBookSnapshot? {
        let rows = try await withReader { c in
            try await c.query(
                """
                SELECT time_ns, time, bids, asks FROM order_book_snapshots
                WHERE venue = ? AND symbol = ? ORDER BY time_ns DESC LIMIT 1
                """, [.text(venue), .text(symbol)])
        }
        guard let row = rows.first else { return nil }
        let cols = row.columns.map(\.data)
        guard cols.count == 4, let ns = cols[0].integer, let timeText = cols[1].string,
            let bids = cols[2].string.flatMap(LevelsJSON.decode), let asks = cols[3].string.flatMap(LevelsJSON.decode)
        else { throw SQLiteStoreError("order_book_snapshots: unreadable row for \(venue) \(symbol) at \(row)") }
        return StoredBookSnapshot(venue: venue, symbol: symbol, time: UnixNanos(Int64(ns)), timeText: timeText, bids: bids, asks: asks)
    }

    public func recentTrades(venue: String, symbol: String, limit: Int) async throws -> [StoredTradeMark] {
        let rows = try await withReader { c in
            try await c.query(
                "SELECT trade_id, time_ns, price FROM trades WHERE venue = ? AND symbol = ? ORDER BY time_ns DESC LIMIT ?",
                [.text(venue), .text(symbol), .integer(limit)])
        }
        return rows.compactMap { row in
            let cols = row.columns.map(\.data)
            guard cols.count == 3, let id = cols[0].string, let ns = cols[1].integer, let price = cols[2].string else { return nil }
            return StoredTradeMark(id: id, time: UnixNanos(Int64(ns)), price: price)
        }
    }

    public func count(_ table: StoreTable) async throws -> Int {
        let rows = try await withReader { c in try await c.query("SELECT count(*) FROM \(table.rawValue)") }
        guard let n = rows.first?.columns.first?.data.integer else { throw SQLiteStoreError("count(*) of \(table) returned nothing") }
        return Int(n)
    }

    /// Waits for running reads and writes (and writes already queued), then closes the file.
    public func close() async {
        guard await gate.close() else { return }
        handlesClosed.withLock { $0 = true }
        do {
            if reader !== writer { try await reader.close() }
            try await writer.close()
        } catch {
            logger.warning("closing the SQLite store failed", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    /// Runs one statement on the write connection, values as text (tests and diagnostics).
    func execute(_ sql: String, _ binds: [String] = []) async throws -> [[String?]] {
        let rows = try await withWriter { c in try await c.query(sql, binds.map { .text($0) }) }
        return rows.map { $0.columns.map(\.data.string) }
    }

    // MARK: connection access

    func withWriter<T>(_ body: (SQLiteConnection) async throws -> T) async throws -> T {
        try await gate.enterWrite()
        do {
            let result = try await body(writer)
            await gate.exitWrite()
            return result
        } catch {
            await gate.exitWrite()
            throw error
        }
    }

    func withReader<T>(_ body: (SQLiteConnection) async throws -> T) async throws -> T {
        try await gate.enterRead()
        do {
            let result = try await body(reader)
            await gate.exitRead()
            return result
        } catch {
            await gate.exitRead()
            throw error
        }
    }
}
