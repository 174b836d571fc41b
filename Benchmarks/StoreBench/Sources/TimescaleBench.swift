import Feeds
import Foundation
import Logging
import MarketCore
import PostgresNIO
import Storage

/// `StoreBench timescale` (docs/storage.md "Figures"): what TimescaleDB costs and buys, in one run
/// on one server (it must preload TimescaleDB):
///
/// 1. COPY writer rows/s into hypertables vs plain tables: two databases, one migrated with
///    TimescaleDB, one with it turned off (`TimescalePolicies.enabled = false`), the same synthetic
///    rows (trades, 1m candles), 20,000-row batches, runs interleaved, median of the repeats.
/// 2. Bytes per stored row for one day of trades and of top-20 book snapshots (one a second), the
///    capture cycled to fill 24 hours: table + indexes + TOAST, before and after `compress_chunk`.
/// 3. The time of a 1-day 1m `ohlcv` read (1,440 candles through `PostgresStore.ohlcv`) from
///    uncompressed and from compressed chunks, median of STOREBENCH_QUERY_REPEATS (51).
///
/// Environment as for the write benchmark, plus STOREBENCH_QUERY_REPEATS.
final class TimescaleBench {
    let settings: Settings
    let logger: Logger
    let clock = ContinuousClock()
    let pid = getpid()

    init(settings: Settings) {
        self.settings = settings
        var logger = Logger(label: "storebench")
        logger.logLevel = .warning
        self.logger = logger
    }

    func run() async throws {
        let s = settings
        say("StoreBench timescale: hypertables vs plain tables, compression, 1-day query")
        say("capture: \(s.capture)")
        let capture = try CaptureRows(path: s.capture, books: true)
        let admin = try await PostgresConnection.connect(
            configuration: s.admin.connectionConfiguration(), id: 1, logger: logger)
        let names = ["storebench_ts_\(pid)", "storebench_plain_\(pid)", "storebench_day_\(pid)"]
        for name in names { try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger) }
        do {
            try await writes(capture: capture, timescale: names[0], plain: names[1])
            try await day(capture: capture, database: names[2])
        } catch {
            for name in names { _ = try? await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger) }
            try? await admin.close()
            throw error
        }
        for name in names { try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger) }
        try await admin.close()
        say("databases dropped; load average \(loadAverage())")
    }

    func configuration(_ database: String) -> PostgresConfiguration {
        var c = settings.configuration
        c.database = database
        return c
    }

    // MARK: 1. write throughput

    func writes(capture: CaptureRows, timescale: String, plain: String) async throws {
        let s = settings
        let trades = SyntheticRows.trades(from: capture.trades, count: s.trades)
        let candles = SyntheticRows.candles(from: capture.candles, count: s.candles)
        var off = TimescalePolicies()
        off.enabled = false
        let stores = [
            ("hypertables (TimescaleDB)", PostgresStore(configuration: configuration(timescale), logger: logger)),
            ("plain tables", PostgresStore(configuration: configuration(plain), policies: off, logger: logger)),
        ]
        for (label, store) in stores {
            let report = try await store.migrate()
            say("\(label): \(report)")
        }
        guard stores[0].1.backend == .timescaledb else {
            throw BenchError("the server does not preload TimescaleDB: \(stores[0].1.backend); start it with scripts/with-postgres.sh after scripts/ensure-timescaledb.sh")
        }
        say("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; load average \(loadAverage())")
        say("rows: \(grouped(trades.count)) trades, \(grouped(candles.count)) 1m candles; \(grouped(s.headlineBatch)) rows/batch; \(s.repeats) repeats, interleaved")
        var results: [Measurement] = []
        for (label, _) in stores {
            results.append(Measurement(method: label, table: .trades, rows: trades.count))
            results.append(Measurement(method: label, table: .candles1m, rows: candles.count))
        }
        let control = [
            try await PostgresConnection.connect(configuration: configuration(timescale).connectionConfiguration(), id: 2, logger: logger),
            try await PostgresConnection.connect(configuration: configuration(plain).connectionConfiguration(), id: 3, logger: logger),
        ]
        for r in 1...s.repeats {
            for i in results.indices {
                let m = results[i]
                let k = stores.firstIndex { $0.0 == m.method }!
                let rows = m.table == .trades ? trades : candles
                try await control[k].query(PostgresQuery(unsafeSQL: "TRUNCATE \(m.table.rawValue)"), logger: logger)
                try await control[k].query("CHECKPOINT", logger: logger)
                let start = clock.now
                for batch in rows.batches(size: s.headlineBatch) { try await stores[k].1.write(batch) }
                let seconds = (clock.now - start).seconds
                let stored = try await stores[k].1.count(m.table)
                guard stored == rows.count else { throw BenchError("\(m.method) \(m.table): \(stored) rows stored, expected \(rows.count)") }
                results[i].seconds.append(seconds)
                say("  [\(r)/\(s.repeats)] \(m.table) into \(m.method): \(String(format: "%.3f", seconds)) s = \(grouped(Int(Double(rows.count) / seconds))) rows/s")
            }
        }
        say("")
        say("| table | into | rows | seconds (median) | rows/s (median) | min–max rows/s |")
        say("|---|---|--:|--:|--:|--:|")
        for m in results {
            say(
                "| \(m.table) | \(m.method) | \(grouped(m.rows)) | \(String(format: "%.3f", m.medianSeconds)) | \(grouped(Int(m.medianRate))) | "
                    + "\(grouped(Int(m.rates.first!)))–\(grouped(Int(m.rates.last!))) |")
        }
        for table in [StoreTable.trades, .candles1m] {
            let h = results.first { $0.table == table && $0.method.hasPrefix("hyper") }!
            let p = results.first { $0.table == table && $0.method.hasPrefix("plain") }!
            say("ratio \(table): hypertables / plain = \(String(format: "%.2f", h.medianRate / p.medianRate))")
        }
        say("")
        for c in control { try await c.close() }
        for (_, store) in stores { await store.close() }
    }

    // MARK: 2 + 3. one day: bytes per row, compressed and not; the 1-day query

    func day(capture: CaptureRows, database: String) async throws {
        let config = configuration(database)
        let store = PostgresStore(configuration: config, logger: logger)
        _ = try await store.migrate()
        let control = try await PostgresConnection.connect(configuration: config.connectionConfiguration(), id: 4, logger: logger)
        let dayNanos: Int64 = 86_400_000_000_000
        let tradeSpan = SyntheticRows.wholeMinutes(capture.trades.map(\.eventTime.rawValue))
        let tradeCount = Int(Double(capture.trades.count) * Double(dayNanos) / Double(tradeSpan))
        let trades = SyntheticRows.trades(from: capture.trades, count: tradeCount)
        let books = SyntheticRows.snapshots(from: capture.books, count: 86_400)
        let candles = SyntheticRows.candles(from: capture.candles, count: 1_440)
        say("one day: \(grouped(trades.count)) trades (the capture's rate, \(grouped(capture.trades.count)) trades in \(tradeSpan / 60_000_000_000) min, cycled), "
            + "\(grouped(books.count)) top-\(capture.books.first?.bids.count ?? 0) book snapshots (one a second), \(grouped(candles.count)) 1m candles")
        for rows in [trades, books, candles] {
            let start = clock.now
            for batch in rows.batches(size: settings.headlineBatch) { try await store.write(batch) }
            say("  stored \(grouped(rows.count)) \(rows.table) rows in \(String(format: "%.1f", (clock.now - start).seconds)) s")
        }
        try await control.query("VACUUM ANALYZE", logger: logger)

        func size(_ table: StoreTable) async throws -> (bytes: Int64, chunks: Int) {
            var out: (Int64, Int) = (0, 0)
            for try await (b, n) in try await control.query(
                PostgresQuery(unsafeSQL: "SELECT hypertable_size('\(table.rawValue)'), (SELECT count(*) FROM show_chunks('\(table.rawValue)'))::int8"),
                logger: logger
            ).decode((Int64, Int64).self) {
                out = (b, Int(n))
            }
            return out
        }
        let query = CandleQuery(
            venue: capture.candles.first!.instrument.venue.id, symbol: capture.candles.first!.instrument.symbol,
            interval: .oneMinute, from: candlesFirstStart(capture), limit: 1_440)
        func timeQuery() async throws -> (median: Double, rows: Int, answer: [String]) {
            var times: [Double] = []
            var answer: [String] = []
            for _ in 0..<queryRepeats {
                let start = clock.now
                let rows = try await store.ohlcv(query)
                times.append((clock.now - start).seconds)
                answer = rows.map(\.jsonLine)
            }
            times.sort()
            return (times[times.count / 2], answer.count, answer)
        }

        let uncompressedQuery = try await timeQuery()
        var before: [StoreTable: (Int64, Int)] = [:]
        for t in [StoreTable.trades, .bookSnapshots, .candles1m] { before[t] = try await size(t) }
        var compressed = 0
        for t in [StoreTable.trades, .bookSnapshots, .candles1m] {
            for try await (n,) in try await control.query(
                PostgresQuery(unsafeSQL: "SELECT count(compress_chunk(c, if_not_compressed => true))::int8 FROM show_chunks('\(t.rawValue)') c"),
                logger: logger
            ).decode((Int64,).self) {
                compressed += Int(n)
            }
        }
        try await control.query("VACUUM ANALYZE", logger: logger)
        var after: [StoreTable: (Int64, Int)] = [:]
        for t in [StoreTable.trades, .bookSnapshots, .candles1m] { after[t] = try await size(t) }
        let compressedQuery = try await timeQuery()
        guard compressedQuery.answer == uncompressedQuery.answer else {
            throw BenchError("the 1-day query answered differently from compressed chunks")
        }
        say("compressed \(compressed) chunks")
        say("")
        say("| table | rows | bytes/row uncompressed | bytes/row compressed | ratio |")
        say("|---|--:|--:|--:|--:|")
        for (t, rows) in [(StoreTable.trades, trades.count), (.bookSnapshots, books.count), (.candles1m, candles.count)] {
            let b = Double(before[t]!.0) / Double(rows)
            let a = Double(after[t]!.0) / Double(rows)
            say("| \(t) | \(grouped(rows)) | \(String(format: "%.1f", b)) | \(String(format: "%.1f", a)) | \(String(format: "%.1f", b / a))× |")
        }
        say("")
        say("1-day 1m ohlcv (\(uncompressedQuery.rows) candles, PostgresStore.ohlcv, median of \(queryRepeats)): "
            + "uncompressed \(String(format: "%.2f", uncompressedQuery.median * 1000)) ms, compressed \(String(format: "%.2f", compressedQuery.median * 1000)) ms; same answer")
        try await control.close()
        await store.close()
    }

    var queryRepeats: Int { Int(ProcessInfo.processInfo.environment["STOREBENCH_QUERY_REPEATS"] ?? "") ?? 51 }

    func candlesFirstStart(_ capture: CaptureRows) -> UnixNanos { capture.candles.first!.start }
}
