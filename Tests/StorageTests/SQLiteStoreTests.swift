import Feeds
import Foundation
import Logging
import MarketCore
@testable import Storage
import Testing

/// A real capture replayed once and encoded into row batches, with what the replay printed.
struct ReplayedCapture: Sendable {
    /// Row batches per table in replay order (odd sizes, so multi-row statements get remainders).
    var batches: [StoreTable: [RowBatch]] = [:]
    /// The last revision of each closed candle, in bucket order.
    var lastCandles: [Interval: [Candle]] = [:]
    /// Distinct trade keys (venue, symbol, trade_id, time) of the replayed trades.
    var tradeKeys: Set<[String]> = []
    var tradeEvents = 0
    /// Valid snapshots, the first one of each (venue, symbol, time) — the copy the store keeps.
    var snapshots: [BookSnapshot] = []

    static let batchRows = 997

    static func repositoryPath(_ relative: String, file: StaticString = #filePath) -> String {
        // This file is Tests/StorageTests/SQLiteStoreTests.swift: the package root is two levels up.
        var parts = "\(file)".split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/" + relative
    }

    static let binanceSpot: ReplayedCapture = {
        do {
            return try ReplayedCapture(replaying: repositoryPath("feeds/binance-spot-btcusdt-2024-08-08.jsonl.gz"))
        } catch {
            fatalError("replaying the capture failed: \(error)")
        }
    }()

    init(replaying path: String) throws {
        var options = PipelineOptions()
        options.emit = [.trades, .candles, .books, .status]
        var replayer = FeedPipeline(options: options)
        var encoder = StoreRowEncoder()
        var current: [StoreTable: RowBatch] = [:]
        var candles: [Interval: [String: Candle]] = [:]
        var seenSnapshotTimes: Set<[String]> = []
        var out = self
        try replayer.run(paths: [path]) { event in
            switch event {
            case .trade:
                out.tradeEvents += 1
            case .candle(let c) where c.closed:
                let key = "\(c.instrument.venue.id) \(c.instrument.symbol) \(c.start.rawValue)"
                if let old = candles[c.interval]?[key], old.revision > c.revision { break }
                candles[c.interval, default: [:]][key] = c
            case .bookSnapshot(let s) where s.valid:
                if seenSnapshotTimes.insert([s.instrument.venue.id, s.instrument.symbol, "\(s.time.rawValue)"]).inserted {
                    out.snapshots.append(s)
                }
            default:
                break
            }
            guard let (table, line) = encoder.encode(event) else { return }
            if table == .trades {
                out.tradeKeys.insert(Array(RowLine.fields(line.dropLast()).prefix(4).map { $0 ?? "" }))
            }
            current[table, default: RowBatch(table: table)].append(line: line)
            if current[table]!.rows == Self.batchRows {
                out.batches[table, default: []].append(current[table]!)
                current[table] = nil
            }
        }
        for (table, batch) in current where !batch.isEmpty { out.batches[table, default: []].append(batch) }
        for (interval, byKey) in candles {
            out.lastCandles[interval] = byKey.values.sorted {
                ($0.instrument.venue.id, $0.instrument.symbol, $0.start) < ($1.instrument.venue.id, $1.instrument.symbol, $1.start)
            }
        }
        self = out
    }

    /// Every batch, tables in a fixed order.
    var allBatches: [RowBatch] {
        StoreTable.allCases.flatMap { batches[$0] ?? [] }
    }
}

/// A store on a fresh temporary file, closed and deleted afterwards.
func withTemporarySQLiteStore<T>(migrated: Bool = true, _ body: (SQLiteStore, String) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mg-sqlite-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("store.sqlite").path
    var logger = Logger(label: "StorageTests.SQLiteStore")
    logger.logLevel = .warning
    let store = try await SQLiteStore(path: path, logger: logger)
    do {
        if migrated { _ = try await store.migrate() }
        let result = try await body(store, path)
        await store.close()
        return result
    } catch {
        await store.close()
        throw error
    }
}

@Suite("SQLiteStore")
struct SQLiteStoreTests {
    static let marketTables: [String: [String]] = [
        "market_data_1m": [
            "time", "time_ns", "venue", "symbol", "open", "high", "low", "close", "volume", "quote_volume", "trades", "vwap",
            "taker_buy_volume", "revision", "complete",
        ],
        "trades": ["time", "time_ns", "venue", "symbol", "trade_id", "price", "qty", "side", "trade_count"],
        "order_book_snapshots": [
            "time", "time_ns", "venue", "symbol", "bid_price", "bid_qty", "ask_price", "ask_qty", "spread", "mid", "bids", "asks",
        ],
    ]

    // MARK: migrations

    @Test func migrationsApplyFromEmptyThenNothingAndCreateTheTables() async throws {
        try await withTemporarySQLiteStore(migrated: false) { store, _ in
            #expect(store.backend == .sqlite)
            let all = try Migrations.load(.sqlite).map(\.version)
            let first = try await store.migrate()
            #expect(first == MigrationReport(backend: .sqlite, applied: all, skipped: []))
            #expect(first.applied == [1, 2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21])
            let second = try await store.migrate()
            #expect(second.applied.isEmpty && second.skipped.isEmpty)

            let recorded = try await store.execute("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
            #expect(recorded.map { $0[0] } == all.map { String($0) })
            for (row, m) in zip(recorded, try Migrations.load(.sqlite)) {
                #expect(row[1] == m.name && row[2] == m.checksum)
                #expect(row[3].flatMap(UnixNanos.parseISO8601) != nil, "applied_at \(row[3] ?? "nil")")
            }
            for (table, columns) in Self.marketTables {
                let info = try await store.execute("SELECT name FROM pragma_table_info(?)", [table])
                #expect(info.map { $0[0] ?? "" } == columns, "\(table)")
            }
            let fiveMinute = try await store.execute("SELECT name FROM pragma_table_info('market_data_5m')")
            #expect(fiveMinute.map { $0[0] ?? "" } == Self.marketTables["market_data_1m"])
            for table in ["users", "balances", "positions", "trades_paper", "agent_status_log", "pretrade_log"] {
                let info = try await store.execute("SELECT count(*) FROM pragma_table_info(?)", [table])
                #expect(Int(info.first?.first.flatMap { $0 } ?? "0")! > 0, "\(table) missing")
            }
            let mode = try await store.execute("PRAGMA journal_mode")
            #expect(mode.first?.first == "wal")
        }
    }

    @Test func aMigrationEditedAfterItWasAppliedIsRejectedByVersion() async throws {
        try await withTemporarySQLiteStore { store, _ in
            _ = try await store.execute("UPDATE schema_migrations SET checksum = '0000000000000000' WHERE version = 2")
            let error = await #expect(throws: MigrationError.self) { try await store.migrate() }
            #expect(error?.description.contains("migration 2 (paper_trading) was changed") == true, "\(String(describing: error))")
        }
    }

    @Test func reopeningTheFileKeepsDataAndAppliesNothing() async throws {
        let capture = ReplayedCapture.binanceSpot
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mg-sqlite-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        // A missing parent folder is created.
        let path = dir.appendingPathComponent("nested/store.sqlite").path
        let first = try await SQLiteStore(path: path)
        _ = try await first.migrate()
        for batch in capture.batches[.trades]! { try await first.write(batch) }
        await first.close()
        await first.close()  // closing twice is harmless

        let second = try await SQLiteStore(path: path)
        let report = try await second.migrate()
        #expect(report.applied.isEmpty)
        #expect(try await second.count(.trades) == capture.tradeKeys.count)
        await second.close()
    }

    /// `:memory:` reads through the write connection (a second one would open another database).
    @Test func anInMemoryStoreWorks() async throws {
        let capture = ReplayedCapture.binanceSpot
        let store = try await SQLiteStore(path: ":memory:")
        #expect(try await store.migrate().applied == [1, 2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21])
        try await store.write(capture.batches[.trades]![0])
        #expect(try await store.count(.trades) == capture.batches[.trades]![0].rows)
        await store.close()
    }

    // MARK: writes and reads of a replayed capture

    /// CONTRACTS.md: a replayed capture's candles in the database equal the candles the replay prints.
    @Test func replayedCandlesReadBackEqualTheReplayOutput() async throws {
        let capture = ReplayedCapture.binanceSpot
        try await withTemporarySQLiteStore { store, _ in
            for batch in capture.allBatches { try await store.write(batch) }
            for interval in [Interval.oneMinute, .fiveMinutes] {
                let expected = try #require(capture.lastCandles[interval])
                #expect(expected.count >= (interval == .oneMinute ? 10 : 3))
                let stored = try await store.candles(
                    CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: interval, from: UnixNanos(0), limit: CandleQuery.maxLimit))
                #expect(stored.map(\.jsonLine) == expected.map { MarketEvent.candle($0).jsonLine })
                #expect(try await store.count(interval == .oneMinute ? .candles1m : .candles5m) == expected.count)
            }
        }
    }

    /// Every row line the encoder made from the capture has exactly its table's columns.
    @Test func encodedRowLinesHaveOneFieldPerColumn() throws {
        let capture = ReplayedCapture.binanceSpot
        for table in StoreTable.allCases {
            let batches = try #require(capture.batches[table], "no \(table) rows")
            for line in batches.flatMap(\.lines) {
                let fields = RowLine.fields(line)
                #expect(fields.count == table.columns.count, "\(table): \(String(decoding: line, as: UTF8.self))")
                guard fields.count == table.columns.count else { return }
            }
        }
    }

    @Test func writingTheSameBatchesAgainChangesNothing() async throws {
        let capture = ReplayedCapture.binanceSpot
        try await withTemporarySQLiteStore { store, _ in
            for batch in capture.allBatches { try await store.write(batch) }
            var counts: [StoreTable: Int] = [:]
            for t in StoreTable.allCases { counts[t] = try await store.count(t) }
            #expect(counts[.trades] == capture.tradeKeys.count)
            #expect(counts[.trades]! > 10_000)
            #expect(counts[.bookSnapshots] == capture.snapshots.count)
            #expect(counts[.candles1m] == capture.lastCandles[.oneMinute]?.count)

            let before = try await store.execute("SELECT * FROM trades ORDER BY time_ns, trade_id")
            for batch in capture.allBatches { try await store.write(batch) }
            for t in StoreTable.allCases { #expect(try await store.count(t) == counts[t], "\(t)") }
            #expect(try await store.execute("SELECT * FROM trades ORDER BY time_ns, trade_id") == before)
        }
    }

    @Test func tradesAreStoredOncePerDistinctTrade() async throws {
        let capture = ReplayedCapture.binanceSpot
        #expect(capture.tradeKeys.count == capture.tradeEvents)  // the normalizer deduplicates
        try await withTemporarySQLiteStore { store, _ in
            // Duplicates inside one batch and across batches.
            for batch in capture.batches[.trades]! {
                var doubled = batch
                doubled.append(contentsOf: batch)
                try await store.write(doubled)
            }
            #expect(try await store.count(.trades) == capture.tradeKeys.count)
            let stored = try await store.execute("SELECT time, venue, symbol, trade_id FROM trades")
            let storedKeys = Set(stored.map { $0.map { $0 ?? "" } })
            #expect(storedKeys.count == capture.tradeKeys.count)
            #expect(storedKeys.symmetricDifference(capture.tradeKeys).isEmpty)
            // Exact texts and SQLite representations of the first trade.
            let first = try #require(capture.batches[.trades]?.first?.lines.first)
            let fields = RowLine.fields(first)
            let row = try await store.execute(
                "SELECT time, time_ns, price, qty, side, trade_count, typeof(time_ns), typeof(trade_count) FROM trades WHERE trade_id = ?",
                [fields[3]!])
            #expect(row.count == 1)
            #expect(row[0][0] == fields[0] && row[0][2] == fields[4] && row[0][3] == fields[5] && row[0][4] == fields[6])
            #expect(row[0][1] == String(UnixNanos.parseISO8601(fields[0]!)!.rawValue))
            #expect(row[0][5] == fields[7] && row[0][6] == "integer" && row[0][7] == "integer")
        }
    }

    @Test func bookSnapshotsRoundTripByteIdentically() async throws {
        let capture = ReplayedCapture.binanceSpot
        try await withTemporarySQLiteStore { store, _ in
            for batch in capture.batches[.bookSnapshots]! { try await store.write(batch) }
            #expect(capture.snapshots.count > 100)
            func texts(_ levels: [BookLevel]) -> [[String]] { levels.map { ["\($0.price)", "\($0.quantity)"] } }

            // Every stored snapshot's levels decode back to the replayed texts.
            let rows = try await store.execute("SELECT time, bids, asks FROM order_book_snapshots ORDER BY time_ns")
            let expected = capture.snapshots.sorted { $0.time < $1.time }
            #expect(rows.count == expected.count)
            for (row, s) in zip(rows, expected) {
                #expect(row[0] == s.time.iso8601(fractionDigits: s.instrument.venue.timeFractionDigits))
                #expect(row[1].flatMap(LevelsJSON.decode) == texts(s.bids))
                #expect(row[2].flatMap(LevelsJSON.decode) == texts(s.asks))
            }

            let last = try #require(expected.last)
            let latest = try #require(try await store.latestBookSnapshot(venue: "binance", symbol: "BTC-USDT"))
            #expect(latest.time == last.time)
            #expect(latest.timeText == last.time.iso8601(fractionDigits: last.instrument.venue.timeFractionDigits))
            #expect(latest.bidTexts == texts(last.bids) && latest.askTexts == texts(last.asks))
            #expect(latest.bidTexts.count == last.bids.count && !latest.bidTexts.isEmpty)
            #expect(try await store.latestBookSnapshot(venue: "binance", symbol: "ETH-USDT") == nil)

            let best = try await store.execute("SELECT bid_price, ask_price, spread, mid FROM order_book_snapshots WHERE time_ns = ?",
                [String(last.time.rawValue)])
            #expect(best.first == [last.bestBid?.price.description, last.bestAsk?.price.description, last.spread?.description, last.mid?.description])
        }
    }

    // MARK: upserts

    @Test func aLaterRevisionReplacesACandleAndAnOlderOneDoesNot() async throws {
        let capture = ReplayedCapture.binanceSpot
        let original = try #require(capture.lastCandles[.oneMinute]?.first)
        var amended = original
        amended.revision = original.revision + 1
        amended.trades += 1
        amended.close = original.high
        var encoder = StoreRowEncoder()
        func batch(_ c: Candle) throws -> RowBatch {
            let encoded = encoder.encode(.candle(c))
            let (table, line) = try #require(encoded)
            #expect(table == .candles1m)
            var b = RowBatch(table: table)
            b.append(line: line)
            return b
        }
        let query = CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: .oneMinute, from: original.start, limit: 1)
        try await withTemporarySQLiteStore { store, _ in
            try await store.write(batch(original))
            #expect(try await store.candles(query).map(\.jsonLine) == [MarketEvent.candle(original).jsonLine])
            try await store.write(batch(amended))
            #expect(try await store.candles(query).map(\.jsonLine) == [MarketEvent.candle(amended).jsonLine])
            // An old revision arriving late (e.g. from a spill file) does not overwrite the amendment.
            try await store.write(batch(original))
            #expect(try await store.candles(query).map(\.jsonLine) == [MarketEvent.candle(amended).jsonLine])
            // Both revisions in one batch, newest first: the newest still wins.
            var both = try batch(amended)
            both.append(contentsOf: try batch(original))
            try await store.write(both)
            #expect(try await store.candles(query).first?.revision == amended.revision)
            #expect(try await store.count(.candles1m) == 1)
            // An incomplete candle is stored as 0 and read back as false.
            var suspect = amended
            suspect.revision += 1
            suspect.complete = false
            try await store.write(batch(suspect))
            #expect(try await store.candles(query).first?.complete == false)
            #expect(try await store.execute("SELECT complete, typeof(complete) FROM market_data_1m") == [["0", "integer"]])
        }
    }

    /// Two ingest nodes store the same buckets; one that connected mid-bucket closes its first
    /// candle with part of the trades (same revision). The copy with more trades stays, in either
    /// order and within one batch; with as many trades the later copy wins.
    @Test func atTheSameRevisionTheCandleWithMoreTradesStays() async throws {
        let capture = ReplayedCapture.binanceSpot
        let whole = try #require(capture.lastCandles[.oneMinute]?.first { $0.trades > 2 })
        var partial = whole
        partial.trades = whole.trades / 2
        partial.open = whole.close
        partial.complete = false
        var encoder = StoreRowEncoder()
        func batch(_ candles: [Candle]) throws -> RowBatch {
            var b = RowBatch(table: .candles1m)
            for c in candles {
                let encoded = encoder.encode(.candle(c))
                let (_, line) = try #require(encoded)
                b.append(line: line)
            }
            return b
        }
        let query = CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: .oneMinute, from: whole.start, limit: 1)
        let wholeLine = MarketEvent.candle(whole).jsonLine
        try await withTemporarySQLiteStore { store, _ in
            try await store.write(batch([whole]))
            try await store.write(batch([partial]))
            #expect(try await store.candles(query).map(\.jsonLine) == [wholeLine])
            try await store.write(batch([whole, partial]))
            #expect(try await store.candles(query).map(\.jsonLine) == [wholeLine])
            #expect(try await store.count(.candles1m) == 1)
        }
        try await withTemporarySQLiteStore { store, _ in
            try await store.write(batch([partial]))
            try await store.write(batch([whole]))
            #expect(try await store.candles(query).map(\.jsonLine) == [wholeLine])
            // As many trades: the later copy (one writer rewriting its own row).
            var same = whole
            same.complete = false
            try await store.write(batch([same]))
            #expect(try await store.candles(query).first?.complete == false)
        }
    }

    @Test func aBatchWithABadRowStoresNothingAndNamesTheRow() async throws {
        let capture = ReplayedCapture.binanceSpot
        let good = try #require(capture.batches[.trades]?.first?.lines.first)
        var fields = RowLine.fields(good)
        fields[0] = "yesterday"
        var bad = RowBatch(table: .trades)
        bad.append(line: Array(good) + [0x0A])
        bad.append(line: Array(fields.map { $0 ?? "\\N" }.joined(separator: "\t").utf8) + [0x0A])
        try await withTemporarySQLiteStore { store, _ in
            let error = await #expect(throws: SQLiteStoreError.self) { try await store.write(bad) }
            #expect(error?.description.contains("trades row 2") == true, "\(String(describing: error))")
            #expect(error?.description.contains("'yesterday' is not an ISO-8601") == true, "\(String(describing: error))")
            #expect(try await store.count(.trades) == 0)
            // A constraint failure in the database rolls the whole batch back too.
            // (the bad row comes after several full multi-row statements of the batch)
            var badSide = RowLine.fields(good)
            badSide[3] = "other-id"
            badSide[6] = "sideways"
            var constraint = capture.batches[.trades]![0]
            constraint.append(line: Array(badSide.map { $0 ?? "\\N" }.joined(separator: "\t").utf8) + [0x0A])
            await #expect(throws: (any Error).self) { try await store.write(constraint) }
            #expect(try await store.count(.trades) == 0)
            // The store is still usable afterwards (the transaction was rolled back, not left open).
            try await store.write(capture.batches[.trades]![0])
            #expect(try await store.count(.trades) == capture.batches[.trades]![0].rows)
        }
    }

    @Test func concurrentWritersAndReadersAllSucceed() async throws {
        let capture = ReplayedCapture.binanceSpot
        try await withTemporarySQLiteStore { store, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for batch in capture.allBatches {
                    group.addTask { try await store.write(batch) }
                    group.addTask { _ = try await store.count(batch.table) }
                }
                try await group.waitForAll()
            }
            #expect(try await store.count(.trades) == capture.tradeKeys.count)
            #expect(try await store.count(.bookSnapshots) == capture.snapshots.count)
        }
    }

    // MARK: queries

    @Test func candleQueriesFollowTheFromToLimitRules() async throws {
        let capture = ReplayedCapture.binanceSpot
        let all = try #require(capture.lastCandles[.oneMinute])
        #expect(all.count >= 6)
        let lines = all.map { MarketEvent.candle($0).jsonLine }
        try await withTemporarySQLiteStore { store, _ in
            for batch in capture.batches[.candles1m]! { try await store.write(batch) }
            func q(from: UnixNanos? = nil, to: UnixNanos? = nil, limit: Int = 500, symbol: String = "BTC-USDT") async throws -> [String] {
                try await store.candles(CandleQuery(venue: "binance", symbol: symbol, interval: .oneMinute, from: from, to: to, limit: limit))
                    .map(\.jsonLine)
            }
            // Without from: the latest `limit` before `to` (exclusive), oldest first.
            #expect(try await q() == lines)
            #expect(try await q(limit: 3) == Array(lines.suffix(3)))
            #expect(try await q(to: all[4].start, limit: 2) == [lines[2], lines[3]])
            // With from: the first `limit` at or after `from`.
            #expect(try await q(from: all[1].start, limit: 2) == [lines[1], lines[2]])
            #expect(try await q(from: UnixNanos(all[1].start.rawValue + 1), limit: 2) == [lines[2], lines[3]])
            #expect(try await q(from: all[1].start, to: all[3].start) == [lines[1], lines[2]])
            // The limit is clamped to 1...maxLimit.
            #expect(try await q(limit: 0) == [lines.last!])
            #expect(try await q(limit: -5) == [lines.last!])
            #expect(try await q(limit: 1_000_000) == lines)
            #expect(try await q(symbol: "ETH-USDT").isEmpty)
        }
    }

    @Test func aCandleQueryForAnIntervalThatIsNotStoredFailsClearly() async throws {
        try await withTemporarySQLiteStore { store, _ in
            for name in ["1h", "1d", "15m"] {
                let interval = try #require(Interval(name))
                let error = await #expect(throws: StoreQueryError.self) {
                    try await store.candles(CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: interval))
                }
                #expect(error == StoreQueryError.unsupportedInterval(interval))
                #expect(error?.description == "candles of interval \(name) are not stored (stored intervals: 1m, 5m)")
            }
        }
    }

    @Test func aClosedStoreRefusesWork() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mg-sqlite-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try await SQLiteStore(path: dir.appendingPathComponent("s.sqlite").path)
        _ = try await store.migrate()
        await store.close()
        await #expect(throws: SQLiteStoreError.closed) { try await store.count(.trades) }
        await #expect(throws: SQLiteStoreError.closed) { try await store.write(ReplayedCapture.binanceSpot.batches[.trades]![0]) }
        await #expect(throws: SQLiteStoreError.closed) { _ = try await store.migrate() }
    }

    // MARK: level conversion

    @Test func postgresArrayLevelsBecomeJSONAndBack() {
        #expect(PostgresArrayLiteral.parseLevels("{}") == [])
        #expect(PostgresArrayLiteral.parseLevels("{{61837.63000000,0.02000000},{1,2}}") == [["61837.63000000", "0.02000000"], ["1", "2"]])
        #expect(PostgresArrayLiteral.parseLevels(#"{{"1.5","a\"b"}}"#) == [["1.5", #"a"b"#]])
        for bad in ["", "{", "{{1,2}", "{{1,2}}x", "{1,2}", "{{1,NULL}}", "{{1,}}"] {
            #expect(PostgresArrayLiteral.parseLevels(bad) == nil, "\(bad)")
        }
        #expect(LevelsJSON.encode([]) == "[]")
        #expect(LevelsJSON.encode([["0.0000000123", "123456789012.00000000"], ["1", "2"]])
            == #"[["0.0000000123","123456789012.00000000"],["1","2"]]"#)
        let odd = [[#"q"u\o"#, "tab\there", "é €"]]
        #expect(LevelsJSON.decode(LevelsJSON.encode(odd)) == odd)
        #expect(LevelsJSON.decode(#"[["\u00e9","\ud83d\ude00"]]"#) == [["é", "😀"]])
        for bad in ["", "[", "[[1,2]]", #"[["1"]"#, #"[["1"]] x"#] {
            #expect(LevelsJSON.decode(bad) == nil, "\(bad)")
        }
    }
}

@Suite("SQLiteStore throughput")
struct SQLiteStoreThroughputTests {
    /// Prints the write rate (debug builds compile SQLite itself without optimization, so the
    /// figure is far below a release build's); asserts only that every row arrived.
    @Test func writesAHundredThousandTradesInBatches() async throws {
        let capture = ReplayedCapture.binanceSpot
        // ~100k distinct trade rows: the capture's trades five times with shifted ids.
        var batches: [RowBatch] = []
        for copy in 0..<5 {
            for b in capture.batches[.trades]! {
                var out = RowBatch(table: .trades)
                for line in b.lines {
                    var f = RowLine.fields(line)
                    f[3] = "\(copy)-\(f[3]!)"
                    out.append(line: Array(f.map { $0! }.joined(separator: "\t").utf8) + [0x0A])
                }
                batches.append(out)
            }
        }
        let rows = batches.reduce(0) { $0 + $1.rows }
        try await withTemporarySQLiteStore { store, _ in
            let clock = ContinuousClock()
            let t = try await clock.measure { for b in batches { try await store.write(b) } }
            let seconds = Double(t.components.seconds) + Double(t.components.attoseconds) / 1e18
            print("SQLiteStore: \(rows) trade rows in \(t) = \(Int(Double(rows) / seconds)) rows/s")
            #expect(try await store.count(.trades) == rows)
        }
    }
}
