import Foundation
import Logging
import PostgresNIO
import Storage

/// Storage write throughput (BENCHMARKS.md "Storage writes (COPY vs row-at-a-time INSERT)").
///
/// Rows per second into PostgreSQL, for trades and for 1m candles, in one run:
/// - the COPY writer, `PostgresStore.write(RowBatch)` (COPY text into a temporary staging table,
///   then `INSERT … SELECT … ON CONFLICT`, one transaction per batch), batches of 1,000, 5,000
///   (the `StoreWriter` default) and 20,000 rows;
/// - the original design's way: one parameterized single-row `INSERT` per row, autocommit, on
///   one connection (and, as a stronger row-at-a-time reference, the same with a prepared
///   statement).
///
/// Rows come from the real Binance BTCUSDT capture, replayed through the gateway, cycled with
/// distinct ids and times. Every run starts on empty tables (TRUNCATE, CHECKPOINT) and ends with
/// a row count check; before any timing, both methods write the same rows and the stored
/// contents are compared. The database is created for the run (through the admin URL) and
/// dropped afterwards.
///
/// `StoreBench timescale` runs the TimescaleDB figures instead (``TimescaleBench``: hypertables vs
/// plain tables, bytes per row before and after compression, the 1-day query; docs/storage.md).
/// On a server that preloads TimescaleDB the default run writes into hypertables.
///
/// Environment: MARKETGATEWAY_TEST_POSTGRES_URL and MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL
/// (scripts/with-postgres.sh sets both); STOREBENCH_TRADES (200000), STOREBENCH_CANDLES (50000),
/// STOREBENCH_BASELINE_ROWS (20000), STOREBENCH_REPEATS (3), STOREBENCH_CAPTURE (a .jsonl[.gz]
/// capture; default feeds/binance-spot-btcusdt-2024-08-08.jsonl.gz).
@main
struct StoreBench {
    static func main() async {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["MARKETGATEWAY_TEST_POSTGRES_URL"], !url.isEmpty else {
            fail(
                """
                MARKETGATEWAY_TEST_POSTGRES_URL is not set. StoreBench needs a PostgreSQL server it may create \
                a database on; run it next to a throwaway one:
                  cd Benchmarks && bash ../scripts/with-postgres.sh swift run -c release -Xswiftc -Osize StoreBench
                (-Osize: Swift 6.3.1 crashes compiling the Storage module with -O; BENCHMARKS.md "Storage writes")
                """, status: 2)
        }
        guard let adminURL = environment["MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL"], !adminURL.isEmpty else {
            fail(
                """
                MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL is not set. StoreBench creates (and drops) its own database \
                through that superuser URL, because it TRUNCATEs the market-data tables between runs; \
                scripts/with-postgres.sh sets it.
                """, status: 2)
        }
        let settings: Settings
        do {
            settings = try Settings(environment: environment, url: url, adminURL: adminURL)
        } catch {
            fail("\(error)", status: 2)
        }
        do {
            if CommandLine.arguments.dropFirst().first == "timescale" {
                try await TimescaleBench(settings: settings).run()
            } else {
                try await Bench(settings: settings).run()
            }
        } catch {
            fail("\(String(reflecting: error))", status: 1)
        }
    }

    static func fail(_ message: String, status: Int32) -> Never {
        FileHandle.standardError.write(Data(("StoreBench: " + message + "\n").utf8))
        exit(status)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct Settings {
    var configuration: PostgresConfiguration
    var admin: PostgresConfiguration
    var trades: Int
    var candles: Int
    var baselineRows: Int
    var repeats: Int
    var capture: String
    var copyBatchSizes = [1_000, 5_000, 20_000]
    /// The batch size the ratio and the target use (`StoreWriter`'s default `batchRows`).
    var headlineBatch = 20_000

    init(environment: [String: String], url: String, adminURL: String, file: StaticString = #filePath) throws {
        configuration = try PostgresConfiguration(url: url)
        admin = try PostgresConfiguration(url: adminURL)
        configuration.applicationName = "storebench"
        admin.applicationName = "storebench-admin"
        func count(_ name: String, _ fallback: Int) throws -> Int {
            guard let text = environment[name] else { return fallback }
            guard let n = Int(text), n > 0 else { throw BenchError("\(name)=\(text) is not a positive whole number") }
            return n
        }
        trades = try count("STOREBENCH_TRADES", 200_000)
        candles = try count("STOREBENCH_CANDLES", 50_000)
        baselineRows = try count("STOREBENCH_BASELINE_ROWS", 20_000)
        repeats = try count("STOREBENCH_REPEATS", 3)
        if let path = environment["STOREBENCH_CAPTURE"] {
            capture = path
        } else {
            // <repo>/Benchmarks/StoreBench/Sources/StoreBench.swift → <repo>/feeds/…
            var parts = "\(file)".split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            parts.removeLast(4)
            capture = parts.joined(separator: "/") + "/feeds/binance-spot-btcusdt-2024-08-08.jsonl.gz"
        }
    }
}

/// One method on one table: the seconds of each repeat.
struct Measurement {
    var method: String
    var table: StoreTable
    var rows: Int
    var seconds: [Double] = []

    var rates: [Double] { seconds.map { Double(rows) / $0 }.sorted() }
    var medianRate: Double { median(rates) }
    var medianSeconds: Double { median(seconds.sorted()) }

    private func median(_ sorted: [Double]) -> Double {
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

final class Bench {
    let settings: Settings
    let logger: Logger
    let clock = ContinuousClock()
    let database: String
    var benchConfiguration: PostgresConfiguration

    init(settings: Settings) {
        self.settings = settings
        var logger = Logger(label: "storebench")
        logger.logLevel = .warning
        self.logger = logger
        database = "storebench_\(getpid())"
        benchConfiguration = settings.configuration
        benchConfiguration.database = database
    }

    // MARK: run

    func run() async throws {
        let s = settings
        say("StoreBench: PostgreSQL write throughput, COPY writer vs one INSERT per row")
        say("capture: \(s.capture)")
        let capture = try CaptureRows(path: s.capture)
        let trades = SyntheticRows.trades(from: capture.trades, count: s.trades)
        let candles = SyntheticRows.candles(from: capture.candles, count: s.candles)
        say(
            "  \(grouped(capture.trades.count)) real trades → \(grouped(trades.count)) rows (\(trades.cycles) copies, "
                + "each shifted by \(trades.span / 60_000_000_000) min, ids continuing the venue's sequence); "
                + "StoreRowEncoder \(grouped(Int(Double(trades.count) / trades.encodeSeconds))) rows/s")
        say(
            "  \(grouped(capture.candles.count)) real closed 1m candles → \(grouped(candles.count)) rows (\(candles.cycles) copies, "
                + "each shifted by \(candles.span / 60_000_000_000) min); "
                + "StoreRowEncoder \(grouped(Int(Double(candles.count) / candles.encodeSeconds))) rows/s")
        let baselineRows = (trades: min(s.baselineRows, trades.count), candles: min(s.baselineRows, candles.count))

        // The database, with the gateway's own migrations.
        let admin = try await connect(s.admin, id: 1)
        try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(database)"), logger: logger)
        say("database: \(database) on \(s.configuration.host):\(s.configuration.port) (created for this run)")
        do {
            try await measure(trades: trades, candles: candles, baselineRows: baselineRows)
        } catch {
            _ = try? await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"), logger: logger)
            try? await admin.close()
            throw error
        }
        try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"), logger: logger)
        try await admin.close()
        say("database \(database) dropped; load average \(loadAverage())")
    }

    func measure(trades: SyntheticRows, candles: SyntheticRows, baselineRows: (trades: Int, candles: Int)) async throws {
        let s = settings
        let store = PostgresStore(configuration: benchConfiguration, logger: logger)
        let report = try await store.migrate()
        say("migrations: \(report)")
        let control = try await connect(benchConfiguration, id: 2)
        let baseline = try await connect(benchConfiguration, id: 3)

        // The server as this run found it.
        var server: [String: String] = [:]
        for name in ["server_version", "fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_wal_size", "wal_level"] {
            server[name] = try await show(name, on: control)
        }
        say(
            "server: PostgreSQL \(server["server_version"]!), fsync=\(server["fsync"]!), "
                + "synchronous_commit=\(server["synchronous_commit"]!), full_page_writes=\(server["full_page_writes"]!), "
                + "shared_buffers=\(server["shared_buffers"]!), max_wal_size=\(server["max_wal_size"]!), wal_level=\(server["wal_level"]!)")
        if server["fsync"] == "off" || server["synchronous_commit"] == "off" {
            say(
                "  NOTE: a throwaway server: fsync=\(server["fsync"]!) and synchronous_commit=\(server["synchronous_commit"]!) "
                    + "make every commit cheap; on a durable server each per-row commit also waits for a WAL flush to disk. "
                    + "The synchronous_commit=on runs at the end add the wait for the WAL write (not the flush: fsync stays off).")
        }
        say("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; client and server on loopback; load average \(loadAverage())")

        let sql = (trades: SingleRowInsert.sql(.trades), candles: SingleRowInsert.sql(.candles1m))
        let binds = (
            trades: SingleRowInsert.bindings(.trades, lines: trades.lines[0..<baselineRows.trades]),
            candles: SingleRowInsert.bindings(.candles1m, lines: candles.lines[0..<baselineRows.candles])
        )
        say("baseline SQL (trades):  \(sql.trades)")
        say("baseline SQL (candles): \(sql.candles)")
        var batches: [StoreTable: [Int: [RowBatch]]] = [:]
        for rows in [trades, candles] {
            for size in s.copyBatchSizes { batches[rows.table, default: [:]][size] = rows.batches(size: size) }
        }

        // Check (and warm up both paths): the same rows through both methods store the same data.
        say("check: the first rows through both methods, stored contents compared ...")
        for (rows, n, statement, bindings) in [
            (trades, baselineRows.trades, sql.trades, binds.trades), (candles, baselineRows.candles, sql.candles, binds.candles),
        ] {
            try await empty(rows.table, control)
            for batch in rows.batches(size: s.headlineBatch, rows: n) { try await store.write(batch) }
            try await expect(rows.table, n, after: "COPY check", control)
            let viaCopy = try await fingerprint(rows.table, control)
            try await empty(rows.table, control)
            try await SingleRowInsert.run(statement, bindings, on: baseline, logger: logger)
            try await expect(rows.table, n, after: "INSERT check", control)
            let viaInsert = try await fingerprint(rows.table, control)
            try await empty(rows.table, control)
            try await SingleRowInsert.runPrepared(rows.table, Array(bindings.prefix(1_000)), on: baseline, logger: logger)
            try await expect(rows.table, 1_000, after: "prepared INSERT check", control)
            guard viaCopy == viaInsert else {
                throw BenchError("\(rows.table): COPY and INSERT stored different data (md5 \(viaCopy) vs \(viaInsert))")
            }
            say("  \(rows.table): \(grouped(n)) rows, same contents both ways (md5 \(viaCopy.prefix(12))…)")
        }

        // The measurements, interleaved so drift hits every method alike.
        let copyLabel = { (size: Int) in "COPY writer, \(grouped(size)) rows/batch" }
        let insertLabel = "INSERT per row (original design)"
        let preparedLabel = "INSERT per row, prepared stmt"
        var results: [Measurement] = []
        for rows in [trades, candles] {
            for size in s.copyBatchSizes { results.append(Measurement(method: copyLabel(size), table: rows.table, rows: rows.count)) }
            let n = rows.table == .trades ? baselineRows.trades : baselineRows.candles
            results.append(Measurement(method: insertLabel, table: rows.table, rows: n))
            results.append(Measurement(method: preparedLabel, table: rows.table, rows: n))
        }
        say("measuring: \(s.repeats) repeats, each on empty tables ...")
        for repeatIndex in 1...s.repeats {
            for i in results.indices {
                let m = results[i]
                let bindings = m.table == .trades ? binds.trades : binds.candles
                let statement = m.table == .trades ? sql.trades : sql.candles
                let seconds: Double
                if let size = s.copyBatchSizes.first(where: { copyLabel($0) == m.method }) {
                    seconds = try await timeCopy(batches[m.table]![size]!, rows: m.rows, table: m.table, store, control)
                } else if m.method == insertLabel {
                    seconds = try await timeInsert(statement, bindings, table: m.table, baseline, control)
                } else {
                    seconds = try await timePrepared(bindings, table: m.table, baseline, control)
                }
                results[i].seconds.append(seconds)
                say(
                    "  [\(repeatIndex)/\(s.repeats)] \(m.table) \(m.method): \(grouped(m.rows)) rows in "
                        + "\(String(format: "%.3f", seconds)) s = \(grouped(Int(Double(m.rows) / seconds))) rows/s")
            }
        }

        // Diagnostic: the COPY writer's statements timed one by one, and a direct COPY for reference.
        say("breakdown: the COPY writer's statements one by one (\(grouped(s.headlineBatch)) rows/batch), and a direct COPY ...")
        let diag = try await connect(benchConfiguration, id: 5)
        var breakdowns: [(StoreTable, Breakdown, Double)] = []
        for rows in [trades, candles] {
            let batchList = batches[rows.table]![s.headlineBatch]!
            try await empty(rows.table, control)
            let split = try await Breakdown.run(batchList, on: diag, logger: logger)
            try await expect(rows.table, rows.count, after: "breakdown", control)
            try await empty(rows.table, control)
            let direct = try await Breakdown.directCopy(batchList, on: diag, logger: logger)
            try await expect(rows.table, rows.count, after: "direct COPY", control)
            breakdowns.append((rows.table, split, direct))
        }
        try await diag.close()

        // synchronous_commit = on for the session (fsync stays off at server level): the store's
        // connections get it from the database default, the baseline connection from SET.
        say("synchronous_commit = on (fsync stays \(server["fsync"]!)): one run of each ...")
        try await control.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(database) SET synchronous_commit = on"), logger: logger)
        let syncStore = PostgresStore(configuration: benchConfiguration, logger: logger)
        let probe = try await connect(benchConfiguration, id: 4)
        let storeSessions = try await show("synchronous_commit", on: probe)
        try await probe.close()
        try await baseline.query("SET synchronous_commit = on", logger: logger)
        let baselineSession = try await show("synchronous_commit", on: baseline)
        guard storeSessions == "on", baselineSession == "on" else {
            throw BenchError("synchronous_commit is \(storeSessions) for new sessions and \(baselineSession) on the baseline connection, expected on")
        }
        // Warm the new pool (connection, staging table) outside the timing.
        try await syncStore.write(trades.batches(size: 1_000, rows: 1_000)[0])
        var syncResults: [Measurement] = []
        for rows in [trades, candles] {
            let n = rows.table == .trades ? baselineRows.trades : baselineRows.candles
            var copy = Measurement(method: copyLabel(s.headlineBatch), table: rows.table, rows: rows.count)
            copy.seconds.append(try await timeCopy(batches[rows.table]![s.headlineBatch]!, rows: rows.count, table: rows.table, syncStore, control))
            var insert = Measurement(method: insertLabel, table: rows.table, rows: n)
            insert.seconds.append(
                try await timeInsert(
                    rows.table == .trades ? sql.trades : sql.candles, rows.table == .trades ? binds.trades : binds.candles,
                    table: rows.table, baseline, control))
            syncResults += [copy, insert]
        }
        await syncStore.close()
        try await baseline.query("RESET synchronous_commit", logger: logger)
        try await control.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(database) RESET synchronous_commit"), logger: logger)

        try await baseline.close()
        try await control.close()
        await store.close()

        // Report.
        say("")
        say(
            "Results: PostgreSQL \(server["server_version"]!) on loopback, fsync=\(server["fsync"]!), "
                + "synchronous_commit=\(server["synchronous_commit"]!) (server), median of \(s.repeats) runs, each on empty tables")
        printTable(results, showRange: true)
        say("")
        for table in [StoreTable.trades, .candles1m] {
            let copy = results.first { $0.table == table && $0.method == copyLabel(s.headlineBatch) }!
            let insert = results.first { $0.table == table && $0.method == insertLabel }!
            let prepared = results.first { $0.table == table && $0.method == preparedLabel }!
            let best = results.filter { $0.table == table && $0.method.hasPrefix("COPY") }.max { $0.medianRate < $1.medianRate }!
            say(
                "ratio \(table): COPY (\(grouped(s.headlineBatch))/batch) / INSERT per row = "
                    + "\(String(format: "%.1f", copy.medianRate / insert.medianRate))×"
                    + "  (vs prepared INSERT: \(String(format: "%.1f", copy.medianRate / prepared.medianRate))×; "
                    + "best batch size \(best.method.dropFirst("COPY writer, ".count)): "
                    + "\(String(format: "%.1f", best.medianRate / insert.medianRate))×)")
        }
        let tradeCopy = results.first { $0.table == .trades && $0.method == copyLabel(s.headlineBatch) }!
        let tradeInsert = results.first { $0.table == .trades && $0.method == insertLabel }!
        let ratio = tradeCopy.medianRate / tradeInsert.medianRate
        say(
            "target (trades, COPY \(grouped(s.headlineBatch))/batch): ≥ 100,000 rows/s: "
                + (tradeCopy.medianRate >= 100_000 ? "met" : "NOT met") + " (\(grouped(Int(tradeCopy.medianRate)))); "
                + "≥ 10× INSERT per row: " + (ratio >= 10 ? "met" : "NOT met") + " (\(String(format: "%.1f", ratio))×)")
        say("")
        say("Where a COPY writer batch spends its time (\(grouped(s.headlineBatch)) rows/batch, statements timed one by one on a plain connection, one run):")
        for (table, b, direct) in breakdowns {
            func part(_ name: String, _ seconds: Double) -> String {
                "\(name) \(String(format: "%.3f", seconds)) s (\(Int((seconds / b.total * 100).rounded())) %)"
            }
            say(
                "  \(table): \(grouped(b.rows)) rows in \(String(format: "%.3f", b.total)) s = \(grouped(Int(Double(b.rows) / b.total))) rows/s: "
                    + [part("COPY into staging", b.copy), part("INSERT … SELECT … ON CONFLICT", b.upsert),
                       part("BEGIN + CREATE TEMP TABLE IF NOT EXISTS + COMMIT", b.begin + b.createStage + b.commit)].joined(separator: ", "))
            say(
                "  \(table): reference, COPY straight into the table (no staging, no ON CONFLICT): "
                    + "\(String(format: "%.3f", direct)) s = \(grouped(Int(Double(b.rows) / direct))) rows/s")
        }
        say("")
        say("synchronous_commit = on for the session (fsync=\(server["fsync"]!) at server level), one run each:")
        printTable(syncResults, showRange: false)
        for table in [StoreTable.trades, .candles1m] {
            let copy = syncResults.first { $0.table == table && $0.method.hasPrefix("COPY") }!
            let insert = syncResults.first { $0.table == table && $0.method == insertLabel }!
            let offInsert = results.first { $0.table == table && $0.method == insertLabel }!
            let offCopy = results.first { $0.table == table && $0.method == copy.method }!
            say(
                "ratio \(table) (synchronous_commit=on): COPY / INSERT per row = "
                    + "\(String(format: "%.1f", copy.medianRate / insert.medianRate))×; rows/s on ÷ off (median): "
                    + "INSERT per row \(String(format: "%.2f", insert.medianRate / offInsert.medianRate)), "
                    + "COPY writer \(String(format: "%.2f", copy.medianRate / offCopy.medianRate))")
        }
    }

    // MARK: timed runs (each on an empty table, checked afterwards)

    func timeCopy(_ batches: [RowBatch], rows: Int, table: StoreTable, _ store: PostgresStore, _ control: PostgresConnection)
        async throws -> Double
    {
        try await empty(table, control)
        let start = clock.now
        for batch in batches { try await store.write(batch) }
        let elapsed = (clock.now - start).seconds
        try await expect(table, rows, after: "COPY", control)
        return elapsed
    }

    func timeInsert(
        _ sql: String, _ bindings: [PostgresBindings], table: StoreTable, _ connection: PostgresConnection,
        _ control: PostgresConnection
    ) async throws -> Double {
        try await empty(table, control)
        let start = clock.now
        try await SingleRowInsert.run(sql, bindings, on: connection, logger: logger)
        let elapsed = (clock.now - start).seconds
        try await expect(table, bindings.count, after: "INSERT per row", control)
        return elapsed
    }

    func timePrepared(_ bindings: [PostgresBindings], table: StoreTable, _ connection: PostgresConnection, _ control: PostgresConnection)
        async throws -> Double
    {
        try await empty(table, control)
        let start = clock.now
        try await SingleRowInsert.runPrepared(table, bindings, on: connection, logger: logger)
        let elapsed = (clock.now - start).seconds
        try await expect(table, bindings.count, after: "prepared INSERT per row", control)
        return elapsed
    }

    // MARK: database helpers

    func connect(_ configuration: PostgresConfiguration, id: Int) async throws -> PostgresConnection {
        try await PostgresConnection.connect(configuration: configuration.connectionConfiguration(), id: id, logger: logger)
    }

    /// TRUNCATE, then CHECKPOINT so no run pays for the previous run's dirty pages.
    func empty(_ table: StoreTable, _ control: PostgresConnection) async throws {
        try await control.query(PostgresQuery(unsafeSQL: "TRUNCATE \(table.rawValue)"), logger: logger)
        try await control.query("CHECKPOINT", logger: logger)
    }

    func expect(_ table: StoreTable, _ rows: Int, after what: String, _ control: PostgresConnection) async throws {
        var stored = -1
        for try await (n,) in try await control.query(
            PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table.rawValue)"), logger: logger
        ).decode((Int64,).self) {
            stored = Int(n)
        }
        guard stored == rows else {
            throw BenchError("\(table) holds \(stored) rows after \(what), expected \(rows)")
        }
    }

    /// md5 over every stored column (not `updated_at`) of every row, in key order.
    func fingerprint(_ table: StoreTable, _ control: PostgresConnection) async throws -> String {
        let columns = table.columns.map(\.name).joined(separator: ", ")
        let key = table.key.joined(separator: ", ")
        let sql = "SELECT md5(coalesce(string_agg(concat_ws('|', \(columns)), E'\\n' ORDER BY \(key)), '')) FROM \(table.rawValue)"
        for try await (md5,) in try await control.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode((String,).self) {
            return md5
        }
        throw BenchError("no fingerprint for \(table)")
    }

    func show(_ setting: String, on connection: PostgresConnection) async throws -> String {
        for try await (value,) in try await connection.query(PostgresQuery(unsafeSQL: "SHOW \(setting)"), logger: logger)
            .decode((String,).self)
        {
            return value
        }
        throw BenchError("SHOW \(setting) returned nothing")
    }

    // MARK: output

    func printTable(_ results: [Measurement], showRange: Bool) {
        var rows: [[String]] = [
            ["method", "table", "rows", "seconds", "rows/s"] + (showRange ? ["min–max rows/s"] : [])
        ]
        for m in results {
            var row = [
                m.method, m.table.rawValue, grouped(m.rows), String(format: "%.3f", m.medianSeconds), grouped(Int(m.medianRate)),
            ]
            if showRange { row.append("\(grouped(Int(m.rates.first!)))–\(grouped(Int(m.rates.last!)))") }
            rows.append(row)
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max()! }
        for (r, row) in rows.enumerated() {
            let cells = row.enumerated().map { c, text in
                let pad = String(repeating: " ", count: widths[c] - text.count)
                return c < 2 ? text + pad : pad + text  // text left, numbers right
            }
            say("| " + cells.joined(separator: " | ") + " |")
            if r == 0 {
                say("|" + widths.enumerated().map { c, w in String(repeating: "-", count: w + 1) + (c < 2 ? "-" : ":") }.joined(separator: "|") + "|")
            }
        }
    }
}

/// 1234567 → "1,234,567".
func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

/// One output line, written at once (no stdio buffering: progress shows through a pipe, and
/// nothing printed is lost if the process dies).
func say(_ line: String = "") {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// The first three fields of /proc/loadavg (1, 5, 15 minutes), or "unknown".
func loadAverage() -> String {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "unknown" }
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}
