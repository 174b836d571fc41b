public import MarketCore

/// Builds candles of one interval for one instrument from trades (DESIGN.md, "Normalizer semantics").
///
/// - Buckets are `[start, start + interval)` of the trade's own (venue) time.
/// - A bucket closes when a trade for a later bucket arrives (the close is emitted before that
///   trade is counted) or when ``advance(to:into:)`` passes `end + grace`.
/// - Empty buckets between two trades are emitted when the later trade arrives: open = high =
///   low = close = previous close, zero volume. None is invented after the last trade (so a quiet
///   market is filled in when it trades again).
/// - A trade for a closed bucket amends it: re-emitted with `revision + 1`; empty buckets right
///   after it that carried its close are amended too when that close changed.
/// - `complete` is false for the first bucket after start and for buckets a trade gap touches.
/// - Open and close follow trade time, not arrival order (ties: later arrival wins the close).
///
/// Pure and deterministic: the same trades in the same order give the same candles.
public struct CandleBuilder: Sendable {
    struct Bucket: Sendable {
        var start: UnixNanos
        var open: FixedDecimal
        var high: FixedDecimal
        var low: FixedDecimal
        var close: FixedDecimal
        var openTime: UnixNanos
        var closeTime: UnixNanos
        var volume: WideDecimal
        var quoteVolume: WideDecimal
        var takerBuyVolume: WideDecimal
        var trades: Int64
        var complete: Bool
        var revision: Int
        var overflowed = false

        /// A bucket with no trades carrying `price`.
        init(empty start: UnixNanos, price: FixedDecimal, complete: Bool) {
            self.start = start
            (open, high, low, close) = (price, price, price, price)
            (openTime, closeTime) = (start, start)
            (volume, quoteVolume, takerBuyVolume) = (.zero, .zero, .zero)
            trades = 0
            self.complete = complete
            revision = 0
        }

        mutating func add(_ t: Trade) {
            if trades == 0 {
                (open, high, low, close) = (t.price, t.price, t.price, t.price)
                (openTime, closeTime) = (t.eventTime, t.eventTime)
            } else {
                if t.price > high { high = t.price }
                if t.price < low { low = t.price }
                if t.eventTime < openTime {
                    open = t.price
                    openTime = t.eventTime
                }
                if t.eventTime >= closeTime {
                    close = t.price
                    closeTime = t.eventTime
                }
            }
            trades += t.count
            // Sums are Int128; overflow would need ~10²⁰ trades of maximal size. Flag rather than trap.
            if let v = volume.adding(t.quantity), let q = quoteVolume.adding(WideDecimal.product(t.price, t.quantity)) {
                volume = v
                quoteVolume = q
                if t.side == .buy, let tb = takerBuyVolume.adding(t.quantity) { takerBuyVolume = tb }
            } else {
                overflowed = true
            }
        }
    }

    public let instrument: Instrument
    public let interval: Interval
    /// How long after a bucket's end the clock closes it.
    public let grace: Int64
    /// Closed buckets kept for amendments by late trades.
    public let historyLimit: Int

    /// A trade more than this far (ns) ahead of the clock is refused: one bad timestamp would
    /// otherwise start a bucket in the far future and fill every bucket up to it.
    public static let maxFutureSkew: Int64 = 60_000_000_000
    /// At most this many empty buckets fill a gap between trades (a day of 1m candles); a longer
    /// gap (a timestamp far in the past, or a dead feed) starts a new run instead of emitting them.
    public static let maxEmptyFill = 1_440

    var current: Bucket?
    /// The latest clock given to ``advance(to:into:)``; nil until the first.
    public private(set) var clock: UnixNanos?
    /// Trades refused for being more than ``maxFutureSkew`` ahead of ``clock``.
    public private(set) var refusedFutureTrades = 0
    /// Gaps longer than ``maxEmptyFill`` buckets, left unfilled.
    public private(set) var unfilledGaps = 0
    /// The first bucket ever started: incomplete for good (its beginning was never observed).
    var firstStart: UnixNanos?
    /// The feed was interrupted since the last trade (see ``markInterrupted(into:)``).
    var interrupted = false
    /// The bucket an earlier run stopped in (``resume(after:price:)``): left as that run stored it.
    var resumedStart: UnixNanos?
    /// Closed buckets, oldest first, contiguous in time.
    var history: [Bucket] = []
    /// Trades too old to amend any retained bucket (counted, reported by the caller).
    public private(set) var droppedLateTrades = 0

    public init(instrument: Instrument, interval: Interval, grace: Int64 = 2_000_000_000, historyLimit: Int = 64) {
        self.instrument = instrument
        self.interval = interval
        self.grace = grace
        self.historyLimit = max(1, historyLimit)
    }

    /// The open bucket as a candle (`closed: false`), if any.
    public var openCandle: Candle? { current.map { candle($0, closed: false) } }

    /// Adds a trade. Closed (or amended) candles are appended to `out` in emission order.
    /// - Parameter afterGap: trades were missed right before this one (trade-id gap): every bucket
    ///   between the previous trade and this one is marked incomplete.
    /// - Returns: false when the trade was too late to amend a retained bucket, or more than
    ///   ``maxFutureSkew`` ahead of the clock.
    @discardableResult
    public mutating func add(_ trade: Trade, afterGap: Bool = false, into out: inout [Candle]) -> Bool {
        if let clock, trade.eventTime > clock {
            let (ahead, overflow) = trade.eventTime.rawValue.subtractingReportingOverflow(clock.rawValue)
            if overflow || ahead > Self.maxFutureSkew {
                refusedFutureTrades += 1
                return false
            }
        }
        // After an interruption the buckets up to this trade were not observed whole (but a bucket
        // the clock closed before the interruption was).
        let tradeGap = afterGap
        let afterGap = afterGap || interrupted
        interrupted = false
        let start = interval.bucketStart(trade.eventTime)
        if let openStart = current?.start {
            if start == openStart {
                // In place: copying the bucket out and back was two ~170-byte moves per trade and interval.
                if afterGap { current!.complete = false }
                current!.add(trade)
                return true
            }
            var bucket = current!
            if start > bucket.start {
                if afterGap { bucket.complete = false }
                close(bucket, into: &out)
                current = nil
                fillEmpty(upTo: start, incomplete: afterGap, into: &out)
                startBucket(start, with: trade, complete: !afterGap)
                return true
            }
            return amend(start, with: trade, into: &out)
        }
        guard let last = history.last else {
            // The first bucket after start: we did not see it from its beginning.
            firstStart = start
            startBucket(start, with: trade, complete: false)
            return true
        }
        if start > last.start {
            if tradeGap { markLastIncomplete(into: &out) }
            fillEmpty(upTo: start, incomplete: afterGap, into: &out)
            startBucket(start, with: trade, complete: !afterGap)
            return true
        }
        return amend(start, with: trade, into: &out)
    }

    /// Closes the open bucket when `clock` has passed its end plus grace.
    public mutating func advance(to clock: UnixNanos, into out: inout [Candle]) {
        if self.clock.map({ clock > $0 }) ?? true { self.clock = clock }
        // Only the start is read on every line; the bucket is copied only to close it.
        guard let openStart = current?.start else { return }
        // Overflow-safe: a bucket near the end of time is never closed by the clock.
        let (end, o1) = openStart.rawValue.addingReportingOverflow(interval.nanoseconds)
        let (due, o2) = end.addingReportingOverflow(grace)
        guard !o1, !o2, clock.rawValue >= due else { return }
        close(current!, into: &out)
        current = nil
    }

    /// End of input: closes the open bucket (it has trades by construction).
    public mutating func finish(into out: inout [Candle]) {
        guard let bucket = current else { return }
        close(bucket, into: &out)
        current = nil
    }

    /// Resumes after an earlier run whose last trade was at `time` and `price`: that trade's bucket
    /// stands as closed, so trades of this run fill the buckets after it and backfilled trades
    /// amend those. The bucket itself is neither emitted nor amended: this run saw only part of
    /// it, and the earlier run's candle for it (stored at a graceful stop) must not be replaced by
    /// a smaller one.
    public mutating func resume(after time: UnixNanos, price: FixedDecimal) {
        guard current == nil, history.isEmpty else { return }
        let start = interval.bucketStart(time)
        firstStart = start
        resumedStart = start
        history = [Bucket(empty: start, price: price, complete: false)]
        interrupted = true
    }

    /// The feed was interrupted (connection lost): the open bucket, and every bucket up to the next
    /// trade, were not observed whole. The open bucket stays open; it closes as usual.
    public mutating func markInterrupted() {
        current?.complete = false
        interrupted = true
    }

    /// Missed trades between `from` and `through` (event times) have all been recovered (backfill),
    /// or proven not to exist: buckets in that span that were marked incomplete become complete
    /// again, and closed ones are re-emitted as revisions. The first bucket ever stays incomplete,
    /// and so does a bucket any span of `except` (gaps still open) touches.
    public mutating func markComplete(
        from: UnixNanos, through: UnixNanos, except: [(UnixNanos, UnixNanos)] = [], into out: inout [Candle]
    ) {
        let lo = interval.bucketStart(from)
        let hi = interval.bucketStart(through)
        let length = interval.nanoseconds
        func stillMissing(_ start: UnixNanos) -> Bool {
            except.contains { interval.bucketStart($0.0) <= start && start.rawValue < interval.bucketStart($0.1).rawValue + length }
        }
        for i in history.indices where history[i].start >= lo && history[i].start <= hi {
            guard !history[i].complete, history[i].start != firstStart, !stillMissing(history[i].start) else { continue }
            history[i].complete = true
            history[i].revision += 1
            out.append(candle(history[i], closed: true))
        }
        if let c = current, c.start >= lo, c.start <= hi, !c.complete, c.start != firstStart, !stillMissing(c.start) {
            current!.complete = true
        }
    }

    // MARK: Internals

    mutating func startBucket(_ start: UnixNanos, with trade: Trade, complete: Bool) {
        var b = Bucket(empty: start, price: trade.price, complete: complete)
        b.add(trade)
        current = b
    }

    mutating func close(_ bucket: Bucket, into out: inout [Candle]) {
        out.append(candle(bucket, closed: true))
        remember(bucket)
    }

    mutating func remember(_ bucket: Bucket) {
        history.append(bucket)
        if history.count > historyLimit { history.removeFirst(history.count - historyLimit) }
    }

    /// Emits empty buckets from after the last closed bucket up to (not including) `start`.
    mutating func fillEmpty(upTo start: UnixNanos, incomplete: Bool, into out: inout [Candle]) {
        guard let last = history.last else { return }
        var t = last.start.rawValue + interval.nanoseconds
        let (span, overflow) = start.rawValue.subtractingReportingOverflow(t)
        if overflow || span / interval.nanoseconds > Int64(Self.maxEmptyFill) {
            // Too long to fill: the next bucket starts a new contiguous run (amendments index into it).
            unfilledGaps += 1
            history.removeAll()
            return
        }
        while t < start.rawValue {
            let b = Bucket(empty: UnixNanos(t), price: history.last!.close, complete: !incomplete)
            close(b, into: &out)
            t += interval.nanoseconds
        }
    }

    /// A gap after the open bucket was closed by the clock: the closed bucket may have missed trades too.
    mutating func markLastIncomplete(into out: inout [Candle]) {
        guard var last = history.last, last.complete else { return }
        last.complete = false
        last.revision += 1
        history[history.count - 1] = last
        out.append(candle(last, closed: true))
    }

    mutating func amend(_ start: UnixNanos, with trade: Trade, into out: inout [Candle]) -> Bool {
        if start == resumedStart { return true }
        guard let first = history.first, start >= first.start else {
            droppedLateTrades += 1
            return false
        }
        let index = Int((start.rawValue - first.start.rawValue) / interval.nanoseconds)
        guard index < history.count, history[index].start == start else {
            droppedLateTrades += 1
            return false
        }
        var b = history[index]
        b.add(trade)
        b.revision += 1
        history[index] = b
        out.append(candle(b, closed: true))
        // Empty buckets after it carry its close forward; amend them if that close moved.
        var carried = b.close
        var i = index + 1
        while i < history.count, history[i].trades == 0 {
            if history[i].close != carried {
                var e = history[i]
                (e.open, e.high, e.low, e.close) = (carried, carried, carried, carried)
                e.revision += 1
                history[i] = e
                out.append(candle(e, closed: true))
            }
            carried = history[i].close
            i += 1
        }
        return true
    }

    func candle(_ b: Bucket, closed: Bool) -> Candle {
        Candle(
            instrument: instrument, interval: interval, start: b.start, open: b.open, high: b.high, low: b.low,
            close: b.close, volume: b.volume, quoteVolume: b.quoteVolume, trades: b.trades,
            takerBuyVolume: b.takerBuyVolume, closed: closed, revision: b.revision, complete: b.complete && !b.overflowed)
    }
}
