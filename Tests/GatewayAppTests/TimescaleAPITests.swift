import Feeds
import Foundation
import GatewayApp
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MarketCore
import NIOCore
import PostgresNIO
import Storage
import Testing
import _TestSupport

/// The history endpoints on TimescaleDB (1h/1d from the continuous aggregates, compressed
/// chunks), plain PostgreSQL and SQLite, filled from the same replayed capture.
@Suite("History API on TimescaleDB, PostgreSQL and SQLite", .serialized)
struct TimescaleAPITests {
    static let capture = Fixtures.repository("feeds/binance-spot-btcusdt-2024-08-08.jsonl.gz")
    static let logger: Logger = {
        var l = Logger(label: "TimescaleAPITests")
        l.logLevel = .warning
        return l
    }()

    /// Every history answer the tests compare, as request paths.
    static let paths: [String] = {
        var out: [String] = []
        for interval in ["1m", "5m", "1h", "1d"] {
            let base = "/api/v1/market/ohlcv/BTC-USDT?venue=binance&interval=\(interval)"
            out += [
                base, base + "&from=0&limit=5000", base + "&limit=3", base + "&from=2024-08-08T23:30:00Z&limit=2",
                base + "&to=2024-08-09T00:00:00Z&limit=4", base + "&from=2024-08-08T23:17:00Z&to=2024-08-09T00:03:00Z",
            ]
        }
        out += [
            "/api/v1/market/orderbook/BTC-USDT?venue=binance", "/api/v1/market/orderbook/BTC-USDT?venue=binance&depth=5",
            "/api/v1/market/ticker/BTC-USDT?venue=binance", "/api/v1/market/ohlcv/ETH-USDT?venue=binance&interval=1h",
            "/api/v1/market/ticker/ETH-USDT?venue=binance",
        ]
        return out
    }()

    static func fill(_ store: any MarketStore, _ events: [MarketEvent]) async throws {
        _ = try await store.migrate()
        var encoder = StoreRowEncoder()
        var batches: [StoreTable: RowBatch] = [:]
        for e in events {
            guard let row = encoder.encode(e) else { continue }
            batches[row.table, default: RowBatch(table: row.table)].append(line: row.line)
        }
        for batch in batches.values { try await store.write(batch) }
    }

    /// Status and body of each path, as one text per path.
    static func answers(_ store: any MarketStore, _ paths: [String] = paths) async throws -> [String] {
        let app = MarketAPIServer.makeApplication(store: store, logger: logger, liveBooks: nil)
        return try await app.test(.router) { client in
            var out: [String] = []
            for path in paths {
                out.append(
                    try await client.execute(uri: path, method: .get) { response in
                        "\(path) → \(response.status.code) \(String(buffer: response.body))"
                    })
            }
            return out
        }
    }

    static func exec(_ sql: String, _ config: PostgresConfiguration) async throws { _ = try await sqlRows(sql, on: config) }

    /// The same bytes from TimescaleDB (1h/1d read from the refreshed aggregates), plain
    /// PostgreSQL and SQLite. Then, on TimescaleDB, the 1m chunks are dropped: 1h/1d still answer
    /// the same, which they could not if they were computed from the 1m rows.
    @Test(.timeLimit(.minutes(4)))
    func sameAnswersOnTimescaleDBPlainPostgreSQLAndSQLite() async throws {
        let timescaleAdmin = try await TestServer.requireTimescaleDB()
        let plainAdmin = try TestServer.plain.requireAdmin()
        let replay = try ReplayedEvents(paths: [Self.capture])

        let sqlite = try await SQLiteStore(path: ":memory:")
        try await Self.fill(sqlite, replay.events)
        let expected = try await Self.answers(sqlite)
        await sqlite.close()
        #expect(expected.filter { $0.contains("→ 200") }.count == Self.paths.count - 1, "\(expected)")  // ETH ticker: 404

        try await ScratchDatabase.with(admin: plainAdmin) { config in
            let store = PostgresStore(configuration: config, logger: Self.logger)
            try await Self.fill(store, replay.events)
            #expect(store.backend == .postgresql)
            let got = try await Self.answers(store)
            for (a, b) in zip(got, expected) { #expect(a == b) }
            await store.close()
        }

        try await ScratchDatabase.with(admin: timescaleAdmin) { config in
            let store = PostgresStore(configuration: config, logger: Self.logger)
            try await Self.fill(store, replay.events)
            #expect(store.backend == .timescaledb)
            // Real-time aggregation: right before any refresh.
            let live = try await Self.answers(store)
            for (a, b) in zip(live, expected) { #expect(a == b) }
            for view in ["market_data_1h", "market_data_1d"] {
                try await Self.exec("CALL refresh_continuous_aggregate('\(view)', NULL, NULL)", config)
            }
            let refreshed = try await Self.answers(store)
            for (a, b) in zip(refreshed, expected) { #expect(a == b) }

            // The aggregates are the source of 1h/1d: without the 1m rows they still answer.
            try await Self.exec("SELECT count(*) FROM drop_chunks('market_data_1m', older_than => now())", config)
            #expect(try await store.count(.candles1m) == 0)
            let hourAndDay = Self.paths.filter { $0.contains("interval=1h") || $0.contains("interval=1d") }
            let fromAggregates = try await Self.answers(store, hourAndDay)
            #expect(fromAggregates == expected.filter { $0.contains("interval=1h") || $0.contains("interval=1d") })
            await store.close()
        }
    }

    /// The ticker against figures computed here from the replay's own 1m candles and book.
    @Test(.timeLimit(.minutes(2)))
    func tickerMatchesTheReplaysLastDay() async throws {
        let replay = try ReplayedEvents(paths: [Self.capture])
        let store = try await SQLiteStore(path: ":memory:")
        try await Self.fill(store, replay.events)
        let body = try #require(try await Self.answers(store, ["/api/v1/market/ticker/btc-usdt?venue=binance"]).first)
        await store.close()
        #expect(body.contains(" → 200 {"), "\(body)")
        let brace = try #require(body.firstIndex(of: "{"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body[brace...].utf8)) as? [String: Any])

        var last: [Int64: Candle] = [:]
        for case .candle(let c) in replay.events where c.closed && c.interval == .oneMinute {
            if (last[c.start.rawValue]?.revision ?? -1) <= c.revision { last[c.start.rawValue] = c }
        }
        let candles = last.values.sorted { $0.start < $1.start }
        let newest = try #require(candles.last)
        let window = candles.filter { $0.start.rawValue > newest.start.rawValue - 86_400_000_000_000 }
        let high = window.map(\.high).max()!
        let low = window.map(\.low).min()!
        var volume = WideDecimal.zero
        for c in window { volume = volume.adding(c.volume)! }
        let book = try #require(replay.snapshots.last { $0.valid })

        #expect(json["type"] as? String == "ticker_24h")
        #expect(json["symbol"] as? String == "BTC-USDT")
        #expect(json["last"] as? String == newest.close.description)
        #expect(json["open"] as? String == window.first!.open.description)
        #expect(json["high"] as? String == high.description)
        #expect(json["low"] as? String == low.description)
        #expect(WideDecimal.parse(json["volume"] as? String ?? "") == volume)
        #expect(json["buckets"] as? Int == window.count)
        #expect(json["to"] as? String == UnixNanos(newest.start.rawValue + 60_000_000_000).iso8601(fractionDigits: 0))
        let change = WideDecimal(newest.close).subtracting(WideDecimal(window.first!.open))!
        #expect(WideDecimal.parse(json["change"] as? String ?? "") == change)
        #expect(json["bid"] as? String == book.bids.first?.price.description)
        #expect(json["ask"] as? String == book.asks.first?.price.description)
        #expect(json["ask_qty"] as? String == book.asks.first?.quantity.description)
        #expect(json["book_source"] as? String == "store")
    }

    /// Every chunk compressed by hand: every history answer is byte-for-byte what it was.
    @Test(.timeLimit(.minutes(3)))
    func compressedChunksAnswerByteForByteTheSame() async throws {
        let admin = try await TestServer.requireTimescaleDB()
        let replay = try ReplayedEvents(paths: [Self.capture])
        try await ScratchDatabase.with(admin: admin) { config in
            let store = PostgresStore(configuration: config, logger: Self.logger)
            try await Self.fill(store, replay.events)
            for view in ["market_data_1h", "market_data_1d"] {
                try await Self.exec("CALL refresh_continuous_aggregate('\(view)', NULL, NULL)", config)
            }
            let before = try await Self.answers(store)
            var compressed = 0
            for table in ["market_data_1m", "market_data_5m", "trades", "order_book_snapshots"] {
                let n = try await sqlValue(
                    "SELECT count(compress_chunk(c, if_not_compressed => true))::text FROM show_chunks('\(table)') c", on: config)
                compressed += Int(n ?? "0") ?? 0
            }
            #expect(compressed >= 4)
            #expect(
                try await sqlValue(
                    "SELECT count(*)::text FROM timescaledb_information.chunks WHERE hypertable_schema = 'public' AND NOT is_compressed AND hypertable_name IN ('market_data_1m','market_data_5m','trades','order_book_snapshots')",
                    on: config) == "0")
            let after = try await Self.answers(store)
            #expect(after.count == before.count)
            for (a, b) in zip(after, before) { #expect(a == b) }
            await store.close()
        }
    }

    /// `/api/v1/health/db` names the backend the store runs on.
    @Test(.timeLimit(.minutes(2)), arguments: TestServer.allCases)
    func healthNamesTheBackend(server: TestServer) async throws {
        let admin = server == .timescale ? try await TestServer.requireTimescaleDB() : try server.requireAdmin()
        try await ScratchDatabase.with(admin: admin) { config in
            let store = PostgresStore(configuration: config, logger: Self.logger)
            _ = try await store.migrate()
            let body = try #require(try await Self.answers(store, ["/api/v1/health/db"]).first)
            let backend = server == .timescale ? "timescaledb" : "postgresql"
            #expect(body == #"/api/v1/health/db → 200 {"status":"ok","backend":"\#(backend)"}"#)
            await store.close()
        }
    }
}
