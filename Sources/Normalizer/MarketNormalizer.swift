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
    }
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
    struct TradeState: Sendable {
        var stream: TradeStream?
        var lastID: Int64?
        var recentText: [String] = []
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
    var lastInstrument: Instrument?
    var lastSlot = 0
    var outcomes: [BookSyncOutcome] = []
    var closed: [Candle] = []

    public init(venue: Venue, tradeIDsAreContiguous: Bool, configuration: NormalizerConfiguration = .init()) {
        self.venue = venue
        self.tradeIDsAreContiguous = tradeIDsAreContiguous
        self.configuration = configuration
    }

    /// The synchronizer state of an instrument's book (tests, on-demand snapshots).
    public func synchronizer(for instrument: Instrument) -> BookSynchronizer? {
        slotIndex[instrument].flatMap { states[$0].book?.sync }
    }

    /// The slot of `instrument`, created on first sight. Consecutive events of one instrument skip the hash.
    mutating func slot(_ instrument: Instrument) -> Int {
        if let last = lastInstrument, last == instrument { return lastSlot }
        let k: Int
        if let existing = slotIndex[instrument] {
            k = existing
        } else {
            k = states.count
            states.append(InstrumentState())
            instruments.append(instrument)
            slotIndex[instrument] = k
        }
        lastInstrument = instrument
        lastSlot = k
        return k
    }

    /// Handles one adapter event.
    public mutating func handle(_ event: VenueEvent, receiveTime: UnixNanos, into out: inout [MarketEvent]) {
        switch event {
        case .trade(let t): handleTrade(t, into: &out)
        case .book(let u): handleBook(u, into: &out)
        case .ticker(let t): out.append(.ticker(t))
        case .status(let s): out.append(.status(s))
        case .parseError(let instrument, let detail):
            out.append(.status(FeedStatus(event: "parse_error", venue: venue, instrument: instrument, detail: detail, time: receiveTime)))
        }
    }

    /// Advances the clock: closes candles whose `end + grace` has passed.
    public mutating func advance(to clock: UnixNanos, into out: inout [MarketEvent]) {
        for k in states.indices {
            for i in states[k].candles.indices {
                closed.removeAll(keepingCapacity: true)
                states[k].candles[i].advance(to: clock, into: &closed)
                for c in closed { out.append(.candle(c)) }
            }
        }
    }

    /// End of input: closes every open candle.
    public mutating func finish(into out: inout [MarketEvent]) {
        for k in states.indices {
            for i in states[k].candles.indices {
                closed.removeAll(keepingCapacity: true)
                states[k].candles[i].finish(into: &closed)
                for c in closed { out.append(.candle(c)) }
            }
        }
    }

    // MARK: Trades

    mutating func handleTrade(_ trade: Trade, into out: inout [MarketEvent]) {
        let k = slot(trade.instrument)
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
        switch trade.id {
        case .number(let id):
            if let last = states[k].trade.lastID {
                if id <= last {
                    counters.duplicateTrades += 1
                    return
                }
                if tradeIDsAreContiguous && id > last + 1 {
                    afterGap = true
                    counters.tradeGaps += 1
                    let missing = id - last - 1
                    out.append(
                        .status(
                            FeedStatus(
                                event: "gap", venue: venue, instrument: trade.instrument,
                                detail: "trade ids \(last + 1)...\(id - 1) missing (\(missing))", time: trade.receiveTime)))
                    invalidateUnsequencedBook(k, reason: "trade id gap before \(id)", time: trade.receiveTime, into: &out)
                }
            }
            states[k].trade.lastID = id
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
            closed.removeAll(keepingCapacity: true)
            if !states[k].candles[i].add(trade, afterGap: afterGap, into: &closed) {
                counters.lateTradesDropped += 1
                out.append(
                    .status(
                        FeedStatus(
                            event: "late_trade_dropped", venue: venue, instrument: trade.instrument,
                            detail: "trade \(trade.id) at \(trade.eventTime) is older than the \(states[k].candles[i].interval.name) candle history",
                            time: trade.receiveTime)))
            }
            for c in closed { out.append(.candle(c)) }
        }
        out.append(.trade(trade))
        if configuration.emitCandleUpdates {
            for b in states[k].candles { if let c = b.openCandle { out.append(.candle(c)) } }
        }
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
        if update.timeSource == .venue {
            // The scheduler is small: take it out so reading the book does not overlap its mutation.
            var scheduler = states[k].book!.scheduler
            let snap = scheduler.beforeUpdate(at: update.eventTime, book: states[k].book!.sync.book, valid: states[k].book!.sync.isValid)
            states[k].book!.scheduler = scheduler
            if let snap { out.append(.bookSnapshot(snap)) }
        }
        outcomes.removeAll(keepingCapacity: true)
        states[k].book!.sync.handle(update, into: &outcomes)
        report(outcomes, instrument: update.instrument, time: update.receiveTime, countGaps: true, into: &out)
    }

    mutating func report(
        _ outcomes: [BookSyncOutcome], instrument: Instrument, time: UnixNanos, countGaps: Bool, into out: inout [MarketEvent]
    ) {
        for o in outcomes {
            let (event, detail): (String, String)
            switch o {
            case .synced(let d): (event, detail) = ("synced", d)
            case .resynced(let d): (event, detail) = ("resynced", d)
            case .gap(let d):
                if countGaps { counters.bookGaps += 1 }
                (event, detail) = ("gap", d)
            case .resyncRequested(let d):
                counters.resyncs += 1
                (event, detail) = ("resync", d)
            case .crossed(let d): (event, detail) = ("crossed", d)
            case .uncrossed: (event, detail) = ("uncrossed", "best bid below best ask again")
            case .checksumPassed:
                counters.checksumChecks += 1
                continue
            case .checksumFailed(let d):
                counters.checksumChecks += 1
                counters.checksumFailures += 1
                (event, detail) = ("checksum_failed", d)
            }
            out.append(.status(FeedStatus(event: event, venue: venue, instrument: instrument, detail: detail, time: time)))
        }
    }
}
