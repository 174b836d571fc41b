public import MarketCore

/// Settings of the normalizer (all in event time; no clocks here).
public struct NormalizerConfiguration: Sendable {
    public var intervals: [Interval] = [.oneMinute, .fiveMinutes]
    /// How long after a bucket's end the clock closes it.
    public var grace: Int64 = 2_000_000_000
    public var snapshotDepth = 20
    public var snapshotInterval: Int64 = 1_000_000_000
    /// Emit the open candle after each trade (`--emit candle-updates`).
    public var emitCandleUpdates = false
    /// Closed candles kept per instrument and interval for late-trade amendments.
    public var candleHistory = 64
    /// Recent text trade ids remembered per instrument for de-duplication.
    public var recentIDWindow = 1024
    /// Record book-resync and trade-backfill requests for a live feed to act on (``MarketNormalizer/takeRequests()``).
    /// Replay of a file leaves this off: a recording already holds the responses.
    public var collectRequests = false
    /// Open trade-id gaps remembered per instrument, waiting for a backfill.
    public var missingRangeLimit = 32
    /// On venues whose trade ids increase by one: a trade whose id jumps further than this past
    /// the last one while the connection stayed up is held, not published, until a later trade
    /// confirms the new range (a real jump) or ``maxHeldTrades`` trades continue the old one (an
    /// outlier, dropped). One forged or corrupt id can then never move the high-water mark and
    /// silence the real trades that follow it as "duplicates".
    public var maxTradeIDJump: Int64 = 10_000
    /// Trades continuing the old range after which a held trade is dropped as an outlier.
    public var maxHeldTrades = 1000

    public init() {}
}

/// Counters the normalizer keeps (the I/O shell exports them as metrics and replay `--stats`).
public struct NormalizerCounters: Sendable, Hashable {
    public var bookGaps = 0
    public var tradeGaps = 0
    public var resyncs = 0
    public var duplicateTrades = 0
    public var lateTradesDropped = 0
    public var checksumChecks = 0
    public var checksumFailures = 0
    /// Trades refused as impossible (price or quantity not positive); never published.
    public var invalidTrades = 0
    /// Trades held for an implausible id jump and then dropped as outliers.
    public var outlierTrades = 0
    /// Trades refused for a time more than ``CandleBuilder/maxFutureSkew`` ahead of the clock.
    public var futureTrades = 0
    /// Scheduled snapshots not published because the very next update revealed missed updates.
    public var snapshotsWithdrawn = 0
    public init() {}

    /// Adds another normalizer's counters (totals across venues).
    public mutating func add(_ other: NormalizerCounters) {
        bookGaps += other.bookGaps
        tradeGaps += other.tradeGaps
        resyncs += other.resyncs
        duplicateTrades += other.duplicateTrades
        lateTradesDropped += other.lateTradesDropped
        checksumChecks += other.checksumChecks
        checksumFailures += other.checksumFailures
        snapshotsWithdrawn += other.snapshotsWithdrawn
        invalidTrades += other.invalidTrades
        outlierTrades += other.outlierTrades
        futureTrades += other.futureTrades
    }
}

/// Something a live feed must do for the normalizer: fetch a book snapshot or missed trades.
public enum FeedRequest: Sendable, Hashable {
    /// The book is invalid (gap, checksum failure, connection lost): re-establish it.
    case bookResync(Instrument)
    /// Trades `firstMissing...lastMissing` (venue trade ids) were missed: backfill them over REST.
    case tradeBackfill(Instrument, firstMissing: Int64, lastMissing: Int64, stream: TradeStream)
}

/// The per-venue pipeline: adapter events in, normalized ``MarketEvent``s out.
///
/// For each instrument it keeps a book synchronizer and snapshot scheduler, candle builders for
/// the configured intervals, and trade continuity state (de-duplication, gap detection, the choice
/// of one trade stream). Pure: time advances only through events and ``advance(to:into:)``.
///
/// Per-instrument state lives in one array slot mutated in place: copying it out of a dictionary
/// and back would copy whole books on every diff (copy-on-write), which BENCHMARKS.md measured.
public struct MarketNormalizer: Sendable {
    /// Trade ids missed between two observed trades (event times `before`, `after`), still open.
    struct MissingRange: Sendable {
        var first: Int64
        var last: Int64
        var before: UnixNanos
        var after: UnixNanos
    }

    struct TradeState: Sendable {
        var stream: TradeStream?
        var lastID: Int64?
        var lastTime: UnixNanos?
        var recentText: [String] = []
        var missing: [MissingRange] = []
        /// The connection was lost since the last trade.
        var interrupted = false
        /// A trade whose id jumped implausibly far, waiting for confirmation (``NormalizerConfiguration/maxTradeIDJump``).
        var held: Trade?
        var heldID: Int64 = 0
        /// Trades of the old range seen since `held` arrived.
        var heldFor = 0
    }

    struct BookState: Sendable {
        var sync: BookSynchronizer
        var scheduler: SnapshotScheduler
    }

    struct InstrumentState: Sendable {
        var trade = TradeState()
        var book: BookState?
        var candles: [CandleBuilder] = []
    }

    public let venue: Venue
    public let configuration: NormalizerConfiguration
    /// Numeric trade ids increase by one per trade on this venue (gap detection).
    public let tradeIDsAreContiguous: Bool
    public private(set) var counters = NormalizerCounters()

    /// Slots in first-seen order, so clock-driven output is deterministic.
    var states: [InstrumentState] = []
    var instruments: [Instrument] = []
    var slotIndex: [Instrument: Int] = [:]
    /// The last instrument looked up, kept alive so that its identity (the per-event check) cannot
    /// be reused by another instrument's storage meanwhile.
    var lastInstrument: Instrument?
    var lastIdentity: ObjectIdentifier?
    var lastSlot = 0
    var outcomes: [BookSyncOutcome] = []
    var closed: [Candle] = []
    var requests: [FeedRequest] = []
    /// The latest clock given to ``advance(to:into:)``; nil until the first.
    public private(set) var clock: UnixNanos?
    /// Where each symbol resumes (``resume(symbol:lastTradeID:time:price:)``), applied when its slot is created.
    var resumes: [String: (id: Int64, time: UnixNanos, price: FixedDecimal)] = [:]

    public init(venue: Venue, tradeIDsAreContiguous: Bool, configuration: NormalizerConfiguration = .init()) {
        self.venue = venue
        self.tradeIDsAreContiguous = tradeIDsAreContiguous
        self.configuration = configuration
    }

    /// The synchronizer state of an instrument's book (tests, on-demand snapshots).
    public func synchronizer(for instrument: Instrument) -> BookSynchronizer? {
        slotIndex[instrument].flatMap { states[$0].book?.sync }
    }

    /// The current top `depth` levels of `symbol`'s book, stamped `time`; `valid` is the
    /// synchronizer's verdict (synchronized, no gap since, checksum passed, not crossed).
    public func bookSnapshot(symbol: String, depth: Int, time: UnixNanos) -> BookSnapshot? {
        guard let k = instruments.firstIndex(where: { $0.symbol == symbol }), let sync = states[k].book?.sync else { return nil }
        let top = sync.book.top(depth)
        return BookSnapshot(instrument: instruments[k], time: time, bids: top.bids, asks: top.asks, valid: sync.isValid)
    }

    /// How many of this venue's books the normalizer vouches for now (valid) and how many it
    /// does not (waiting for a snapshot, after a gap or checksum failure, crossed).
    public var bookCounts: (valid: Int, invalid: Int) {
        var valid = 0
        var invalid = 0
        for s in states {
            guard let b = s.book else { continue }
            if b.sync.isValid { valid += 1 } else { invalid += 1 }
        }
        return (valid, invalid)
    }

    /// The slot of `instrument`, created on first sight. Consecutive events of one instrument skip the hash.
    mutating func slot(_ instrument: Instrument) -> Int {
        if instrument.identity == lastIdentity { return lastSlot }
        let k: Int
        if let existing = slotIndex[instrument] {
            k = existing
        } else {
            k = states.count
            var state = InstrumentState()
            if let r = resumes.removeValue(forKey: instrument.symbol) {
                // As after a lost connection: the first trade of this run continues from the last
                // stored one, and a jump is a gap the feed backfills; candles start from the
                // bucket of that trade (incomplete: its earlier trades are not in this run).
                state.trade.lastID = r.id
                state.trade.lastTime = r.time
                state.trade.interrupted = true
                state.candles = configuration.intervals.map {
                    var b = CandleBuilder(
                        instrument: instrument, interval: $0, grace: configuration.grace, historyLimit: configuration.candleHistory)
                    b.resume(after: r.time, price: r.price)
                    return b
                }
            }
            states.append(state)
            instruments.append(instrument)
            slotIndex[instrument] = k
        }
        lastInstrument = instrument
        lastIdentity = instrument.identity
        lastSlot = k
        return k
    }

    /// Resumes an instrument where an earlier run stopped: its last stored trade (id, event time,
    /// price). Call before the instrument's first event; on venues with contiguous ids the trades
    /// missed while the gateway was down then come back as a backfill request.
    public mutating func resume(symbol: String, lastTradeID: Int64, time: UnixNanos, price: FixedDecimal) {
        resumes[symbol] = (lastTradeID, time, price)
    }

    /// Handles one adapter event.
    /// (`consuming`: a caller that moves the event in, as ``Array/drain(_:)`` does, spares a copy.)
    public mutating func handle(_ event: consuming VenueEvent, receiveTime: UnixNanos, into out: inout [MarketEvent]) {
        switch consume event {
        case .trade(let t): handleTrade(t, into: &out)
        case .book(let u): handleBook(u, into: &out)
        case .ticker(let t): out.append(.ticker(t))
        case .status(let s): out.append(.status(s))
        case .parseError(let instrument, let detail):
            out.append(.status(FeedStatus(kind: .parseError, venue: venue, instrument: instrument, detail: detail, time: receiveTime)))
        }
    }

    /// Moves the candles a builder just closed (in `closed`) to `out`, leaving `closed` empty.
    /// Most calls have none: then this is one count check, not an array update per builder.
    @inline(__always)
    mutating func flushClosed(into out: inout [MarketEvent]) {
        guard !closed.isEmpty else { return }
        closed.drain { out.append(.candle($0)) }
    }

    /// Advances the clock: closes candles whose `end + grace` has passed.
    public mutating func advance(to clock: UnixNanos, into out: inout [MarketEvent]) {
        if self.clock.map({ clock > $0 }) ?? true { self.clock = clock }
        for k in states.indices {
            for i in states[k].candles.indices {
                states[k].candles[i].advance(to: clock, into: &closed)
                flushClosed(into: &out)
            }
        }
    }

    /// Requests recorded since the last call (when `collectRequests` is on), oldest first.
    public mutating func takeRequests() -> [FeedRequest] {
        guard !requests.isEmpty else { return [] }
        defer { requests = [] }
        return requests
    }

    /// Whether ``takeRequests()`` has anything (asked after every frame of a live feed).
    public var hasRequests: Bool { !requests.isEmpty }

    /// The venue's last connection ended: every book is invalid until resynchronized (its
    /// synchronizer waits for a snapshot), and every open candle was not observed whole.
    /// The new connection brings the books back (snapshots, or the REST sync a live feed does on
    /// every connect), so this asks for no resync.
    public mutating func connectionLost(reason: String, time: UnixNanos, into out: inout [MarketEvent]) {
        let pending = requests.count
        defer { requests.removeSubrange(pending...) }
        for k in states.indices {
            if states[k].book != nil, states[k].book!.sync.isSynchronized {
                outcomes.removeAll(keepingCapacity: true)
                states[k].book!.sync.invalidate(reason: reason, into: &outcomes)
                report(outcomes, instrument: instruments[k], time: time, countGaps: false, into: &out)
            }
            for i in states[k].candles.indices { states[k].candles[i].markInterrupted() }
            states[k].trade.interrupted = true
        }
    }

    /// End of input: closes every open candle.
    public mutating func finish(into out: inout [MarketEvent]) {
        for k in states.indices {
            for i in states[k].candles.indices {
                states[k].candles[i].finish(into: &closed)
                flushClosed(into: &out)
            }
        }
    }

    // MARK: Trades

    /// A status about `trade`. Out of line on purpose: built in `handleTrade` itself, each status's
    /// owned copy of the instrument made the optimizer retain it three times up front on every
    /// trade (and release it on every path), though statuses are rare.
    @inline(never)
    mutating func report(_ kind: FeedStatus.Kind, _ trade: Trade, _ detail: String, into out: inout [MarketEvent]) {
        out.append(.status(FeedStatus(kind: kind, venue: venue, instrument: trade.instrument, detail: detail, time: trade.receiveTime)))
    }

    mutating func handleTrade(_ trade: Trade, into out: inout [MarketEvent]) {
        let k = slot(trade.instrument)
        // An impossible trade is refused before it can touch continuity state or candles.
        if trade.price.isNegative || trade.price.isZero || trade.quantity.isNegative || trade.quantity.isZero || trade.count < 1
            || trade.eventTime.rawValue < 0
        {
            counters.invalidTrades += 1
            report(
                .invalidTrade, trade,
                "trade \(trade.id) refused: price \(trade.price), quantity \(trade.quantity) (both must be positive), time \(trade.eventTime.rawValue) ns (must not be before 1970)",
                into: &out)
            return
        }
        // A time far ahead of the clock would open a candle in the future and fill every bucket up to it.
        if let clock, trade.eventTime > clock,
            trade.eventTime.rawValue.subtractingReportingOverflow(clock.rawValue).overflow
                || trade.eventTime.rawValue - clock.rawValue > CandleBuilder.maxFutureSkew
        {
            counters.futureTrades += 1
            report(
                .futureTrade, trade,
                "trade \(trade.id) refused: its time \(trade.eventTime.rawValue) ns is more than \(CandleBuilder.maxFutureSkew / 1_000_000_000) s ahead of the clock \(clock.rawValue) ns",
                into: &out)
            return
        }
        if case .number(let id) = trade.id, tradeIDsAreContiguous, states[k].trade.stream == nil || states[k].trade.stream == trade.stream {
            if let held = states[k].trade.held {
                let h = states[k].trade.heldID
                if id == h { return }  // the held trade again
                if id > h && id <= h + configuration.maxTradeIDJump {
                    // A later trade confirms the jump: the held one was real.
                    states[k].trade.held = nil
                    accept(held, k, into: &out)
                } else {
                    states[k].trade.heldFor += 1
                    if states[k].trade.heldFor > configuration.maxHeldTrades {
                        states[k].trade.held = nil
                        counters.outlierTrades += 1
                        report(
                            .tradeOutlier, trade,
                            "trade \(h) dropped: its id jumped past the stream and \(configuration.maxHeldTrades) later trades did not follow it",
                            into: &out)
                    }
                }
            }
            if let last = states[k].trade.lastID, !states[k].trade.interrupted, id > last + configuration.maxTradeIDJump,
                states[k].trade.held == nil
            {
                states[k].trade.held = trade
                states[k].trade.heldID = id
                states[k].trade.heldFor = 0
                report(
                    .tradeHeld, trade, "trade \(id) jumps \(id - last) ids past \(last): held until a later trade confirms it",
                    into: &out)
                return
            }
        }
        accept(trade, k, into: &out)
        // The stream reached a held trade from below (it was only early), or passed it after a
        // reconnect: it goes the ordinary way (in order, or as a late or duplicate trade).
        if let held = states[k].trade.held, let last = states[k].trade.lastID, last >= states[k].trade.heldID - 1 {
            states[k].trade.held = nil
            accept(held, k, into: &out)
        }
    }

    mutating func accept(_ trade: Trade, _ k: Int, into out: inout [MarketEvent]) {
        // One trade stream per instrument feeds candles: raw trades win over aggregated ones.
        switch (states[k].trade.stream, trade.stream) {
        case (nil, _):
            states[k].trade.stream = trade.stream
        case (.aggregated?, .raw):
            states[k].trade.stream = .raw
            states[k].trade.lastID = nil
        case (.raw?, .aggregated):
            return
        default: break
        }
        var afterGap = false
        var completed: (UnixNanos, UnixNanos)? = nil
        switch trade.id {
        case .number(let id):
            if let last = states[k].trade.lastID {
                if id <= last {
                    guard let span = fillMissing(k, id) else {
                        counters.duplicateTrades += 1
                        return
                    }
                    // A backfilled trade: it amends its candle like any late trade.
                    completed = span
                    break
                }
                if tradeIDsAreContiguous && id == last + 1, states[k].trade.interrupted, let before = states[k].trade.lastTime {
                    // Continuous ids across an interruption: nothing was missed after all.
                    completed = (before, trade.eventTime)
                }
                if tradeIDsAreContiguous && id > last + 1 {
                    afterGap = true
                    counters.tradeGaps += 1
                    let missing = id - last - 1
                    out.append(
                        .status(
                            FeedStatus(
                                kind: .gap(.tradeIDs), venue: venue, instrument: trade.instrument,
                                detail: "trade ids \(last + 1)...\(id - 1) missing (\(missing))", time: trade.receiveTime)))
                    // Trades missed while disconnected say nothing about the book: it was rebuilt
                    // from the snapshot that followed the reconnect.
                    if !states[k].trade.interrupted {
                        invalidateUnsequencedBook(k, reason: "trade id gap before \(id)", time: trade.receiveTime, into: &out)
                    }
                    if configuration.collectRequests, let before = states[k].trade.lastTime {
                        rememberMissing(k, MissingRange(first: last + 1, last: id - 1, before: before, after: trade.eventTime))
                        requests.append(.tradeBackfill(trade.instrument, firstMissing: last + 1, lastMissing: id - 1, stream: trade.stream))
                    }
                }
            }
            states[k].trade.lastID = id
            states[k].trade.lastTime = trade.eventTime
        case .text(let text):
            if states[k].trade.recentText.contains(text) {
                counters.duplicateTrades += 1
                return
            }
            states[k].trade.recentText.append(text)
            if states[k].trade.recentText.count > configuration.recentIDWindow { states[k].trade.recentText.removeFirst() }
        case .none:
            break
        }

        if states[k].candles.isEmpty {
            states[k].candles = configuration.intervals.map {
                CandleBuilder(
                    instrument: trade.instrument, interval: $0, grace: configuration.grace,
                    historyLimit: configuration.candleHistory)
            }
        }
        // Candles closed by this trade are emitted before it.
        for i in states[k].candles.indices {
            if !states[k].candles[i].add(trade, afterGap: afterGap, into: &closed) {
                counters.lateTradesDropped += 1
                out.append(
                    .status(
                        FeedStatus(
                            kind: .lateTradeDropped, venue: venue, instrument: trade.instrument,
                            detail: "trade \(trade.id) at \(trade.eventTime) is older than the \(states[k].candles[i].interval.name) candle history",
                            time: trade.receiveTime)))
            }
            flushClosed(into: &out)
        }
        states[k].trade.interrupted = false
        if let (from, through) = completed {
            // A bucket another open gap still touches stays incomplete.
            let open = states[k].trade.missing.map { ($0.before, $0.after) }
            for i in states[k].candles.indices {
                states[k].candles[i].markComplete(from: from, through: through, except: open, into: &closed)
                flushClosed(into: &out)
            }
        }
        out.append(.trade(trade))
        if configuration.emitCandleUpdates {
            for b in states[k].candles { if let c = b.openCandle { out.append(.candle(c)) } }
        }
    }

    /// Takes `id` out of an open missing range. Returns the range's time span when that was its
    /// last id (the gap is filled), `.some(nil)` while ids remain missing, nil when `id` was not missing (a duplicate).
    mutating func fillMissing(_ k: Int, _ id: Int64) -> (UnixNanos, UnixNanos)?? {
        guard let r = states[k].trade.missing.firstIndex(where: { $0.first <= id && id <= $0.last }) else { return nil }
        var range = states[k].trade.missing[r]
        if range.first == range.last {
            states[k].trade.missing.remove(at: r)
            return .some((range.before, range.after))
        }
        if id == range.first {
            range.first += 1
        } else if id == range.last {
            range.last -= 1
        } else {
            // Backfill arrives in id order, so a split is rare; keep both halves.
            var upper = range
            upper.first = id + 1
            range.last = id - 1
            states[k].trade.missing.insert(upper, at: r + 1)
        }
        states[k].trade.missing[r] = range
        return .some(nil)
    }

    mutating func rememberMissing(_ k: Int, _ range: MissingRange) {
        states[k].trade.missing.append(range)
        if states[k].trade.missing.count > configuration.missingRangeLimit { states[k].trade.missing.removeFirst() }
    }

    /// Unsequenced books without checksums (Coinbase Exchange level2) rely on trade-id continuity to
    /// notice lost messages; a checksummed book (Kraken) has its own check and is left alone.
    mutating func invalidateUnsequencedBook(_ k: Int, reason: String, time: UnixNanos, into out: inout [MarketEvent]) {
        guard let book = states[k].book, book.sync.isSynchronized, book.sync.lastRule == .unsequenced,
            !book.sync.isChecksummed
        else { return }
        outcomes.removeAll(keepingCapacity: true)
        states[k].book!.sync.invalidate(reason: reason, into: &outcomes)
        report(outcomes, instrument: instruments[k], time: time, countGaps: false, into: &out)
    }

    // MARK: Books

    mutating func handleBook(_ update: BookUpdate, into out: inout [MarketEvent]) {
        let k = slot(update.instrument)
        if states[k].book == nil {
            states[k].book = BookState(
                sync: BookSynchronizer(instrument: update.instrument),
                scheduler: SnapshotScheduler(interval: configuration.snapshotInterval, depth: configuration.snapshotDepth))
        }
        // Snapshots are scheduled on venue event time only; receive-time stamps are another clock.
        // A snapshot due at this update shows the book before it, but whether that book was
        // whole is known only once this update is checked: if it reveals a gap (or fails its
        // checksum), updates were missed before it and the snapshot is withdrawn.
        var snap: BookSnapshot? = nil
        var published = states[k].book!.scheduler
        if update.timeSource == .venue {
            // The scheduler is small: take it out so reading the book does not overlap its mutation.
            var scheduler = states[k].book!.scheduler
            snap = scheduler.beforeUpdate(at: update.eventTime, book: states[k].book!.sync.book, valid: states[k].book!.sync.isValid)
            states[k].book!.scheduler = scheduler
        }
        outcomes.removeAll(keepingCapacity: true)
        states[k].book!.sync.handle(update, into: &outcomes)
        if let s = snap {
            if outcomes.contains(where: \.revealsMissedUpdates) {
                published.nextBoundary = states[k].book!.scheduler.nextBoundary
                states[k].book!.scheduler = published
                counters.snapshotsWithdrawn += 1
            } else {
                out.append(.bookSnapshot(s))
            }
        }
        report(outcomes, instrument: update.instrument, time: update.receiveTime, countGaps: true, into: &out)
    }

    mutating func report(
        _ outcomes: [BookSyncOutcome], instrument: Instrument, time: UnixNanos, countGaps: Bool, into out: inout [MarketEvent]
    ) {
        for o in outcomes {
            let (kind, detail): (FeedStatus.Kind, String)
            switch o {
            case .synced(let d): (kind, detail) = (.synced, d)
            case .resynced(let d): (kind, detail) = (.resynced, d)
            case .gap(let d):
                if countGaps { counters.bookGaps += 1 }
                (kind, detail) = (.gap(.book), d)
            case .resyncRequested(let d):
                counters.resyncs += 1
                if configuration.collectRequests { requests.append(.bookResync(instrument)) }
                (kind, detail) = (.resync, d)
            case .crossed(let d): (kind, detail) = (.crossed, d)
            case .uncrossed: (kind, detail) = (.uncrossed, "best bid below best ask again")
            case .checksumPassed:
                counters.checksumChecks += 1
                continue
            case .checksumFailed(let d):
                counters.checksumChecks += 1
                counters.checksumFailures += 1
                (kind, detail) = (.checksumFailed, d)
            }
            out.append(.status(FeedStatus(kind: kind, venue: venue, instrument: instrument, detail: detail, time: time)))
        }
    }
}
