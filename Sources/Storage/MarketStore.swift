public import MarketCore

/// Which database a store runs on; logged at start-up.
public enum StoreBackend: String, Sendable, Hashable {
    /// PostgreSQL with the TimescaleDB extension: hypertables, compression, retention, aggregates.
    case timescaledb
    /// PostgreSQL without TimescaleDB: the same tables with ordinary indexes.
    case postgresql
    /// The embedded SQLite file.
    case sqlite
}

/// The system of record behind the writer and the history endpoints.
///
/// Writes take whole ``RowBatch``es and are atomic and idempotent: a batch is stored entirely or
/// not at all, and writing the same rows again changes nothing (candles keep the latest revision,
/// trades and snapshots the first copy). That is what lets the writer retry and replay spill files
/// without duplicating anything.
public protocol MarketStore: Sendable {
    var backend: StoreBackend { get }

    /// The backend as the database says now (PostgreSQL: whether the extension is in this database),
    /// also before ``migrate()`` ran; the default is ``backend``.
    func currentBackend() async throws -> StoreBackend

    /// Applies pending migrations from `schema/`; safe to call on every start.
    func migrate() async throws -> MigrationReport

    /// Stores one batch in one transaction, upserting on the table's key.
    func write(_ batch: RowBatch) async throws

    /// Stored 1m or 5m candles (``CandleQuery``); for 1h/1d use ``ohlcv(_:)``.
    func candles(_ query: CandleQuery) async throws -> [StoredCandle]

    /// Candles of any servable interval (1m, 5m, 1h, 1d, …); the default aggregates the stored 1m
    /// rows (``aggregatedOHLCV(_:)``), a store with precomputed aggregates reads those.
    func ohlcv(_ query: CandleQuery) async throws -> [StoredCandle]

    /// The most recent stored book snapshot of an instrument.
    func latestBookSnapshot(venue: String, symbol: String) async throws -> StoredBookSnapshot?

    /// Rows in a table (diagnostics and tests).
    func count(_ table: StoreTable) async throws -> Int

    /// Releases connections; the store is unusable afterwards.
    func close() async
}

extension MarketStore {
    public func currentBackend() async throws -> StoreBackend { backend }
}

/// A candle history request. Candles are returned oldest first. With `from`, the first `limit`
/// candles starting at or after `from`; without it, the latest `limit` candles before `to`.
public struct CandleQuery: Sendable, Hashable {
    public var venue: String
    public var symbol: String
    public var interval: Interval
    /// Inclusive lower bound on the bucket start.
    public var from: UnixNanos?
    /// Exclusive upper bound on the bucket start.
    public var to: UnixNanos?
    public var limit: Int

    public static let maxLimit = 5000

    public init(venue: String, symbol: String, interval: Interval, from: UnixNanos? = nil, to: UnixNanos? = nil, limit: Int = 500) {
        self.venue = venue
        self.symbol = symbol
        self.interval = interval
        self.from = from
        self.to = to
        self.limit = limit
    }
}

/// A candle as stored: the latest revision of its bucket.
public struct StoredCandle: Sendable, Hashable {
    public var venue: String
    public var symbol: String
    public var interval: Interval
    public var start: UnixNanos
    public var open: WideDecimal
    public var high: WideDecimal
    public var low: WideDecimal
    public var close: WideDecimal
    public var volume: WideDecimal
    public var quoteVolume: WideDecimal
    public var trades: Int64
    public var vwap: WideDecimal
    public var takerBuyVolume: WideDecimal
    public var revision: Int
    public var complete: Bool

    public init(
        venue: String, symbol: String, interval: Interval, start: UnixNanos, open: WideDecimal, high: WideDecimal,
        low: WideDecimal, close: WideDecimal, volume: WideDecimal, quoteVolume: WideDecimal, trades: Int64,
        vwap: WideDecimal, takerBuyVolume: WideDecimal, revision: Int, complete: Bool
    ) {
        self.venue = venue
        self.symbol = symbol
        self.interval = interval
        self.start = start
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.quoteVolume = quoteVolume
        self.trades = trades
        self.vwap = vwap
        self.takerBuyVolume = takerBuyVolume
        self.revision = revision
        self.complete = complete
    }

    /// Builds a candle from stored column texts (the order of ``StoreTable/columns``, after
    /// `time`, `venue`, `symbol`). `nil` when a value does not parse.
    public init?(
        venue: String, symbol: String, interval: Interval, start: UnixNanos, decimals: [String], trades: Int64,
        revision: Int, complete: Bool
    ) {
        // open high low close volume quote_volume vwap taker_buy_volume
        let parsed = decimals.compactMap(WideDecimal.parse)
        guard decimals.count == 8, parsed.count == 8 else { return nil }
        self.init(
            venue: venue, symbol: symbol, interval: interval, start: start, open: parsed[0], high: parsed[1],
            low: parsed[2], close: parsed[3], volume: parsed[4], quoteVolume: parsed[5], trades: trades,
            vwap: parsed[6], takerBuyVolume: parsed[7], revision: revision, complete: complete)
    }

    /// The replay/protocol `candle` shape (CONTRACTS.md), `closed: true`.
    public func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("type")
        w.string("candle")
        MarketEvent.writeCandleFields(
            venue: venue, symbol: symbol, interval: interval, start: start, open: open, high: high, low: low,
            close: close, volume: volume, quoteVolume: quoteVolume, trades: trades, vwap: vwap,
            takerBuyVolume: takerBuyVolume, closed: true, revision: revision, complete: complete, into: &w)
        w.endObject()
    }

    public var jsonLine: String {
        var w = JSONWriter()
        writeJSON(into: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}

/// A stored book snapshot (top-N levels, best first).
public struct StoredBookSnapshot: Sendable, Hashable {
    public var venue: String
    public var symbol: String
    public var time: UnixNanos
    /// The stored ISO-8601 time text (the venue's precision).
    public var timeText: String
    public var bids: [(price: WideDecimal, qty: WideDecimal)] { levels(bidTexts) }
    public var asks: [(price: WideDecimal, qty: WideDecimal)] { levels(askTexts) }
    /// Levels as exact decimal texts `[price, qty]`.
    public var bidTexts: [[String]]
    public var askTexts: [[String]]

    public init(venue: String, symbol: String, time: UnixNanos, timeText: String, bids: [[String]], asks: [[String]]) {
        self.venue = venue
        self.symbol = symbol
        self.time = time
        self.timeText = timeText
        self.bidTexts = bids
        self.askTexts = asks
    }

    private func levels(_ texts: [[String]]) -> [(price: WideDecimal, qty: WideDecimal)] {
        texts.compactMap { pair in
            guard pair.count == 2, let p = WideDecimal.parse(pair[0]), let q = WideDecimal.parse(pair[1]) else { return nil }
            return (p, q)
        }
    }

    /// The `book_snapshot` shape (CONTRACTS.md) with `"source":"store"`, at most `depth` levels.
    public func writeJSON(into w: inout JSONWriter, depth: Int? = nil) {
        let bids = Array(bidTexts.prefix(depth ?? bidTexts.count))
        let asks = Array(askTexts.prefix(depth ?? askTexts.count))
        w.beginObject()
        w.key("type")
        w.string("book_snapshot")
        w.key("venue")
        w.string(venue)
        w.key("symbol")
        w.string(symbol)
        w.key("ts")
        w.string(timeText)
        for (name, side) in [("bids", bids), ("asks", asks)] {
            w.key(string: name)
            w.beginArray()
            for level in side {
                w.beginArray()
                for v in level { w.string(v) }
                w.endArray()
            }
            w.endArray()
        }
        let bestBid = bids.first.flatMap { WideDecimal.parse($0[0]) }
        let bestAsk = asks.first.flatMap { WideDecimal.parse($0[0]) }
        w.key("best_bid")
        if let bestBid { w.decimal(bestBid) } else { w.null() }
        w.key("best_ask")
        if let bestAsk { w.decimal(bestAsk) } else { w.null() }
        w.key("spread")
        if let bestBid, let bestAsk, let s = bestAsk.subtracting(bestBid) { w.decimal(s) } else { w.null() }
        w.key("mid")
        if let bestBid, let bestAsk, let sum = bestAsk.adding(bestBid), let m = sum.halved() { w.decimal(m) } else { w.null() }
        w.key("valid")
        w.bool(true)
        w.key("source")
        w.string("store")
        w.endObject()
    }
}

/// What ``MarketStore/migrate()`` did.
public struct MigrationReport: Sendable, Hashable, CustomStringConvertible {
    public var backend: StoreBackend
    /// Versions applied by this call, in order.
    public var applied: [Int]
    /// Versions skipped because they need TimescaleDB and it is not usable.
    public var skipped: [Int]
    /// Why TimescaleDB is not used (PostgreSQL only), or the extension's version when it is.
    public var timescaleNote: String?

    public init(backend: StoreBackend, applied: [Int], skipped: [Int], timescaleNote: String? = nil) {
        self.backend = backend
        self.applied = applied
        self.skipped = skipped
        self.timescaleNote = timescaleNote
    }

    /// `store: backend: timescaledb (extension 2.28.3); migrations applied: 3,4` — the start-up line.
    public var description: String {
        let a = applied.isEmpty ? "none" : applied.map(String.init).joined(separator: ",")
        var s = "store: backend: \(backend.rawValue)"
        if let timescaleNote { s += " (\(timescaleNote))" }
        s += "; migrations applied: \(a)"
        if !skipped.isEmpty {
            s += "; skipped until TimescaleDB is usable: " + skipped.map(String.init).joined(separator: ",")
        }
        return s
    }
}
