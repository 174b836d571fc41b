public import MarketCore

/// Why a candle interval cannot be served from the store, or why an aggregate could not be built.
public enum CandleAggregationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Shorter than 1m, or not a whole multiple of the part interval (1m for the store's reads).
    case unsupportedInterval(Interval)
    /// A sum (volume, quote volume, taker-buy volume, trades) does not fit; the bucket is named.
    case overflow(venue: String, symbol: String, interval: Interval, start: UnixNanos, field: String)
    /// A part given to the aggregator is not a candle of its part interval.
    case wrongPartInterval(expected: Interval, got: Interval)

    public var description: String {
        switch self {
        case .unsupportedInterval(let i):
            "interval \(i.name) cannot be served from the store: use 1m, 5m or a whole multiple of 1m (1h, 1d)"
        case .overflow(let venue, let symbol, let interval, let start, let field):
            "\(field) of the \(interval.name) candle \(venue) \(symbol) \(start.iso8601(fractionDigits: 0)) overflows"
        case .wrongPartInterval(let expected, let got):
            "cannot aggregate \(got.name) candles: parts must be \(expected.name) candles"
        }
    }
}

/// Builds candles of a larger interval (1h, 1d, …) from stored candles of a part interval (the
/// store reads use 1m parts; 5m parts work the same way).
///
/// Buckets are aligned to whole multiples of the interval since the epoch (UTC). Per bucket:
/// open = first part's open, close = last part's close, high/low = max/min, volume, quote volume,
/// taker-buy volume and trades = exact sums, vwap = quote volume ÷ volume half-even at 10 digits
/// (the close when volume is zero, as ``Candle/vwap``), revision = the parts' largest revision,
/// complete = all N parts present and each complete. A bucket with no stored part is not invented.
public struct CandleAggregator: Sendable, Hashable {
    public let interval: Interval
    public let partInterval: Interval

    /// - Throws: ``CandleAggregationError/unsupportedInterval(_:)`` unless `interval` is a whole
    ///   multiple (2 or more) of `partInterval`.
    public init(interval: Interval, partInterval: Interval = .fiveMinutes) throws(CandleAggregationError) {
        guard partInterval.nanoseconds > 0, interval.nanoseconds > partInterval.nanoseconds,
            interval.nanoseconds % partInterval.nanoseconds == 0
        else { throw .unsupportedInterval(interval) }
        self.interval = interval
        self.partInterval = partInterval
    }

    /// Parts in a whole bucket: 12 for 1h, 288 for 1d.
    public var partsPerBucket: Int { Int(interval.nanoseconds / partInterval.nanoseconds) }

    /// Aggregates parts (any order, any instruments) into buckets, oldest first per instrument;
    /// instruments in (venue, symbol) order. When two parts share a start the higher revision wins.
    public func aggregate(_ parts: [StoredCandle]) throws(CandleAggregationError) -> [StoredCandle] {
        try partials(parts).map { $0.candle(interval: interval, partsPerBucket: partsPerBucket) }
    }

    // MARK: partial buckets (mergeable, so pages of parts can be folded one at a time)

    /// One bucket's running aggregate; two partials of one bucket merge (older first).
    struct Partial {
        var venue: String
        var symbol: String
        var start: UnixNanos
        var open: WideDecimal
        var high: WideDecimal
        var low: WideDecimal
        var close: WideDecimal
        var volume: WideDecimal
        var quoteVolume: WideDecimal
        var takerBuyVolume: WideDecimal
        var trades: Int64
        var revision: Int
        /// Distinct parts seen and whether each was complete.
        var parts: Int
        var allComplete: Bool
        /// Start of the newest part, to drop a duplicate part.
        var lastPartStart: UnixNanos

        init(_ c: StoredCandle, bucket: UnixNanos) {
            venue = c.venue
            symbol = c.symbol
            start = bucket
            open = c.open
            high = c.high
            low = c.low
            close = c.close
            volume = c.volume
            quoteVolume = c.quoteVolume
            takerBuyVolume = c.takerBuyVolume
            trades = c.trades
            revision = c.revision
            parts = 1
            allComplete = c.complete
            lastPartStart = c.start
        }

        /// Folds `newer` (a later run of parts of the same bucket) into this one.
        mutating func merge(_ newer: Partial, interval: Interval) throws(CandleAggregationError) {
            func sum(_ a: WideDecimal, _ b: WideDecimal, _ field: String) throws(CandleAggregationError) -> WideDecimal {
                guard let s = a.adding(b) else {
                    throw .overflow(venue: venue, symbol: symbol, interval: interval, start: start, field: field)
                }
                return s
            }
            high = max(high, newer.high)
            low = min(low, newer.low)
            close = newer.close
            volume = try sum(volume, newer.volume, "volume")
            quoteVolume = try sum(quoteVolume, newer.quoteVolume, "quote_volume")
            takerBuyVolume = try sum(takerBuyVolume, newer.takerBuyVolume, "taker_buy_volume")
            let (t, o) = trades.addingReportingOverflow(newer.trades)
            if o { throw .overflow(venue: venue, symbol: symbol, interval: interval, start: start, field: "trades") }
            trades = t
            revision = max(revision, newer.revision)
            parts += newer.parts
            allComplete = allComplete && newer.allComplete
            lastPartStart = newer.lastPartStart
        }

        func candle(interval: Interval, partsPerBucket: Int) -> StoredCandle {
            // As Candle.vwap: the close when there is no volume or the quotient is unrepresentable.
            let vwap = volume.isZero ? close : (quoteVolume.divided(by: volume, roundingToFractionDigits: 10) ?? close)
            return StoredCandle(
                venue: venue, symbol: symbol, interval: interval, start: start, open: open, high: high, low: low,
                close: close, volume: volume, quoteVolume: quoteVolume, trades: trades, vwap: vwap,
                takerBuyVolume: takerBuyVolume, revision: revision,
                complete: allComplete && parts == partsPerBucket)
        }
    }

    /// Partial buckets of `parts`, sorted by (venue, symbol, start).
    func partials(_ parts: [StoredCandle]) throws(CandleAggregationError) -> [Partial] {
        for p in parts where p.interval.nanoseconds != partInterval.nanoseconds {
            throw .wrongPartInterval(expected: partInterval, got: p.interval)
        }
        let sorted = parts.sorted {
            ($0.venue, $0.symbol, $0.start.rawValue, $1.revision) < ($1.venue, $1.symbol, $1.start.rawValue, $0.revision)
        }
        var out: [Partial] = []
        for c in sorted {
            let bucket = interval.bucketStart(c.start)
            if let last = out.last, last.venue == c.venue, last.symbol == c.symbol, last.start == bucket {
                // Sorted with the higher revision first, so a repeated start is the older copy.
                if last.lastPartStart == c.start { continue }
                try out[out.count - 1].merge(Partial(c, bucket: bucket), interval: interval)
            } else {
                out.append(Partial(c, bucket: bucket))
            }
        }
        return out
    }
}

extension MarketStore {
    public func ohlcv(_ query: CandleQuery) async throws -> [StoredCandle] { try await aggregatedOHLCV(query) }

    /// Candles of any servable interval: 1m and 5m as stored (``candles(_:)``), 1h, 1d and other
    /// whole multiples of 1m aggregated from the 1m rows with ``CandleAggregator`` (the same
    /// definition as TimescaleDB's continuous aggregates, so every backend answers alike).
    ///
    /// `from`/`to`/`limit` mean what they mean for ``CandleQuery``, applied to the aggregated
    /// buckets: a bucket is returned whole when its start is in `[from, to)` (its 1m parts are read
    /// up to the bucket's end even when `to` falls inside it). `from` inside a bucket starts at that
    /// bucket. `limit` counts output buckets and is capped at ``CandleQuery/maxLimit``. The 1m rows are
    /// read in pages of at most ``CandleQuery/maxLimit`` rows until `limit` whole buckets are
    /// collected, so memory stays bounded by the output and one page even for 1d × 5000.
    /// - Throws: ``CandleAggregationError`` for an interval that is not servable or a sum that
    ///   overflows; the store's own errors otherwise.
    public func aggregatedOHLCV(_ query: CandleQuery) async throws -> [StoredCandle] {
        if StoreTable.candles(query.interval) != nil { return try await candles(query) }
        guard query.interval.nanoseconds >= Interval.oneMinute.nanoseconds else {
            throw CandleAggregationError.unsupportedInterval(query.interval)
        }
        let aggregator = try CandleAggregator(interval: query.interval, partInterval: .oneMinute)
        let limit = min(query.limit, CandleQuery.maxLimit)
        guard limit > 0 else { return [] }
        if let from = query.from, let to = query.to, from >= to { return [] }
        let page = CandleQuery.maxLimit
        let size = query.interval.nanoseconds

        // Parts are read up to the end of the bucket holding the last start before `to`.
        var partsTo: UnixNanos? = nil
        if let to = query.to {
            let floor = query.interval.bucketStart(to)
            if floor == to {
                partsTo = to
            } else {
                let (end, o) = floor.rawValue.addingReportingOverflow(size)
                partsTo = o ? nil : UnixNanos(end)
            }
        }
        var q = CandleQuery(venue: query.venue, symbol: query.symbol, interval: aggregator.partInterval, limit: page)
        var buckets: [CandleAggregator.Partial] = []

        if let from = query.from {
            // Oldest first: page forward until a part of bucket limit+1 shows the first `limit` are whole.
            q.from = query.interval.bucketStart(from)
            q.to = partsTo
            while true {
                let rows = try await candles(q)
                for p in try aggregator.partials(rows) {
                    if let last = buckets.last, last.start == p.start {
                        try buckets[buckets.count - 1].merge(p, interval: query.interval)
                    } else {
                        buckets.append(p)
                    }
                }
                guard rows.count >= page, buckets.count <= limit, let newest = rows.map(\.start).max() else { break }
                q.from = UnixNanos(newest.rawValue + 1)
            }
            return buckets.prefix(limit).map { $0.candle(interval: query.interval, partsPerBucket: aggregator.partsPerBucket) }
        }

        // Latest first: page backward (each page oldest first) until bucket limit+1 is reached.
        q.to = partsTo
        var reversed: [CandleAggregator.Partial] = []  // newest bucket first
        while true {
            let rows = try await candles(q)
            for p in try aggregator.partials(rows).reversed() {
                if let oldest = reversed.last, oldest.start == p.start {
                    var merged = p
                    try merged.merge(oldest, interval: query.interval)
                    reversed[reversed.count - 1] = merged
                } else {
                    reversed.append(p)
                }
            }
            guard rows.count >= page, reversed.count <= limit, let oldest = rows.map(\.start).min() else { break }
            q.to = oldest
        }
        return reversed.prefix(limit).reversed().map {
            $0.candle(interval: query.interval, partsPerBucket: aggregator.partsPerBucket)
        }
    }
}
