public import Hummingbird
public import MarketCore
public import Storage

/// Where the orderbook endpoint finds a live book (the serving gateway's normalizers).
public protocol LiveBookSource: Sendable {
    /// The instrument's current book, top `depth` levels per side, with `valid` saying whether the
    /// normalizer vouches for it; `nil` when the gateway does not hold a book for it.
    func book(venue: String, symbol: String, depth: Int) async -> BookSnapshot?
}

/// Adds the market-data endpoints (JSON; decimals are exact strings, times ISO-8601 UTC):
///
/// - `GET /api/v1/market/ohlcv/{symbol}?venue=&interval=&from=&to=&limit=` →
///   `{"venue","symbol","interval","candles":[candle, ...]}` oldest first, each candle the replay
///   `candle` shape (`closed: true`, latest revision). `venue` required; `interval` `1m` (default),
///   `5m`, `1h`, `1d` (1h/1d from the 1m rows: TimescaleDB's continuous aggregates, else aggregated
///   here); `from` (inclusive) and `to` (exclusive) bound
///   the bucket start, as ISO-8601 UTC (`2024-08-08T23:55:00Z`) or integer epoch milliseconds;
///   `limit` 1...5000, default 500. With `from`: the first `limit` candles from `from`; without:
///   the latest `limit` candles before `to` (or now). The serving gateway answers `404
///   unknown_instrument` for an instrument it does not carry; a store-only server (`gateway api`)
///   has no instrument registry, so there an unknown symbol is `200` with an empty list.
/// - `GET /api/v1/market/orderbook/{symbol}?venue=&depth=` → the `book_snapshot` shape with
///   `"source":"live"` (the running gateway's book, read between two updates) or `"source":"store"`
///   (latest stored snapshot, when the gateway holds no book for the instrument); `depth`
///   1...1000, default 20; `404 no_book` when neither has a book; `503 book_resyncing` while the
///   live book is not valid (gap, resync, checksum failure, crossed): an invalid book is never served.
/// - `GET /api/v1/market/ticker/{symbol}?venue=` → `{"type":"ticker_24h","venue","symbol","from","to",
///   "last","open","change","change_pct","high","low","volume","quote_volume","trades","buckets",
///   "bid","bid_qty","ask","ask_qty","book_source"}`: the 24 hours of stored 1m candles ending with
///   the latest one (``DayStats``; `to` says how current it is), best bid/ask from the live book, else
///   the latest stored snapshot (`book_source` `live`/`store`; `resyncing` or `null` with null prices);
///   `404 no_ticker` when the instrument has no stored 1m candle.
/// - `GET /api/v1/health/db` → `{"status":"ok","backend":"sqlite|postgresql|timescaledb"}`, or 503
///   `{"status":"unavailable","backend":…,"error":{"code":"store_unavailable","message":…}}`.
///
/// `{symbol}` is the canonical `BASE-QUOTE[-…]` form; lower case is accepted and upper-cased.
/// Errors are ``APIError`` JSON: 400 `missing_venue`, `bad_symbol`, `bad_interval`, `bad_time`,
/// `bad_range` (`from` ≥ `to`), `bad_limit`, `bad_depth`; 404 `no_book`, `no_ticker`, `unknown_instrument`,
/// `not_found` (no such route); 503 `store_unavailable`, `book_resyncing`;
/// 500 `aggregation_failed` (a 1h/1d sum that does not fit).
public func addMarketRoutes<Context: RequestContext>(
    to router: some RouterMethods<Context>, store: any MarketStore, liveBooks: (any LiveBookSource)? = nil,
    instruments: Set<InstrumentName>? = nil
) {
    let api = MarketAPI(store: store, liveBooks: liveBooks, instruments: instruments)
    router.get("/api/v1/market/ohlcv/{symbol}") { request, context in
        await api.respond { try await api.ohlcv(symbol: context.parameters.get("symbol"), query: request.uri.queryParameters) }
    }
    router.get("/api/v1/market/orderbook/{symbol}") { request, context in
        await api.respond { try await api.orderbook(symbol: context.parameters.get("symbol"), query: request.uri.queryParameters) }
    }
    router.get("/api/v1/market/ticker/{symbol}") { request, context in
        await api.respond { try await api.ticker(symbol: context.parameters.get("symbol"), query: request.uri.queryParameters) }
    }
    router.get("/api/v1/health/db") { _, _ in
        await api.healthDB()
    }
}

/// The handlers, independent of the router (the router only supplies the path symbol and query).
/// A venue and canonical symbol the serving gateway carries.
public struct InstrumentName: Hashable, Sendable {
    public var venue: String
    public var symbol: String
    public init(venue: String, symbol: String) {
        self.venue = venue
        self.symbol = symbol
    }
}

struct MarketAPI: Sendable {
    let store: any MarketStore
    let liveBooks: (any LiveBookSource)?
    /// What the serving gateway carries (nil: a store-only server, which answers from the store alone).
    var instruments: Set<InstrumentName>? = nil

    /// 404 `unknown_instrument` for an instrument the serving gateway does not carry.
    func checkKnown(venue: String, symbol: String) throws(APIError) {
        guard let instruments, !instruments.contains(InstrumentName(venue: venue, symbol: symbol)) else { return }
        let carried = instruments.filter { $0.venue == venue }.map(\.symbol).sorted()
        throw APIError(
            .notFound, code: "unknown_instrument",
            message: carried.isEmpty
                ? "the gateway carries no venue '\(venue)'"
                : "the gateway does not carry \(venue) \(symbol) (it carries \(carried.prefix(20).joined(separator: ", "))\(carried.count > 20 ? ", …" : ""))")
    }

    static let intervals = ["1m", "5m", "1h", "1d"]
    static let defaultLimit = 500
    static let defaultDepth = 20
    static let maxDepth = 1000
    /// A store call of a history endpoint that takes longer answers 503 `store_unavailable`
    /// (PostgresNIO's pool waits for a connection rather than failing while the server is down).
    static let storeTimeout: Duration = .seconds(10)
    static let healthTimeout: Duration = .seconds(3)

    /// Runs a handler, turning its ``APIError`` into the error response.
    func respond(_ body: () async throws -> Response) async -> Response { await APIError.respond(body) }

    func ohlcv(symbol: String?, query: Parameters) async throws(APIError) -> Response {
        let symbol = try Self.symbol(symbol)
        let venue = try Self.venue(query)
        try checkKnown(venue: venue, symbol: symbol)
        let intervalText = query.get("interval") ?? "1m"
        guard Self.intervals.contains(intervalText), let interval = Interval(intervalText) else {
            throw .badRequest("bad_interval", "interval must be one of 1m, 5m, 1h, 1d (got '\(intervalText)')")
        }
        let from = try query.get("from").map { (s: String) throws(APIError) in try Self.time(s, name: "from") }
        let to = try query.get("to").map { (s: String) throws(APIError) in try Self.time(s, name: "to") }
        if let from, let to, from >= to {
            throw .badRequest("bad_range", "from must be before to")
        }
        var limit = Self.defaultLimit
        if let text = query.get("limit") {
            guard let n = Int(text), (1...CandleQuery.maxLimit).contains(n) else {
                throw .badRequest("bad_limit", "limit must be an integer from 1 to \(CandleQuery.maxLimit) (got '\(text)')")
            }
            limit = n
        }
        let candles: [StoredCandle]
        do {
            let query = CandleQuery(venue: venue, symbol: symbol, interval: interval, from: from, to: to, limit: limit)
            candles = try await withStoreTimeout(Self.storeTimeout) { [store] in try await store.ohlcv(query) }
        } catch let e as CandleAggregationError {
            throw APIError(.internalServerError, code: "aggregation_failed", message: e.description)
        } catch {
            throw .storeUnavailable(error)
        }
        var w = JSONWriter(capacity: 64 + candles.count * 400)
        w.beginObject()
        w.key("venue")
        w.string(venue)
        w.key("symbol")
        w.string(symbol)
        w.key("interval")
        w.string(interval.name)
        w.key("candles")
        w.beginArray()
        for c in candles { c.writeJSON(into: &w) }
        w.endArray()
        w.endObject()
        return .json(.ok, w.bytes)
    }

    func orderbook(symbol: String?, query: Parameters) async throws(APIError) -> Response {
        let symbol = try Self.symbol(symbol)
        let venue = try Self.venue(query)
        try checkKnown(venue: venue, symbol: symbol)
        var depth = Self.defaultDepth
        if let text = query.get("depth") {
            guard let n = Int(text), (1...Self.maxDepth).contains(n) else {
                throw .badRequest("bad_depth", "depth must be an integer from 1 to \(Self.maxDepth) (got '\(text)')")
            }
            depth = n
        }
        var w = JSONWriter(capacity: 256 + depth * 80)
        if let live = await liveBooks?.book(venue: venue, symbol: symbol, depth: depth) {
            guard live.valid else {
                throw APIError(
                    .serviceUnavailable, code: "book_resyncing",
                    message: "the live \(venue) \(symbol) book is being resynchronized; retry shortly")
            }
            var s = live
            s.bids = Array(s.bids.prefix(depth))
            s.asks = Array(s.asks.prefix(depth))
            let event = MarketEvent.bookSnapshot(s)
            w.beginObject()
            w.key("type")
            w.string(event.typeName)
            event.writeFields(into: &w)
            w.key("source")
            w.string("live")
            w.endObject()
            return .json(.ok, w.bytes)
        }
        let stored: StoredBookSnapshot?
        do {
            stored = try await withStoreTimeout(Self.storeTimeout) { [store] in
                try await store.latestBookSnapshot(venue: venue, symbol: symbol)
            }
        } catch {
            throw .storeUnavailable(error)
        }
        guard let stored else {
            throw APIError(.notFound, code: "no_book", message: "no live or stored book for \(venue) \(symbol)")
        }
        stored.writeJSON(into: &w, depth: depth)
        return .json(.ok, w.bytes)
    }

    func ticker(symbol: String?, query: Parameters) async throws(APIError) -> Response {
        let symbol = try Self.symbol(symbol)
        let venue = try Self.venue(query)
        try checkKnown(venue: venue, symbol: symbol)
        let stats: DayStats?
        do {
            stats = try await withStoreTimeout(Self.storeTimeout) { [store] in try await store.dayStats(venue: venue, symbol: symbol) }
        } catch let e as CandleAggregationError {
            throw APIError(.internalServerError, code: "aggregation_failed", message: e.description)
        } catch {
            throw .storeUnavailable(error)
        }
        guard let stats else {
            throw APIError(.notFound, code: "no_ticker", message: "no stored 1m candle for \(venue) \(symbol)")
        }
        var bid: [String]? = nil
        var ask: [String]? = nil
        var bookSource: String? = nil
        if let live = await liveBooks?.book(venue: venue, symbol: symbol, depth: 1) {
            // An invalid live book (resynchronizing) gives no prices rather than wrong ones.
            if live.valid {
                bid = live.bids.first.map { [$0.price.description, $0.quantity.description] }
                ask = live.asks.first.map { [$0.price.description, $0.quantity.description] }
            }
            bookSource = live.valid ? "live" : "resyncing"
        } else {
            let stored: StoredBookSnapshot?
            do {
                stored = try await withStoreTimeout(Self.storeTimeout) { [store] in
                try await store.latestBookSnapshot(venue: venue, symbol: symbol)
            }
            } catch {
                throw .storeUnavailable(error)
            }
            if let stored {
                bid = stored.bidTexts.first
                ask = stored.askTexts.first
                bookSource = "store"
            }
        }
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        w.key("type")
        w.string("ticker_24h")
        w.key("venue")
        w.string(venue)
        w.key("symbol")
        w.string(symbol)
        w.key("from")
        w.time(stats.from, fractionDigits: 0)
        w.key("to")
        w.time(stats.to, fractionDigits: 0)
        for (key, value) in [
            ("last", stats.last), ("open", stats.open), ("change", stats.change), ("change_pct", stats.changePercent),
            ("high", stats.high), ("low", stats.low), ("volume", stats.volume), ("quote_volume", stats.quoteVolume),
        ] {
            w.key(string: key)
            if let value { w.decimal(value) } else { w.null() }
        }
        w.key("trades")
        w.int(stats.trades)
        w.key("buckets")
        w.int(Int64(stats.buckets))
        for (key, value) in [("bid", bid?.first), ("bid_qty", bid?.last), ("ask", ask?.first), ("ask_qty", ask?.last)] {
            w.key(string: key)
            if let value, let d = WideDecimal.parse(value) { w.decimal(d) } else { w.null() }
        }
        w.key("book_source")
        if let bookSource { w.string(bookSource) } else { w.null() }
        w.endObject()
        return .json(.ok, w.bytes)
    }

    /// A cheap indexed read (no table scan, unlike `count`) proves the connection and the schema;
    /// the backend is asked of the database (it may not be migrated yet). Bounded by
    /// ``healthTimeout``: a database that is down answers 503 at once, not after the pool gives up.
    func healthDB() async -> Response {
        var w = JSONWriter()
        w.beginObject()
        do {
            let backend = try await withStoreTimeout(Self.healthTimeout) { [store] in
                _ = try await store.candles(CandleQuery(venue: "", symbol: "", interval: .oneMinute, limit: 1))
                return try await store.currentBackend()
            }
            w.key("status")
            w.string("ok")
            w.key("backend")
            w.string(backend.rawValue)
            w.endObject()
            return .json(.ok, w.bytes)
        } catch {
            let e = APIError.storeUnavailable(error)
            w.key("status")
            w.string("unavailable")
            w.key("backend")
            w.string(store.backend.rawValue)
            w.key("error")
            w.beginObject()
            w.key("code")
            w.string(e.code)
            w.key("message")
            w.string(e.message)
            w.endObject()
            w.endObject()
            return .json(e.status, w.bytes)
        }
    }

    // MARK: parameters

    static func symbol(_ raw: String?) throws(APIError) -> String {
        let s = (raw ?? "").uppercased()
        // Canonical symbols are letters, digits and dashes (option strikes may carry a dot), with
        // at least BASE-QUOTE: a venue's own spelling (`btcusdt`) is refused, not looked up empty.
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard !s.isEmpty, s.utf8.count <= 64, parts.count >= 2, !parts.contains(where: \.isEmpty),
            s.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || $0 == 0x2D || $0 == 0x2E })
        else {
            throw .badRequest("bad_symbol", "symbol must be the canonical BASE-QUOTE form, e.g. BTC-USDT (got '\(raw ?? "")')")
        }
        return s
    }

    static func venue(_ query: Parameters) throws(APIError) -> String {
        guard let v = query.get("venue"), !v.isEmpty else {
            throw .badRequest("missing_venue", "the venue query parameter is required, e.g. venue=binance")
        }
        return v
    }

    /// ISO-8601 UTC (`2024-08-08T23:55:00Z`, fraction allowed) or integer epoch milliseconds.
    static func time(_ text: String, name: String) throws(APIError) -> UnixNanos {
        if !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
            if let ms = Int64(text) {
                let (ns, o) = ms.multipliedReportingOverflow(by: 1_000_000)
                if !o { return UnixNanos(ns) }
            }
        } else if let t = UnixNanos.parseISO8601(text) {
            return t
        }
        throw .badRequest(
            "bad_time", "\(name) must be ISO-8601 UTC like 2024-08-08T23:55:00Z or epoch milliseconds (got '\(text)')")
    }
}
