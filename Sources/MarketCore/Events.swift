/// The taker side of a trade, or the side of a book level.
public enum Side: UInt8, Sendable, Hashable {
    case buy
    case sell

    public var text: String { self == .buy ? "buy" : "sell" }
}

/// Where an event's time came from.
public enum TimeSource: UInt8, Sendable, Hashable {
    /// The venue's own event time.
    case venue
    /// The local receive time, for messages that carry no venue time (Binance REST depth, spot `bookTicker`, Coinbase `snapshot`).
    case receive
}

/// A venue's trade identifier.
public enum TradeID: Sendable, Hashable, CustomStringConvertible {
    /// A numeric id that increases per instrument (Binance, Coinbase, OKX): supports gap detection.
    case number(Int64)
    /// An opaque id (Bybit UUIDs).
    case text(String)
    /// The venue sends no id (Kraken v1).
    case none

    public var description: String {
        switch self {
        case .number(let n): String(n)
        case .text(let t): t
        case .none: ""
        }
    }
}

/// Which of a venue's trade streams a trade came from (one stream per instrument feeds candles).
public enum TradeStream: UInt8, Sendable, Hashable {
    /// Individual trades (Binance `trade`, Coinbase `match`).
    case raw
    /// Aggregated trades (Binance `aggTrade`): one message may stand for several exchange trades.
    case aggregated
}

/// A normalized trade.
public struct Trade: Sendable, Hashable {
    public var instrument: Instrument
    public var id: TradeID
    public var price: FixedDecimal
    public var quantity: FixedDecimal
    /// The taker's side.
    public var side: Side
    /// The trade's own time at the venue (Binance `T`, not `E`).
    public var eventTime: UnixNanos
    public var receiveTime: UnixNanos
    /// Exchange trades this message stands for (`l − f + 1` for Binance `aggTrade`, else 1).
    public var count: Int64
    public var stream: TradeStream

    public init(
        instrument: Instrument, id: TradeID, price: FixedDecimal, quantity: FixedDecimal, side: Side,
        eventTime: UnixNanos, receiveTime: UnixNanos, count: Int64 = 1, stream: TradeStream = .raw
    ) {
        self.instrument = instrument
        self.id = id
        self.price = price
        self.quantity = quantity
        self.side = side
        self.eventTime = eventTime
        self.receiveTime = receiveTime
        self.count = count
        self.stream = stream
    }
}

/// One price level; a zero quantity in a delta removes the level.
public struct BookLevel: Sendable, Hashable {
    public var price: FixedDecimal
    public var quantity: FixedDecimal

    @inlinable
    public init(price: FixedDecimal, quantity: FixedDecimal) {
        self.price = price
        self.quantity = quantity
    }
}

/// The sequencing information a venue attaches to a book message, interpreted by the synchronizer.
public enum BookSequence: Sendable, Hashable {
    /// No sequence numbers (Coinbase Exchange `level2`): gaps are detected elsewhere (trade ids).
    case unsequenced
    /// A REST or in-stream snapshot as of `lastUpdateID` (Binance `lastUpdateId`).
    case snapshot(lastUpdateID: Int64)
    /// A diff covering update ids `first...last` (Binance spot `U`/`u`): the next diff must start at `last + 1`.
    case range(first: Int64, last: Int64)
    /// A diff covering `first...last` that names the previous diff's `last` (Binance futures `pu`, OKX `prevSeqId`).
    case linked(first: Int64, last: Int64, previous: Int64)
    /// A single sequence number that increases by one per message (Coinbase Advanced Trade `sequence_num`, Bybit `u`).
    case sequence(Int64)
}

/// How a venue's book is brought in sync and kept in sync.
public enum BookSyncRule: Sendable, Hashable {
    /// Binance spot: snapshot over REST; drop diffs with `u <= lastUpdateId`; the first applied diff
    /// must straddle `lastUpdateId + 1`; then `U == previous u + 1`.
    case binanceSpot
    /// Binance USD-M / COIN-M futures: first applied diff has `U <= lastUpdateId <= u`; then `pu == previous u`.
    case binanceFutures
    /// Snapshots arrive in the stream; each message's sequence follows the previous one's
    /// (`.sequence(n)` with `n == previous + 1`, or `.linked` with `previous == previous last`).
    case inStreamSequenced
    /// Snapshots arrive in the stream; messages carry no sequence (Coinbase Exchange `level2`).
    case unsequenced
}

/// A book message from a venue: a full snapshot or a delta batch.
public struct BookUpdate: Sendable, Hashable {
    public var instrument: Instrument
    public var isSnapshot: Bool
    public var bids: [BookLevel]
    public var asks: [BookLevel]
    public var sequence: BookSequence
    public var rule: BookSyncRule
    public var eventTime: UnixNanos
    public var receiveTime: UnixNanos
    public var timeSource: TimeSource
    /// The venue's checksum over the book after this message (Kraken, OKX), verified by the synchronizer.
    public var checksum: ChecksumCheck?
    /// Levels per side the venue maintains (Kraken's subscribed depth): deeper levels are dropped after applying.
    public var depthLimit: Int?

    public init(
        instrument: Instrument, isSnapshot: Bool, bids: [BookLevel], asks: [BookLevel], sequence: BookSequence,
        rule: BookSyncRule, eventTime: UnixNanos, receiveTime: UnixNanos, timeSource: TimeSource = .venue,
        checksum: ChecksumCheck? = nil, depthLimit: Int? = nil
    ) {
        self.checksum = checksum
        self.depthLimit = depthLimit
        self.instrument = instrument
        self.isSnapshot = isSnapshot
        self.bids = bids
        self.asks = asks
        self.sequence = sequence
        self.rule = rule
        self.eventTime = eventTime
        self.receiveTime = receiveTime
        self.timeSource = timeSource
    }
}

/// Top-N view of a valid book at a moment.
public struct BookSnapshot: Sendable, Hashable {
    public var instrument: Instrument
    public var time: UnixNanos
    /// Best first.
    public var bids: [BookLevel]
    /// Best first.
    public var asks: [BookLevel]
    public var valid: Bool

    public init(instrument: Instrument, time: UnixNanos, bids: [BookLevel], asks: [BookLevel], valid: Bool) {
        self.instrument = instrument
        self.time = time
        self.bids = bids
        self.asks = asks
        self.valid = valid
    }

    public var bestBid: BookLevel? { bids.first }
    public var bestAsk: BookLevel? { asks.first }

    /// `ask − bid`, when both sides exist.
    public var spread: FixedDecimal? {
        guard let b = bestBid, let a = bestAsk else { return nil }
        return a.price.subtracting(b.price)
    }

    /// `(bid + ask) / 2` exactly, when both sides exist.
    public var mid: FixedDecimal? {
        guard let b = bestBid, let a = bestAsk else { return nil }
        return FixedDecimal.midpoint(b.price, a.price)
    }
}

/// Best bid/ask as the venue publishes it (Binance `bookTicker`, Coinbase `ticker`).
public struct Ticker: Sendable, Hashable {
    public var instrument: Instrument
    public var bestBid: BookLevel?
    public var bestAsk: BookLevel?
    /// The venue's update id for this top of book, when it sends one (Binance `u`).
    public var updateID: Int64?
    public var eventTime: UnixNanos
    public var receiveTime: UnixNanos
    public var timeSource: TimeSource

    public init(
        instrument: Instrument, bestBid: BookLevel?, bestAsk: BookLevel?, updateID: Int64?, eventTime: UnixNanos,
        receiveTime: UnixNanos, timeSource: TimeSource
    ) {
        self.instrument = instrument
        self.bestBid = bestBid
        self.bestAsk = bestAsk
        self.updateID = updateID
        self.eventTime = eventTime
        self.receiveTime = receiveTime
        self.timeSource = timeSource
    }
}

/// A feed or book status change.
public struct FeedStatus: Sendable, Hashable {
    /// What happened; ``Kind/name`` is the `event` string on the wire (CONTRACTS.md).
    public var kind: Kind
    public var venue: Venue
    /// `nil` for venue-level events.
    public var instrument: Instrument?
    public var detail: String
    public var time: UnixNanos

    public init(kind: Kind, venue: Venue, instrument: Instrument?, detail: String, time: UnixNanos) {
        self.kind = kind
        self.venue = venue
        self.instrument = instrument
        self.detail = detail
        self.time = time
    }
}

extension FeedStatus {
    /// What a `gap` broke.
    public enum Gap: Sendable, Hashable {
        /// Book updates were missed (a sequence break, or continuity lost elsewhere): the book is
        /// invalid until resynchronized.
        case book
        /// A venue with contiguous trade ids skipped some: trades (and their candles) are missing.
        /// Says nothing about the book.
        case tradeIDs
    }

    /// The kinds of status. Consumers match on these; only the wire sees ``name``.
    public enum Kind: Sendable, Hashable {
        // Books (the synchronizer's outcomes).
        /// `synced`: the book became valid for the first time.
        case synced
        /// `resynced`: the book became valid again after a gap or resync.
        case resynced
        /// `gap`: continuity broke (book updates or trade ids).
        case gap(Gap)
        /// `resync`: a new snapshot was asked for.
        case resync
        /// `crossed`: best bid reached best ask; not published until it uncrosses or resyncs.
        case crossed
        /// `uncrossed`
        case uncrossed
        /// `checksum_failed`: the venue's checksum disagrees with the local book.
        case checksumFailed
        // Trades (the normalizer's checks).
        /// `invalid_trade`: a non-positive price or size, or a time before 1970; refused.
        case invalidTrade
        /// `future_trade`: a time too far ahead of the clock; refused.
        case futureTrade
        /// `trade_held`: an id jump held until a later trade confirms it.
        case tradeHeld
        /// `trade_outlier`: a held trade no later trade confirmed; dropped.
        case tradeOutlier
        /// `late_trade_dropped`: older than the candle history kept.
        case lateTradeDropped
        // Frames and connections.
        /// `parse_error`: a malformed or unrecognized frame.
        case parseError
        /// `venue_error`: the venue reported an error (a refused subscription, a bad request).
        case venueError
        /// `venue_status`: the venue's system status is not online (maintenance).
        case venueStatus
        /// `server_shutdown`: the venue announced it will close the connection.
        case serverShutdown
        /// `reconnected`
        case reconnected
        /// `stale`: the feed closed a connection that stopped sending.
        case stale
        /// `disconnected`: the venue's last connection closed.
        case disconnected
        // Channel epochs (the bus, on the channel whose continuity broke).
        /// `book_reset`
        case bookReset
        /// `trade_gap`
        case tradeGap
        /// `candle_suspect`
        case candleSuspect

        /// The `event` string of the websocket protocol, replay output and logs.
        public var name: String {
            switch self {
            case .synced: "synced"
            case .resynced: "resynced"
            case .gap: "gap"
            case .resync: "resync"
            case .crossed: "crossed"
            case .uncrossed: "uncrossed"
            case .checksumFailed: "checksum_failed"
            case .invalidTrade: "invalid_trade"
            case .futureTrade: "future_trade"
            case .tradeHeld: "trade_held"
            case .tradeOutlier: "trade_outlier"
            case .lateTradeDropped: "late_trade_dropped"
            case .parseError: "parse_error"
            case .venueError: "venue_error"
            case .venueStatus: "venue_status"
            case .serverShutdown: "server_shutdown"
            case .reconnected: "reconnected"
            case .stale: "stale"
            case .disconnected: "disconnected"
            case .bookReset: "book_reset"
            case .tradeGap: "trade_gap"
            case .candleSuspect: "candle_suspect"
            }
        }

        /// The instrument's book is invalid until resynchronized (its channel starts a new epoch).
        public var invalidatesBook: Bool {
            switch self {
            case .gap(.book), .resync, .checksumFailed, .crossed: true
            default: false
            }
        }

        /// A venue-level status after which every book of the venue is rebuilt from a new snapshot.
        public var endsConnection: Bool {
            switch self {
            case .disconnected, .stale: true
            default: false
            }
        }
    }
}

/// What a venue adapter makes of one frame, before normalization.
public enum VenueEvent: Sendable, Hashable {
    case trade(Trade)
    case book(BookUpdate)
    case ticker(Ticker)
    case status(FeedStatus)
    /// A malformed or unrecognized frame: `detail` says why and carries a short excerpt.
    case parseError(instrument: Instrument?, detail: String)
}
