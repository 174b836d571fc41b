/// A candle interval (`1m`, `5m`, `1h`, `1d`, or any whole number of seconds/minutes/hours/days).
public struct Interval: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let nanoseconds: Int64
    /// The name used in output and topics (`1m`).
    public let name: String

    public static let oneMinute = Interval(nanoseconds: 60_000_000_000, name: "1m")
    public static let fiveMinutes = Interval(nanoseconds: 300_000_000_000, name: "5m")

    public init(nanoseconds: Int64, name: String) {
        self.nanoseconds = nanoseconds
        self.name = name
    }

    /// Parses `30s`, `1m`, `5m`, `15m`, `1h`, `4h`, `1d`.
    public init?(_ text: String) {
        guard let unit = text.last, let n = Int64(text.dropLast()), n > 0 else { return nil }
        let seconds: Int64
        switch unit {
        case "s": seconds = n
        case "m": seconds = n * 60
        case "h": seconds = n * 3600
        case "d": seconds = n * 86_400
        default: return nil
        }
        self.init(nanoseconds: seconds * 1_000_000_000, name: text)
    }

    public var description: String { name }
    public static func < (lhs: Interval, rhs: Interval) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// Start of the bucket `[start, start + interval)` containing `time`.
    @inlinable
    public func bucketStart(_ time: UnixNanos) -> UnixNanos { time.floored(to: nanoseconds) }
}

/// An OHLCV candle built from trades.
///
/// Sums are exact (``WideDecimal``); `vwap` = quote volume ÷ volume rounded half-even to 10
/// fraction digits, or the close for a candle with no trades.
public struct Candle: Sendable, Hashable {
    public var instrument: Instrument
    public var interval: Interval
    /// Bucket start (inclusive).
    public var start: UnixNanos
    public var open: FixedDecimal
    public var high: FixedDecimal
    public var low: FixedDecimal
    public var close: FixedDecimal
    /// Base volume.
    public var volume: WideDecimal
    /// Σ price × quantity.
    public var quoteVolume: WideDecimal
    /// Exchange trades in the bucket.
    public var trades: Int64
    /// Base volume bought by takers.
    public var takerBuyVolume: WideDecimal
    public var closed: Bool
    /// 0 on first close, +1 per amendment.
    public var revision: Int
    /// False when the gateway did not observe the whole bucket (first bucket after start, feed gaps).
    public var complete: Bool

    public init(
        instrument: Instrument, interval: Interval, start: UnixNanos, open: FixedDecimal, high: FixedDecimal,
        low: FixedDecimal, close: FixedDecimal, volume: WideDecimal, quoteVolume: WideDecimal, trades: Int64,
        takerBuyVolume: WideDecimal, closed: Bool, revision: Int, complete: Bool
    ) {
        self.instrument = instrument
        self.interval = interval
        self.start = start
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.quoteVolume = quoteVolume
        self.trades = trades
        self.takerBuyVolume = takerBuyVolume
        self.closed = closed
        self.revision = revision
        self.complete = complete
    }

    public var end: UnixNanos { UnixNanos(start.rawValue + interval.nanoseconds) }

    /// Quote volume ÷ volume, half-even at 10 digits; the close when there were no trades
    /// (or when the division cannot be represented, which the sums' ranges rule out in practice).
    public var vwap: WideDecimal {
        guard !volume.isZero, let v = quoteVolume.divided(by: volume, roundingToFractionDigits: 10) else {
            return WideDecimal(close)
        }
        return v
    }
}

/// A normalized event as the bus, the store and clients see it.
public enum MarketEvent: Sendable, Hashable {
    case trade(Trade)
    case candle(Candle)
    case bookSnapshot(BookSnapshot)
    case ticker(Ticker)
    case status(FeedStatus)

    /// The type name used in output lines and protocol frames.
    public var typeName: String {
        switch self {
        case .trade: "trade"
        case .candle: "candle"
        case .bookSnapshot: "book_snapshot"
        case .ticker: "ticker"
        case .status: "status"
        }
    }
}
