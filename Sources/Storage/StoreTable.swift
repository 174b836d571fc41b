public import MarketCore

/// The market-data tables the writer fills (CONTRACTS.md "Store"), with their columns in the
/// order of a row line (``StoreRowEncoder``).
public enum StoreTable: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case candles1m = "market_data_1m"
    case candles5m = "market_data_5m"
    case trades = "trades"
    case bookSnapshots = "order_book_snapshots"

    public var description: String { rawValue }

    /// What a column holds; each store maps it to its own representation.
    public enum ColumnKind: Sendable, Hashable {
        /// ISO-8601 UTC text (`timestamptz` in PostgreSQL; text plus `time_ns` in SQLite).
        case time
        case text
        /// Exact decimal text.
        case numeric
        case integer
        /// `t` / `f` in a row line.
        case boolean
        /// Book levels: a PostgreSQL array literal `{{price,qty},...}` in a row line.
        case levels
    }

    public struct Column: Sendable, Hashable {
        public let name: String
        public let kind: ColumnKind
        public let nullable: Bool
        init(_ name: String, _ kind: ColumnKind, nullable: Bool = false) {
            self.name = name
            self.kind = kind
            self.nullable = nullable
        }
    }

    /// How a row that conflicts with a stored one on ``key`` is treated.
    public enum Conflict: Sendable, Hashable {
        /// Candles: the row with the higher (or equal) `revision` wins, so late amendments replace
        /// earlier rows and an old row replayed from a spill file never overwrites a newer one. At
        /// equal revisions the row with more trades stays (two ingest nodes store the same buckets;
        /// one that connected mid-bucket has only part of its first one).
        case keepLatestRevision
        /// Trades and snapshots: the first stored row stays (writes are idempotent).
        case ignore
    }

    private static let candleColumns: [Column] = [
        Column("time", .time), Column("venue", .text), Column("symbol", .text),
        Column("open", .numeric), Column("high", .numeric), Column("low", .numeric), Column("close", .numeric),
        Column("volume", .numeric), Column("quote_volume", .numeric), Column("trades", .integer),
        Column("vwap", .numeric), Column("taker_buy_volume", .numeric), Column("revision", .integer),
        Column("complete", .boolean),
    ]

    private static let tradeColumns: [Column] = [
        Column("time", .time), Column("venue", .text), Column("symbol", .text), Column("trade_id", .text),
        Column("price", .numeric), Column("qty", .numeric), Column("side", .text), Column("trade_count", .integer),
    ]

    private static let snapshotColumns: [Column] = [
        Column("time", .time), Column("venue", .text), Column("symbol", .text),
        Column("bid_price", .numeric, nullable: true), Column("bid_qty", .numeric, nullable: true),
        Column("ask_price", .numeric, nullable: true), Column("ask_qty", .numeric, nullable: true),
        Column("spread", .numeric, nullable: true), Column("mid", .numeric, nullable: true),
        Column("bids", .levels), Column("asks", .levels),
    ]

    /// The columns of a row line, in order.
    public var columns: [Column] {
        switch self {
        case .candles1m, .candles5m: Self.candleColumns
        case .trades: Self.tradeColumns
        case .bookSnapshots: Self.snapshotColumns
        }
    }

    /// The unique key (`time` last; SQLite uses `time_ns` in its place).
    public var key: [String] {
        switch self {
        case .candles1m, .candles5m, .bookSnapshots: ["venue", "symbol", "time"]
        case .trades: ["venue", "symbol", "trade_id", "time"]
        }
    }

    public var conflict: Conflict {
        switch self {
        case .candles1m, .candles5m: .keepLatestRevision
        case .trades, .bookSnapshots: .ignore
        }
    }

    /// The candle table for an interval, or `nil` when candles of that interval are not stored
    /// (1h and 1d are derived from the 5m rows when read).
    public static func candles(_ interval: Interval) -> StoreTable? {
        switch interval.nanoseconds {
        case Interval.oneMinute.nanoseconds: .candles1m
        case Interval.fiveMinutes.nanoseconds: .candles5m
        default: nil
        }
    }
}
