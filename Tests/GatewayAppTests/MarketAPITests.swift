import Feeds
import Foundation
import GatewayApp
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MarketCore
import NIOCore
import Storage
import Testing
import _TestSupport

/// A SQLite store filled by replaying the Binance BTC-USDT capture (candles and book snapshots),
/// plus what the replay printed, to compare the API's answers with.
struct StoredReplay: Sendable {
    let store: SQLiteStore
    /// Replay `candle` lines (closed, latest revision per bucket), oldest first.
    let candles1m: [String]
    let candles5m: [String]
    let candles5mEvents: [Candle]
    /// The last `book_snapshot` the replay printed.
    let lastBook: BookSnapshot

    static let shared = Task<StoredReplay, any Error> { try await make() }

    static func make() async throws -> StoredReplay {
        var options = PipelineOptions()
        options.emit = [.candles, .books]
        var replayer = FeedPipeline(options: options)
        var events: [MarketEvent] = []
        try replayer.run(paths: [Fixtures.path("binance/spot-btcusdt-2024-08-08.jsonl.gz")]) { events.append($0) }

        // In memory: the store is shared by the whole suite and never closed, so a file would be
        // left behind. (File-backed stores are covered by StorageTests.)
        let store = try await SQLiteStore(path: ":memory:")
        _ = try await store.migrate()
        var encoder = StoreRowEncoder()
        var batches: [StoreTable: RowBatch] = [:]
        for e in events {
            guard let row = encoder.encode(e) else { continue }
            batches[row.table, default: RowBatch(table: row.table)].append(line: row.line)
        }
        for batch in batches.values { try await store.write(batch) }

        var latest: [Interval: [UnixNanos: Candle]] = [:]
        var lastBook: BookSnapshot?
        for e in events {
            switch e {
            case .candle(let c) where c.closed:
                if (latest[c.interval]?[c.start]?.revision ?? -1) <= c.revision { latest[c.interval, default: [:]][c.start] = c }
            case .bookSnapshot(let s): lastBook = s
            default: break
            }
        }
        func sorted(_ i: Interval) -> [Candle] { (latest[i] ?? [:]).values.sorted { $0.start < $1.start } }
        return StoredReplay(
            store: store, candles1m: sorted(.oneMinute).map { MarketEvent.candle($0).jsonLine },
            candles5m: sorted(.fiveMinutes).map { MarketEvent.candle($0).jsonLine }, candles5mEvents: sorted(.fiveMinutes),
            lastBook: try #require(lastBook))
    }
}

/// A store whose every query fails, as a database that is down.
struct DownStore: MarketStore {
    struct Down: Error, CustomStringConvertible { var description: String { "connection refused" } }
    var backend: StoreBackend { .postgresql }
    func migrate() async throws -> MigrationReport { throw Down() }
    func write(_ batch: RowBatch) async throws { throw Down() }
    func candles(_ query: CandleQuery) async throws -> [StoredCandle] { throw Down() }
    func latestBookSnapshot(venue: String, symbol: String) async throws -> StoredBookSnapshot? { throw Down() }
    func count(_ table: StoreTable) async throws -> Int { throw Down() }
    func close() async {}
}

struct StubLiveBooks: LiveBookSource {
    let snapshot: BookSnapshot
    func book(venue: String, symbol: String, depth: Int) async -> BookSnapshot? {
        venue == snapshot.instrument.venue.id && symbol == snapshot.instrument.symbol ? snapshot : nil
    }
}

private func json(_ buffer: ByteBuffer) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: buffer).utf8)) as? [String: Any])
}

private func json(_ line: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
}

/// Equal JSON objects (key order aside): compared as sorted-key serializations.
private func same(_ a: [String: Any], _ b: [String: Any]) -> Bool {
    let sorted = { (o: [String: Any]) in try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) }
    return sorted(a) != nil && sorted(a) == sorted(b)
}

@Suite("Market HTTP API")
struct MarketAPITests {
    func withApp(
        store: (any MarketStore)? = nil, liveBooks: (any LiveBookSource)? = nil,
        _ body: @Sendable (any TestClientProtocol, StoredReplay) async throws -> Void
    ) async throws {
        let fixture = try await StoredReplay.shared.value
        let app = MarketAPIServer.makeApplication(
            store: store ?? fixture.store, logger: Logger(label: "MarketAPITests"), liveBooks: liveBooks)
        try await app.test(.router) { client in try await body(client, fixture) }
    }

    /// GET `uri`, expecting `status` and a JSON body.
    static func get(_ client: any TestClientProtocol, _ uri: String, _ status: HTTPResponse.Status = .ok) async throws -> [String: Any] {
        try await client.execute(uri: uri, method: .get) { response in
            #expect(response.status == status, "\(uri): \(String(buffer: response.body))")
            #expect(response.headers[.contentType] == "application/json", "\(uri)")
            return try json(response.body)
        }
    }

    static func candles(_ body: [String: Any]) -> [[String: Any]] { body["candles"] as? [[String: Any]] ?? [] }
    static func starts(_ body: [String: Any]) -> [String] { candles(body).map { $0["start"] as? String ?? "?" } }

    @Test func ohlcvOneMinuteIsTheReplaysClosedCandles() async throws {
        try await withApp { client, fixture in
            #expect(fixture.candles1m.count >= 10)
            let body = try await Self.get(client, "/api/v1/market/ohlcv/BTC-USDT?venue=binance")
            #expect(body["venue"] as? String == "binance" && body["symbol"] as? String == "BTC-USDT" && body["interval"] as? String == "1m")
            let got = Self.candles(body)
            #expect(got.count == fixture.candles1m.count)
            for (g, line) in zip(got, fixture.candles1m) {
                #expect(same(g, try json(line)), "\(g) != \(line)")
            }
            // Lower case is upper-cased; 5m are the replay's 5m lines.
            let five = try await Self.get(client, "/api/v1/market/ohlcv/btc-usdt?venue=binance&interval=5m")
            #expect(five["symbol"] as? String == "BTC-USDT")
            #expect(Self.candles(five).count == fixture.candles5m.count)
            for (g, line) in zip(Self.candles(five), fixture.candles5m) {
                #expect(same(g, try json(line)), "\(g) != \(line)")
            }
        }
    }

    @Test func fromToAndLimitSelectBuckets() async throws {
        try await withApp { client, fixture in
            let all = try fixture.candles1m.map { try json($0)["start"] as! String }
            let ms = { (iso: String) in String(UnixNanos.parseISO8601(iso)!.rawValue / 1_000_000) }
            // [from, to): ISO from, epoch-millisecond to.
            var body = try await Self.get(client, "/api/v1/market/ohlcv/BTC-USDT?venue=binance&from=\(all[2])&to=\(ms(all[5]))")
            #expect(Self.starts(body) == Array(all[2..<5]))
            // from with limit: the first `limit` from `from`.
            body = try await Self.get(client, "/api/v1/market/ohlcv/BTC-USDT?venue=binance&from=\(ms(all[1]))&limit=3")
            #expect(Self.starts(body) == Array(all[1..<4]))
            // No from: the latest `limit` before `to` (or the end).
            body = try await Self.get(client, "/api/v1/market/ohlcv/BTC-USDT?venue=binance&limit=2")
            #expect(Self.starts(body) == Array(all.suffix(2)))
            body = try await Self.get(client, "/api/v1/market/ohlcv/BTC-USDT?venue=binance&limit=2&to=\(all[4])")
            #expect(Self.starts(body) == Array(all[2..<4]))
            // A from between bucket starts: 1m buckets start at or after it.
            body = try await Self.get(client, "/api/v1/market/ohlcv/BTC-USDT?venue=binance&from=2024-08-08T23:56:30.5Z&limit=1")
            #expect(Self.starts(body) == ["2024-08-08T23:57:00Z"])
            // Percent-encoded colons decode.
            body = try await Self.get(client, "/api/v1/market/ohlcv/BTC-USDT?venue=binance&from=2024-08-08T23%3A57%3A00Z&limit=1")
            #expect(Self.starts(body) == ["2024-08-08T23:57:00Z"])
        }
    }

    /// 1h/1d (built from the stored 1m rows) equal the aggregate of the 5m candles of the same
    /// trades: the capture's 23:50 and 23:55 5m candles form the (incomplete) 23:00 hour; 00:00
    /// onwards the next hour and the next day.
    @Test func hoursAndDaysAreAggregatedFromFiveMinuteRows() async throws {
        try await withApp { client, fixture in
            let parts = fixture.candles5mEvents
            let before = parts.filter { $0.start < UnixNanos.parseISO8601("2024-08-09T00:00:00Z")! }
            #expect(before.count == 2)
            let hours = try await Self.get(client, "/api/v1/market/ohlcv/BTC-USDT?venue=binance&interval=1h")
            #expect(hours["interval"] as? String == "1h")
            #expect(Self.starts(hours) == ["2024-08-08T23:00:00Z", "2024-08-09T00:00:00Z"])
            let h = Self.candles(hours)[0]
            #expect(h["open"] as? String == before.first!.open.description)
            #expect(h["close"] as? String == before.last!.close.description)
            let volume = before.reduce(WideDecimal.zero) { $0.adding($1.volume)! }
            let quote = before.reduce(WideDecimal.zero) { $0.adding($1.quoteVolume)! }
            #expect(h["volume"] as? String == volume.description)
            #expect(h["quote_volume"] as? String == quote.description)
            #expect(h["vwap"] as? String == quote.divided(by: volume, roundingToFractionDigits: 10)!.description)
            #expect((h["trades"] as? Int) == Int(before.reduce(0) { $0 + $1.trades }))
            #expect(h["complete"] as? Bool == false && h["interval"] as? String == "1h")

            let days = try await Self.get(client, "/api/v1/market/ohlcv/BTC-USDT?venue=binance&interval=1d")
            #expect(Self.starts(days) == ["2024-08-08T00:00:00Z", "2024-08-09T00:00:00Z"])
            #expect(Self.candles(days)[0]["volume"] as? String == volume.description)
            // from inside the 23:00 hour starts at that hour; limit counts hours.
            let one = try await Self.get(client, "/api/v1/market/ohlcv/BTC-USDT?venue=binance&interval=1h&from=2024-08-08T23:52:00Z&limit=1")
            #expect(Self.starts(one) == ["2024-08-08T23:00:00Z"])
        }
    }

    @Test(arguments: [
        ("/api/v1/market/ohlcv/BTC-USDT", "missing_venue"),
        ("/api/v1/market/ohlcv/BTC-USDT?venue=", "missing_venue"),
        ("/api/v1/market/ohlcv/BTC-USDT?venue=binance&interval=2m", "bad_interval"),
        ("/api/v1/market/ohlcv/BTC-USDT?venue=binance&interval=", "bad_interval"),
        ("/api/v1/market/ohlcv/BTC-USDT?venue=binance&from=yesterday", "bad_time"),
        ("/api/v1/market/ohlcv/BTC-USDT?venue=binance&from=2024-08-08T23:55:00", "bad_time"),
        ("/api/v1/market/ohlcv/BTC-USDT?venue=binance&to=99999999999999999", "bad_time"),
        ("/api/v1/market/ohlcv/BTC-USDT?venue=binance&to=-5", "bad_time"),
        ("/api/v1/market/ohlcv/BTC-USDT?venue=binance&from=2024-08-08T23:58:00Z&to=2024-08-08T23:58:00Z", "bad_range"),
        ("/api/v1/market/ohlcv/BTC-USDT?venue=binance&from=1723161600000&to=2024-08-08T23:00:00Z", "bad_range"),
        ("/api/v1/market/ohlcv/BTC-USDT?venue=binance&limit=0", "bad_limit"),
        ("/api/v1/market/ohlcv/BTC-USDT?venue=binance&limit=5001", "bad_limit"),
        ("/api/v1/market/ohlcv/BTC-USDT?venue=binance&limit=ten", "bad_limit"),
        ("/api/v1/market/ohlcv/BTC$USDT?venue=binance", "bad_symbol"),
        // A venue's own spelling is not the canonical symbol: refused, not an empty list.
        ("/api/v1/market/ohlcv/btcusdt?venue=binance", "bad_symbol"),
        ("/api/v1/market/orderbook/BTCUSDT?venue=binance", "bad_symbol"),
        ("/api/v1/market/ohlcv/BTC-?venue=binance", "bad_symbol"),
        ("/api/v1/market/orderbook/BTC-USDT", "missing_venue"),
        ("/api/v1/market/orderbook/BTC-USDT?venue=binance&depth=0", "bad_depth"),
        ("/api/v1/market/orderbook/BTC-USDT?venue=binance&depth=1001", "bad_depth"),
        ("/api/v1/market/orderbook/BTC-USDT?venue=binance&depth=x", "bad_depth"),
    ])
    func badParametersAre400WithTheirCode(_ uri: String, _ code: String) async throws {
        try await withApp { client, _ in
            let body = try await Self.get(client, uri, .badRequest)
            let error = try #require(body["error"] as? [String: Any])
            #expect(error["code"] as? String == code)
            #expect((error["message"] as? String)?.isEmpty == false)
        }
    }

    @Test func unknownInstrumentsAreAnEmptyList() async throws {
        try await withApp { client, _ in
            for uri in [
                "/api/v1/market/ohlcv/ETH-USDT?venue=binance", "/api/v1/market/ohlcv/BTC-USDT?venue=kraken",
                "/api/v1/market/ohlcv/ETH-USDT?venue=binance&interval=1d",
            ] {
                let body = try await Self.get(client, uri)
                #expect(body["candles"] as? [Any] != nil && Self.candles(body).isEmpty, "\(uri)")
            }
        }
    }

    @Test func unknownRoutesAnswerTheAPIsJSONError() async throws {
        try await withApp { client, _ in
            for uri in ["/", "/api/v1/nope", "/api/v1/market/ohlcv"] {
                let body = try await Self.get(client, uri, .notFound)
                let error = try #require(body["error"] as? [String: Any], "\(uri)")
                #expect(error["code"] as? String == "not_found", "\(uri)")
                #expect((error["message"] as? String)?.contains(uri) == true, "\(uri): \(error)")
            }
        }
    }

    @Test func aLiveBookThatIsNotValidIsNeverServed() async throws {
        var book = try await StoredReplay.shared.value.lastBook
        book.valid = false
        try await withApp(liveBooks: StubLiveBooks(snapshot: book)) { client, _ in
            let body = try await Self.get(client, "/api/v1/market/orderbook/BTC-USDT?venue=binance", .serviceUnavailable)
            #expect((body["error"] as? [String: Any])?["code"] as? String == "book_resyncing", "\(body)")
        }
    }

    @Test func orderbookIsTheLastStoredSnapshot() async throws {
        try await withApp { client, fixture in
            var body = try await Self.get(client, "/api/v1/market/orderbook/btc-usdt?venue=binance")
            #expect(body["source"] as? String == "store")
            body["source"] = nil
            #expect(same(body, try json(MarketEvent.bookSnapshot(fixture.lastBook).jsonLine)), "\(body)")

            let five = try await Self.get(client, "/api/v1/market/orderbook/BTC-USDT?venue=binance&depth=5")
            #expect((five["bids"] as? [[String]])?.count == 5 && (five["asks"] as? [[String]])?.count == 5)
            #expect((five["bids"] as? [[String]])?.first?.first == fixture.lastBook.bids[0].price.description)

            let missing = try await Self.get(client, "/api/v1/market/orderbook/ETH-USDT?venue=binance", .notFound)
            #expect((missing["error"] as? [String: Any])?["code"] as? String == "no_book")
        }
    }

    @Test func aLiveBookWinsOverTheStore() async throws {
        var book = try await StoredReplay.shared.value.lastBook
        book.time = UnixNanos(book.time.rawValue + 1_000_000)
        let live = book
        try await withApp(liveBooks: StubLiveBooks(snapshot: live)) { client, _ in
            var body = try await Self.get(client, "/api/v1/market/orderbook/BTC-USDT?venue=binance&depth=3")
            #expect(body["source"] as? String == "live")
            body["source"] = nil
            var trimmed = live
            trimmed.bids = Array(live.bids.prefix(3))
            trimmed.asks = Array(live.asks.prefix(3))
            #expect(same(body, try json(MarketEvent.bookSnapshot(trimmed).jsonLine)), "\(body)")
            // Another instrument: the live source has none, neither has the store.
            _ = try await Self.get(client, "/api/v1/market/orderbook/ETH-USDT?venue=binance", .notFound)
        }
    }

    /// The real server on a loopback socket; `onListening` reports the bound port.
    @Test func servesOverLoopback() async throws {
        let fixture = try await StoredReplay.shared.value
        let reported = Reported()
        let app = MarketAPIServer.makeApplication(
            store: fixture.store, host: "127.0.0.1", port: 0, logger: Logger(label: "MarketAPITests"),
            onListening: { await reported.set($0) })
        try await app.test(.live) { client in
            let body = try await Self.get(client, "/api/v1/market/ohlcv/BTC-USDT?venue=binance&limit=1")
            #expect(Self.starts(body) == [try json(fixture.candles1m.last!)["start"] as! String])
        }
        #expect((await reported.port ?? 0) > 0)
    }

    actor Reported {
        var port: Int?
        func set(_ p: Int) { port = p }
    }

    @Test func healthAndStoreFailures() async throws {
        try await withApp { client, _ in
            let ok = try await Self.get(client, "/api/v1/health/db")
            #expect(ok["status"] as? String == "ok" && ok["backend"] as? String == "sqlite")
        }
        try await withApp(store: DownStore()) { client, _ in
            let down = try await Self.get(client, "/api/v1/health/db", .serviceUnavailable)
            #expect(down["backend"] as? String == "postgresql")
            #expect((down["error"] as? [String: Any])?["code"] as? String == "store_unavailable")
            for uri in [
                "/api/v1/market/ohlcv/BTC-USDT?venue=binance", "/api/v1/market/ohlcv/BTC-USDT?venue=binance&interval=1h",
                "/api/v1/market/orderbook/BTC-USDT?venue=binance",
            ] {
                let body = try await Self.get(client, uri, .serviceUnavailable)
                let error = try #require(body["error"] as? [String: Any])
                #expect(error["code"] as? String == "store_unavailable")
                #expect((error["message"] as? String)?.contains("connection refused") == true)
            }
            // Parameters are checked before the store is asked.
            _ = try await Self.get(client, "/api/v1/market/ohlcv/BTC-USDT", .badRequest)
        }
    }
}
