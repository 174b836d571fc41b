public import Logging
import Foundation
import MarketCore
import NIOCore
import PostgresNIO
import Synchronization

/// ``MarketStore`` on PostgreSQL (plain, or TimescaleDB when `CREATE EXTENSION timescaledb` works).
///
/// Writes: one transaction per batch — `COPY` (text format) into a per-connection temporary
/// staging table, then one `INSERT … SELECT … ON CONFLICT` into the real table. Candles keep the
/// highest revision per (venue, symbol, time), at equal revisions the copy with more trades; trades
/// and snapshots keep the first copy.
/// Connections come from PostgresNIO's pool (`PostgresClient`), which this store runs itself.
public final class PostgresStore: MarketStore {
    public let configuration: PostgresConfiguration
    public let policies: TimescalePolicies
    let client: PostgresClient
    private let runTask: Task<Void, Never>
    let logger: Logger
    let detectedBackend = Mutex(StoreBackend.postgresql)

    public var backend: StoreBackend { detectedBackend.withLock { $0 } }

    public init(
        configuration: PostgresConfiguration, maximumConnections: Int = 4, policies: TimescalePolicies = .init(),
        logger: Logger = Logger(label: "marketgateway.store")
    ) {
        self.configuration = configuration
        self.policies = policies
        self.logger = logger
        var clientConfiguration = configuration.clientConfiguration
        clientConfiguration.options.maximumConnections = maximumConnections
        if configuration.connectTimeout == nil { clientConfiguration.options.connectTimeout = .seconds(5) }
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        self.client = client
        runTask = Task { await client.run() }
    }

    deinit { runTask.cancel() }

    public func close() async {
        runTask.cancel()
        await runTask.value
    }

    // MARK: migrations

    public func migrate() async throws -> MigrationReport {
        let migrations = try Migrations.load(.postgres)
        return try await client.withConnection { conn in
            try await conn.query(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: logger)
            // One migrator at a time (several gateways may start together); session-level lock.
            try await conn.query("SELECT pg_advisory_lock(7274636701)", logger: logger)
            do {
                let report = try await self.migrate(conn, migrations)
                try await conn.query("SELECT pg_advisory_unlock(7274636701)", logger: logger)
                return report
            } catch {
                _ = try? await conn.query("SELECT pg_advisory_unlock(7274636701)", logger: logger)
                throw error
            }
        }
    }

    private func migrate(_ conn: PostgresConnection, _ migrations: [Migration]) async throws -> MigrationReport {
        var applied: [Int: String] = [:]
        for try await (version, checksum) in try await conn.query(
            "SELECT version, checksum FROM schema_migrations", logger: logger
        ).decode((Int32, String).self) {
            applied[Int(version)] = checksum
        }
        let timescale = try await timescaleUsability(conn)
        let useTimescale = timescale.usable

        var report = MigrationReport(backend: .postgresql, applied: [], skipped: [], timescaleNote: nil)
        for m in migrations {
            if let recorded = applied[m.version] {
                guard recorded == m.checksum else {
                    throw MigrationError(
                        "migration \(m.version) (\(m.name)) was changed after it was applied (checksum \(recorded) → \(m.checksum)); add a new migration instead")
                }
                continue
            }
            if m.requiresTimescaleDB && !useTimescale {
                report.skipped.append(m.version)
                continue
            }
            let record = "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(m.version), \(Self.literal(m.name)), \(Self.literal(m.checksum)))"
            // One transaction per file, one statement per query (PostgresNIO's protocol).
            try await conn.query("BEGIN", logger: logger)
            do {
                for statement in m.statements + [record] {
                    try await conn.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await conn.query("COMMIT", logger: logger)
            } catch {
                _ = try? await conn.query("ROLLBACK", logger: logger)
                throw MigrationError("migration \(m.version) (\(m.name)) failed: \(String(reflecting: error))")
            }
            report.applied.append(m.version)
        }

        let version = try await timescaleVersion(conn)
        report.backend = version == nil ? .postgresql : .timescaledb
        report.timescaleNote = version.map { "extension \($0)" } ?? timescale.note
        detectedBackend.withLock { $0 = report.backend }
        if version != nil { try await applyPolicies(conn) }
        if let advice = timescale.advice, version == nil {
            logger.warning("\(advice)")
        }
        logger.notice("\(report)")
        return report
    }

    /// A SQL string literal for our own constant texts (names, checksums, intervals).
    static func literal(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    // MARK: writes

    public func write(_ batch: RowBatch) async throws {
        guard !batch.isEmpty else { return }
        let table = batch.table
        let statements = Self.statements[table]!
        try await client.withConnection { conn in
            try await conn.query("BEGIN", logger: logger)
            do {
                try await conn.query(statements.createStage, logger: logger)
                try await conn.copyFrom(table: statements.stage, columns: statements.columns, logger: logger) { writer in
                    var buffer = ByteBufferAllocator().buffer(capacity: batch.bytes.count)
                    buffer.writeBytes(batch.bytes)
                    try await writer.write(buffer)
                }
                try await conn.query(statements.upsert, logger: logger)
                try await conn.query("COMMIT", logger: logger)
            } catch {
                _ = try? await conn.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    struct Statements {
        let stage: String
        let columns: [String]
        let createStage: PostgresQuery
        let upsert: PostgresQuery
    }

    static let statements: [StoreTable: Statements] = {
        var out: [StoreTable: Statements] = [:]
        for table in StoreTable.allCases {
            let name = table.rawValue
            let stage = "stage_\(name)"
            let columns = table.columns.map(\.name)
            let list = columns.joined(separator: ", ")
            let key = table.key.joined(separator: ", ")
            let upsert: String
            switch table.conflict {
            case .keepLatestRevision:
                let updates = columns.filter { !table.key.contains($0) }.map { "\($0) = EXCLUDED.\($0)" }
                // DISTINCT ON: a batch may hold several revisions of one bucket; keep the newest.
                // At the same revision the copy with more trades stays: two ingest nodes store the
                // same buckets, and one that connected mid-bucket has only part of its first one
                // (one writer never stores fewer trades at the same revision).
                upsert = """
                    INSERT INTO \(name) AS t (\(list))
                    SELECT DISTINCT ON (\(key)) \(list) FROM \(stage) ORDER BY \(key), revision DESC, trades DESC
                    ON CONFLICT (\(key)) DO UPDATE SET \(updates.joined(separator: ", ")), updated_at = now()
                    WHERE EXCLUDED.revision > t.revision OR (EXCLUDED.revision = t.revision AND EXCLUDED.trades >= t.trades)
                    """
            case .ignore:
                upsert = "INSERT INTO \(name) (\(list)) SELECT \(list) FROM \(stage) ON CONFLICT (\(key)) DO NOTHING"
            }
            out[table] = Statements(
                stage: stage, columns: columns,
                createStage: PostgresQuery(
                    unsafeSQL: "CREATE TEMP TABLE IF NOT EXISTS \(stage) (LIKE \(name) INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"),
                upsert: PostgresQuery(unsafeSQL: upsert))
        }
        return out
    }()

    // MARK: reads

    public func candles(_ query: CandleQuery) async throws -> [StoredCandle] {
        guard let table = StoreTable.candles(query.interval) else { throw StoreQueryError.unsupportedInterval(query.interval) }
        var binds = PostgresBindings()
        binds.append(query.venue)
        binds.append(query.symbol)
        var sql = """
            SELECT (extract(epoch FROM time) * 1000000)::int8, open::text, high::text, low::text, close::text,
                   volume::text, quote_volume::text, trades, vwap::text, taker_buy_volume::text, revision::int8, complete
            FROM \(table.rawValue) WHERE venue = $1 AND symbol = $2
            """
        if let from = query.from {
            binds.append(from.iso8601(fractionDigits: 9))
            sql += " AND time >= $\(binds.count)::timestamptz"
        }
        if let to = query.to {
            binds.append(to.iso8601(fractionDigits: 9))
            sql += " AND time < $\(binds.count)::timestamptz"
        }
        let limit = max(1, min(query.limit, CandleQuery.maxLimit))
        // Without `from`, the latest `limit` candles: read newest first, return oldest first.
        sql += query.from == nil ? " ORDER BY time DESC" : " ORDER BY time ASC"
        sql += " LIMIT \(limit)"
        var out: [StoredCandle] = []
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        for try await (us, o, h, l, c, v, qv, n, vwap, tb, revision, complete) in rows.decode(
            (Int64, String, String, String, String, String, String, Int64, String, String, Int64, Bool).self)
        {
            guard
                let candle = StoredCandle(
                    venue: query.venue, symbol: query.symbol, interval: query.interval, start: .microseconds(us),
                    decimals: [o, h, l, c, v, qv, vwap, tb], trades: n, revision: Int(revision), complete: complete)
            else { throw StoreQueryError("stored row cannot be read: " + "\(table.rawValue) \(query.venue) \(query.symbol) at \(us) µs") }
            out.append(candle)
        }
        return query.from == nil ? out.reversed() : out
    }

    /// 1h and 1d from the continuous aggregates on TimescaleDB; everything else as every store does.
    public func ohlcv(_ query: CandleQuery) async throws -> [StoredCandle] {
        let views: [Int64: String] = [3_600_000_000_000: "market_data_1h", 86_400_000_000_000: "market_data_1d"]
        guard backend == .timescaledb, let view = views[query.interval.nanoseconds] else {
            return try await aggregatedOHLCV(query)
        }
        if let from = query.from, let to = query.to, from >= to { return [] }
        return try await aggregateCandles(query, view: view)
    }

    public func latestBookSnapshot(venue: String, symbol: String) async throws -> StoredBookSnapshot? {
        let rows = try await client.query(
            """
            SELECT (extract(epoch FROM time) * 1000000)::int8, bids::text, asks::text FROM order_book_snapshots
            WHERE venue = \(venue) AND symbol = \(symbol) ORDER BY time DESC LIMIT 1
            """, logger: logger)
        for try await (us, bids, asks) in rows.decode((Int64, String, String).self) {
            let time = UnixNanos.microseconds(us)
            return StoredBookSnapshot(
                venue: venue, symbol: symbol, time: time,
                timeText: time.iso8601(fractionDigits: Venue(venue).timeFractionDigits),
                bids: try Self.levels(bids), asks: try Self.levels(asks))
        }
        return nil
    }

    static func levels(_ text: String) throws -> [[String]] {
        guard let levels = PostgresArrayLiteral.parseLevels(text) else {
            throw StoreQueryError("stored book levels cannot be read: \(text.prefix(40))")
        }
        return levels
    }

    public func recentTrades(venue: String, symbol: String, limit: Int) async throws -> [StoredTradeMark] {
        let rows = try await client.query(
            """
            SELECT trade_id, (extract(epoch FROM time) * 1000000)::int8, price::text FROM trades
            WHERE venue = \(venue) AND symbol = \(symbol) ORDER BY time DESC LIMIT \(limit)
            """, logger: logger)
        var out: [StoredTradeMark] = []
        for try await (id, us, price) in rows.decode((String, Int64, String).self) {
            out.append(StoredTradeMark(id: id, time: UnixNanos.microseconds(us), price: price))
        }
        return out
    }

    public func count(_ table: StoreTable) async throws -> Int {
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table.rawValue)"), logger: logger)
        for try await (n,) in rows.decode((Int64,).self) { return Int(n) }
        return 0
    }
}
