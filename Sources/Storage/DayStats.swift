public import MarketCore

/// An instrument's last 24 hours from its stored 1m candles: the ticker endpoint's figures.
///
/// The window is the 1,440 one-minute buckets ending with the latest stored one (not the wall
/// clock, so a store filled from a capture still answers; `to` says how current it is).
public struct DayStats: Sendable, Hashable {
    public var venue: String
    public var symbol: String
    /// Start of the oldest bucket in the window and end of the newest (exclusive).
    public var from: UnixNanos
    public var to: UnixNanos
    /// The newest bucket's close: the last stored trade price.
    public var last: WideDecimal
    /// The oldest bucket's open in the window.
    public var open: WideDecimal
    public var high: WideDecimal
    public var low: WideDecimal
    public var volume: WideDecimal
    public var quoteVolume: WideDecimal
    public var trades: Int64
    /// 1m buckets stored in the window (1,440 when none is missing).
    public var buckets: Int

    static let window = Interval(nanoseconds: 86_400_000_000_000, name: "24h")

    /// `last − open`.
    public var change: WideDecimal? { last.subtracting(open) }
    /// `change ÷ open × 100`, half-even at 2 digits; `nil` when open is zero.
    public var changePercent: WideDecimal? {
        guard let change, let hundred = change.multiplied(by: WideDecimal(100)) else { return nil }
        return hundred.divided(by: open, roundingToFractionDigits: 2)
    }

    /// Folds 1m candles (oldest first, one instrument); `nil` for none.
    public init?(candles: [StoredCandle]) throws(CandleAggregationError) {
        guard let first = candles.first, let newest = candles.last else { return nil }
        venue = first.venue
        symbol = first.symbol
        from = first.start
        to = UnixNanos(newest.start.rawValue + newest.interval.nanoseconds)
        last = newest.close
        open = first.open
        high = first.high
        low = first.low
        volume = .zero
        quoteVolume = .zero
        trades = 0
        buckets = candles.count
        func sum(_ a: WideDecimal, _ b: WideDecimal, _ field: String) throws(CandleAggregationError) -> WideDecimal {
            guard let s = a.adding(b) else {
                throw .overflow(venue: venue, symbol: symbol, interval: Self.window, start: from, field: field)
            }
            return s
        }
        for c in candles {
            high = max(high, c.high)
            low = min(low, c.low)
            volume = try sum(volume, c.volume, "volume")
            quoteVolume = try sum(quoteVolume, c.quoteVolume, "quote_volume")
            let (t, o) = trades.addingReportingOverflow(c.trades)
            if o { throw .overflow(venue: venue, symbol: symbol, interval: Self.window, start: from, field: "trades") }
            trades = t
        }
    }
}

extension MarketStore {
    /// The last 24 hours of an instrument (``DayStats``), or `nil` when it has no stored 1m candle.
    public func dayStats(venue: String, symbol: String) async throws -> DayStats? {
        let latest = try await candles(CandleQuery(venue: venue, symbol: symbol, interval: .oneMinute, limit: 1))
        guard let newest = latest.last else { return nil }
        let day: Int64 = 86_400_000_000_000
        let from = UnixNanos(newest.start.rawValue + Interval.oneMinute.nanoseconds - day)
        let window = try await candles(
            CandleQuery(
                venue: venue, symbol: symbol, interval: .oneMinute, from: from,
                to: UnixNanos(newest.start.rawValue + Interval.oneMinute.nanoseconds), limit: 1440))
        return try DayStats(candles: window)
    }
}
