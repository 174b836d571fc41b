import Logging
import MarketCore
import PostgresNIO

/// TimescaleDB settings (DESIGN.md "Storage"), applied after the migrations whenever the extension
/// is in use: retention per table, compression age, and the window the 1h/1d aggregates are
/// refreshed over. Intervals are PostgreSQL interval texts (`7 days`, `36 hours`).
public struct TimescalePolicies: Sendable, Hashable {
    /// Use TimescaleDB when `CREATE EXTENSION timescaledb` works (false: plain PostgreSQL even then;
    /// a database that already has the extension keeps it).
    public var enabled = true
    /// Chunks older than this are dropped, per table; a table not named keeps everything.
    public var retention: [String: String] = [
        "trades": "7 days",
        "order_book_snapshots": "7 days",
        "market_data_1m": "30 days",
        "agent_status_log": "90 days",
    ]
    /// Chunks older than this are compressed (trades, candles, book snapshots).
    public var compressAfter = "3 days"
    /// The 1h/1d aggregates are refreshed over the last this-long every 15 minutes, so a late
    /// revision of a 1m candle reaches them. Keep it shorter than the 1m retention: refreshing a
    /// range whose 1m rows are gone would empty the aggregate there.
    public var aggregateRefreshWindow = "7 days"

    public init() {}

    /// Tables the retention setting may name.
    public static let retentionTables = ["trades", "order_book_snapshots", "market_data_1m", "market_data_5m", "agent_status_log", "pretrade_log"]
    /// Tables compressed by the compression policy.
    public static let compressedTables = ["market_data_1m", "market_data_5m", "trades", "order_book_snapshots"]
}

/// Whether this database can run on TimescaleDB, and if not, why and what the operator can do.
struct TimescaleUsability: Sendable {
    var usable: Bool
    /// Short reason for the start-up line when not usable.
    var note: String?
    /// What the operator must do (logged as a warning) when the extension is there but unusable.
    var advice: String?
}

extension PostgresStore {
    // MARK: detection

    /// Decides by whether the extension can really be created, not by `pg_available_extensions`:
    /// installed but not preloaded, `CREATE EXTENSION` fails (FATAL: it also ends the session), and
    /// the TimescaleDB migrations would then fail on every start. The trial runs on a connection of
    /// its own, in a transaction that is rolled back.
    func timescaleUsability(_ conn: PostgresConnection) async throws -> TimescaleUsability {
        if try await timescaleVersion(conn) != nil { return TimescaleUsability(usable: true) }
        guard policies.enabled else {
            return TimescaleUsability(usable: false, note: "TimescaleDB turned off in the configuration")
        }
        var available = false
        for try await (n,) in try await conn.query(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'", logger: logger
        ).decode((Int64,).self) {
            available = n > 0
        }
        guard available else {
            return TimescaleUsability(
                usable: false, note: "TimescaleDB is not installed on the server",
                advice: nil)
        }
        do {
            let trial = try await PostgresConnection.connect(
                configuration: configuration.connectionConfiguration(), id: 7_274_636, logger: logger)
            do {
                try await trial.query("BEGIN", logger: logger)
                try await trial.query("CREATE EXTENSION IF NOT EXISTS timescaledb", logger: logger)
                try await trial.query("ROLLBACK", logger: logger)
            } catch {
                try? await trial.close()
                throw error
            }
            try await trial.close()
            return TimescaleUsability(usable: true)
        } catch {
            let message = PostgresProbe.describe(error)
            let database = configuration.database ?? "the database"
            let todo: String
            if message.contains("preload") {
                todo =
                    "add timescaledb to shared_preload_libraries in postgresql.conf (shared_preload_libraries = 'timescaledb'; "
                    + "SHOW config_file names the file) and restart PostgreSQL, then restart the gateway"
            } else if message.contains("permission denied") || message.contains("must be owner") || message.contains("superuser") {
                todo = "have a superuser run CREATE EXTENSION timescaledb in \(database), then restart the gateway"
            } else {
                todo = "make CREATE EXTENSION timescaledb work in \(database), then restart the gateway"
            }
            return TimescaleUsability(
                usable: false, note: "TimescaleDB is installed but CREATE EXTENSION timescaledb fails",
                advice:
                    "store: TimescaleDB is installed on the server but cannot be used: CREATE EXTENSION timescaledb fails with: "
                    + "\(message). Running on plain PostgreSQL (same tables, no hypertables, compression or aggregates). "
                    + "To use TimescaleDB: \(todo); the tables then become hypertables, keeping their rows.")
        }
    }

    public func currentBackend() async throws -> StoreBackend {
        let rows = try await client.query("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'", logger: logger)
        var backend = StoreBackend.postgresql
        for try await (n,) in rows.decode((Int64,).self) where n > 0 { backend = .timescaledb }
        return backend
    }

    /// The installed extension's version in this database, or `nil`.
    func timescaleVersion(_ conn: PostgresConnection) async throws -> String? {
        for try await (v,) in try await conn.query(
            "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'", logger: logger
        ).decode((String,).self) {
            return v
        }
        return nil
    }

    // MARK: policies

    /// (Re)applies the configured policies, so a changed configuration takes effect on the next start.
    func applyPolicies(_ conn: PostgresConnection) async throws {
        var sql = ""
        for table in TimescalePolicies.retentionTables {
            sql += "SELECT remove_retention_policy(\(Self.literal(table)), if_exists => TRUE);\n"
            if let interval = policies.retention[table] {
                sql += "SELECT add_retention_policy(\(Self.literal(table)), INTERVAL \(Self.literal(interval)));\n"
            }
        }
        for table in TimescalePolicies.compressedTables {
            sql += "SELECT remove_compression_policy(\(Self.literal(table)), if_exists => TRUE);\n"
            sql += "SELECT add_compression_policy(\(Self.literal(table)), INTERVAL \(Self.literal(policies.compressAfter)));\n"
        }
        for (view, endOffset) in [("market_data_1h", "1 hour"), ("market_data_1d", "1 day")] {
            // Buckets newer than end_offset come from real-time aggregation.
            sql += """
                SELECT remove_continuous_aggregate_policy(\(Self.literal(view)), if_exists => TRUE);
                SELECT add_continuous_aggregate_policy(\(Self.literal(view)),
                    start_offset => INTERVAL \(Self.literal(policies.aggregateRefreshWindow)),
                    end_offset => INTERVAL \(Self.literal(endOffset)), schedule_interval => INTERVAL '15 minutes');

                """
        }
        try await conn.query("BEGIN", logger: logger)
        do {
            for statement in Migration.split(sql) { try await conn.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            try await conn.query("COMMIT", logger: logger)
        } catch {
            _ = try? await conn.query("ROLLBACK", logger: logger)
            throw MigrationError("applying the TimescaleDB policies failed: \(PostgresProbe.describe(error))")
        }
    }

    // MARK: aggregate reads

    /// 1h/1d candles from the continuous aggregates (`market_data_1h`, `market_data_1d`), with the
    /// same meaning of `from`/`to`/`limit` and the same row values as ``MarketStore/aggregatedOHLCV(_:)``.
    func aggregateCandles(_ query: CandleQuery, view: String) async throws -> [StoredCandle] {
        let aggregator = try CandleAggregator(interval: query.interval, partInterval: .oneMinute)
        let limit = min(query.limit, CandleQuery.maxLimit)
        guard limit > 0 else { return [] }
        var binds = PostgresBindings()
        binds.append(query.venue)
        binds.append(query.symbol)
        var sql = """
            SELECT (extract(epoch FROM time) * 1000000)::int8, open::text, high::text, low::text, close::text,
                   volume::text, quote_volume::text, trades, taker_buy_volume::text, revision::int8, parts, parts_complete
            FROM \(view) WHERE venue = $1 AND symbol = $2
            """
        if let from = query.from {
            binds.append(query.interval.bucketStart(from).iso8601(fractionDigits: 9))
            sql += " AND time >= $\(binds.count)::timestamptz"
        }
        if let to = query.to {
            binds.append(to.iso8601(fractionDigits: 9))
            sql += " AND time < $\(binds.count)::timestamptz"
        }
        sql += query.from == nil ? " ORDER BY time DESC" : " ORDER BY time ASC"
        sql += " LIMIT \(limit)"
        var out: [StoredCandle] = []
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        for try await (us, o, h, l, c, v, qv, n, tb, revision, parts, complete) in rows.decode(
            (Int64, String, String, String, String, String, String, Int64, String, Int64, Int64, Bool).self)
        {
            let start = UnixNanos.microseconds(us)
            // vwap is a placeholder here; the partial recomputes it as the aggregator does.
            guard
                let sums = StoredCandle(
                    venue: query.venue, symbol: query.symbol, interval: .oneMinute, start: start,
                    decimals: [o, h, l, c, v, qv, c, tb], trades: n, revision: Int(revision), complete: complete)
            else { throw StoreQueryError("stored row cannot be read: \(view) \(query.venue) \(query.symbol) at \(us) µs") }
            var partial = CandleAggregator.Partial(sums, bucket: start)
            partial.parts = Int(parts)
            out.append(partial.candle(interval: query.interval, partsPerBucket: aggregator.partsPerBucket))
        }
        return query.from == nil ? out.reversed() : out
    }
}
