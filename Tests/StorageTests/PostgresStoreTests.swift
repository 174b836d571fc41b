import Foundation
import Logging
import MarketCore
import PostgresNIO
import Storage
import Testing
import _TestSupport

/// Writes every event as row batches of `batchRows`, like the writer does.
func writeAll(_ events: [MarketEvent], to store: any MarketStore, batchRows: Int = 2000) async throws {
    var encoder = StoreRowEncoder()
    var batches: [StoreTable: RowBatch] = [:]
    for event in events {
        guard let (table, line) = encoder.encode(event) else { continue }
        batches[table, default: RowBatch(table: table)].append(line: line)
        if batches[table]!.rows >= batchRows {
            try await store.write(batches[table]!)
            batches[table] = nil
        }
    }
    for batch in batches.values { try await store.write(batch) }
}

let quietLogger: Logger = {
    var logger = Logger(label: "StorageTests")
    logger.logLevel = .warning
    return logger
}()

@Suite(
    "PostgreSQL store",
    .enabled(if: TestPostgres.isConfigured, Comment(rawValue: TestPostgres.skipReason)),
    .serialized
)
struct PostgresStoreTests {
    static let capture = Fixtures.repository("feeds/binance-spot-btcusdt-2024-08-08.jsonl.gz")

    /// On both servers: TimescaleDB where it is preloaded; on the plain one (where the extension
    /// is installed but not preloaded, when it is installed) plain PostgreSQL with the
    /// TimescaleDB migrations skipped, not failed.
    @Test(.timeLimit(.minutes(2)), arguments: TestServer.allCases)
    func migrationsApplyFromEmptyAndAreIdempotent(server: TestServer) async throws {
        let admin = server == .timescale ? try await TestServer.requireTimescaleDB() : try server.requireAdmin()
        try await ScratchDatabase.with(admin: admin) { config in
            let store = PostgresStore(configuration: config, logger: quietLogger)
            let first = try await store.migrate()
            if server == .timescale {
                #expect(first.applied == [1, 2, 3, 4, 10, 11, 12, 14, 15, 16, 17, 18, 20, 21])
                #expect(first.backend == .timescaledb)
                #expect(store.backend == .timescaledb)
            } else {
                #expect(first.applied == [1, 2, 10, 11, 12, 14, 15, 16, 17, 18, 20, 21])
                #expect(first.skipped == [3, 4])
                #expect(first.backend == .postgresql)
                #expect(store.backend == .postgresql)
            }
            let second = try await store.migrate()
            #expect(second.applied.isEmpty)
            #expect(second.backend == first.backend)

            // Every table of CONTRACTS.md and DESIGN.md exists; no price or size is floating point.
            let rows = try await PostgresProbe.withClient(config, logger: quietLogger) { client in
                var out: [(String, String, String)] = []
                for try await row in try await client.query(
                    "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns WHERE table_schema = 'public'",
                    logger: quietLogger
                ).decode((String, String, String).self) { out.append(row) }
                return out
            }
            let tables = Set(rows.map(\.0))
            for t in ["market_data_1m", "market_data_5m", "trades", "order_book_snapshots", "trades_paper",
                      "agent_status_log", "users", "balances", "positions", "schema_migrations"] {
                #expect(tables.contains(t), "missing table \(t)")
            }
            #expect(!rows.contains { $0.2 == "double precision" || $0.2 == "real" }, "floating-point column: \(rows.filter { $0.2 == "double precision" || $0.2 == "real" })")
            let type = Dictionary(rows.map { ("\($0.0).\($0.1)", $0.2) }, uniquingKeysWith: { a, _ in a })
            #expect(type["market_data_1m.vwap"] == "numeric")
            #expect(type["trades.price"] == "numeric")
            #expect(type["trades.time"] == "timestamp with time zone")
            #expect(type["order_book_snapshots.bids"] == "ARRAY")
            await store.close()
        }
    }

    /// The replay's closed candles (latest revision per bucket) come back from the database
    /// exactly as the replay printed them, and writing everything twice changes nothing.
    @Test(.timeLimit(.minutes(3)), arguments: TestServer.allCases)
    func replayedCaptureRoundTripsAndIsIdempotent(server: TestServer) async throws {
        let replay = try ReplayedEvents(paths: [Self.capture])
        let expected1m = replay.finalCandleLines(interval: "1m")
        let expected5m = replay.finalCandleLines(interval: "5m")
        try #require(expected1m.count > 10 && !expected5m.isEmpty)
        let admin = server == .timescale ? try await TestServer.requireTimescaleDB() : try server.requireAdmin()
        try await ScratchDatabase.with(admin: admin) { config in
            let store = PostgresStore(configuration: config, logger: quietLogger)
            _ = try await store.migrate()
            try await writeAll(replay.events, to: store)

            let q1 = CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: .oneMinute, from: UnixNanos(0), limit: 5000)
            let stored1m = try await store.candles(q1).map(\.jsonLine)
            #expect(stored1m == expected1m)
            let q5 = CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: .fiveMinutes, from: UnixNanos(0), limit: 5000)
            #expect(try await store.candles(q5).map(\.jsonLine) == expected5m)

            let trades = try await store.count(.trades)
            #expect(trades == replay.distinctTradeCount)
            let snapshots = try await store.count(.bookSnapshots)
            #expect(snapshots == replay.snapshots.filter(\.valid).count)

            // Everything again: duplicates are stored once, candles unchanged.
            try await writeAll(replay.events, to: store, batchRows: 777)
            #expect(try await store.count(.trades) == trades)
            #expect(try await store.count(.bookSnapshots) == snapshots)
            #expect(try await store.count(.candles1m) == expected1m.count)
            #expect(try await store.candles(q1).map(\.jsonLine) == expected1m)

            // Latest snapshot: the replay's last valid one, level texts exact.
            let lastValid = replay.snapshots.last { $0.valid }
            let last = try #require(lastValid)
            let latest = try await store.latestBookSnapshot(venue: "binance", symbol: "BTC-USDT")
            let book = try #require(latest)
            #expect(book.time == last.time)
            #expect(book.bidTexts == last.bids.map { [$0.price.description, $0.quantity.description] })
            #expect(book.askTexts == last.asks.map { [$0.price.description, $0.quantity.description] })
            await store.close()
        }
    }

    /// A late amendment (higher revision) replaces the row; an older revision arriving later
    /// (a spill file replayed out of order) does not.
    @Test(.timeLimit(.minutes(2)), arguments: TestServer.allCases)
    func laterRevisionsReplaceRowsOlderOnesDoNot(server: TestServer) async throws {
        let admin = server == .timescale ? try await TestServer.requireTimescaleDB() : try server.requireAdmin()
        try await ScratchDatabase.with(admin: admin) { config in
            let store = PostgresStore(configuration: config, logger: quietLogger)
            _ = try await store.migrate()
            let instrument = Instrument(venue: .binance, base: "BTC", quote: "USDT", nativeSymbol: "BTCUSDT")
            func candle(revision: Int, close: String, volume: String, trades: Int64 = 1) -> MarketEvent {
                let c = FixedDecimal(close)!
                let v = WideDecimal(FixedDecimal(volume)!)
                return .candle(
                    Candle(
                        instrument: instrument, interval: .oneMinute, start: .seconds(1_723_161_300), open: c, high: c,
                        low: c, close: c, volume: v, quoteVolume: WideDecimal.product(c, FixedDecimal(volume)!),
                        trades: trades, takerBuyVolume: .zero, closed: true, revision: revision, complete: true))
            }
            let query = CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: .oneMinute, from: UnixNanos(0))
            try await writeAll([candle(revision: 0, close: "61000.10", volume: "1.5")], to: store)
            try await writeAll([candle(revision: 1, close: "61000.20", volume: "2.5")], to: store)
            var rows = try await store.candles(query)
            #expect(rows.count == 1)
            #expect(rows.first?.revision == 1)
            #expect(rows.first?.close.description == "61000.20")
            #expect(rows.first?.volume.description == "2.5")

            try await writeAll([candle(revision: 0, close: "61000.10", volume: "1.5")], to: store)
            rows = try await store.candles(query)
            #expect(rows.first?.revision == 1, "an older revision must not replace a newer one")

            // Two revisions of one bucket in a single batch: the newer wins.
            try await writeAll([candle(revision: 3, close: "61000.40", volume: "4"), candle(revision: 2, close: "61000.30", volume: "3")], to: store)
            rows = try await store.candles(query)
            #expect(rows.first?.revision == 3)
            #expect(rows.first?.close.description == "61000.40")

            // Two ingest nodes: at the same revision the copy with more trades stays, whichever
            // arrives last; with as many trades, the later copy.
            try await writeAll([candle(revision: 5, close: "61000.50", volume: "5", trades: 9)], to: store)
            try await writeAll([candle(revision: 5, close: "61000.51", volume: "2", trades: 4)], to: store)
            rows = try await store.candles(query)
            #expect(rows.first?.trades == 9 && rows.first?.close.description == "61000.50", "\(rows)")
            try await writeAll([candle(revision: 5, close: "61000.52", volume: "6", trades: 10)], to: store)
            rows = try await store.candles(query)
            #expect(rows.first?.trades == 10 && rows.first?.close.description == "61000.52", "\(rows)")
            // Both copies in one batch, the fuller one first.
            try await writeAll(
                [candle(revision: 6, close: "61000.60", volume: "6", trades: 12), candle(revision: 6, close: "61000.61", volume: "1", trades: 2)],
                to: store)
            rows = try await store.candles(query)
            #expect(rows.first?.trades == 12 && rows.first?.close.description == "61000.60", "\(rows)")
            let stored = try await sqlRows("SELECT count(*)::text FROM market_data_1m", on: config)
            #expect(stored == [["1"]])
            await store.close()
        }
    }
}
