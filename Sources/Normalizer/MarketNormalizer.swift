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

    public let venue: Venue
    public let configuration: NormalizerConfiguration
    /// Numeric trade ids increase by one per trade on this venue (gap detection).
    public let tradeIDsAreContiguous: Bool
    public private(set) var counters = NormalizerCounters()

    var trades: [Instrument: TradeState] = [:]
    var books: [Instrument: BookState] = [:]
    var candles: [Instrument: [CandleBuilder]] = [:]
    /// Instruments in first-seen order, so clock-driven output is deterministic.
    var instrumentOrder: [Instrument] = []
    var outcomes: [BookSyncOutcome] = []
    var closed: [Candle] = []

    public init(venue: Venue, tradeIDsAreContiguous: Bool, configuration: NormalizerConfiguration = .init()) {
        self.venue = venue
        self.tradeIDsAreContiguous = tradeIDsAreContiguous
        self.configuration = configuration
    }

    /// The synchronizer state of an instrument's book (tests, on-demand snapshots).
    public func synchronizer(for instrument: Instrument) -> BookSynchronizer? { books[instrument]?.sync }

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
        for instrument in instrumentOrder {
            guard var builders = candles[instrument] else { continue }
            for i in builders.indices {
                closed.removeAll(keepingCapacity: true)
                builders[i].advance(to: clock, into: &closed)
                for c in closed { out.append(.candle(c)) }
            }
            candles[instrument] = builders
        }
    }

    /// End of input: closes every open candle.
    public mutating func finish(into out: inout [MarketEvent]) {
        for instrument in instrumentOrder {
            guard var builders = candles[instrument] else { continue }
            for i in builders.indices {
                closed.removeAll(keepingCapacity: true)
                builders[i].finish(into: &closed)
                for c in closed { out.append(.candle(c)) }
            }
            candles[instrument] = builders
        }
    }

    // MARK: Trades

    mutating func handleTrade(_ trade: Trade, into out: inout [MarketEvent]) {
        var state = trades[trade.instrument] ?? TradeState()
        if trades[trade.instrument] == nil { noteInstrument(trade.instrument) }
        // One trade stream per instrument feeds candles: raw trades win over aggregated ones.
        switch (state.stream, trade.stream) {
        case (nil, _):
            state.stream = trade.stream
        case (.aggregated?, .raw):
            state.stream = .raw
            state.lastID = nil
        case (.raw?, .aggregated):
            trades[trade.instrument] = state
            return
        default: break
        }
        var afterGap = false
        switch trade.id {
        case .number(let id):
            if let last = state.lastID {
                if id <= last {
                    counters.duplicateTrades += 1
                    trades[trade.instrument] = state
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
                    invalidateUnsequencedBook(trade.instrument, reason: "trade id gap before \(id)", time: trade.receiveTime, into: &out)
                }
            }
            state.lastID = id
        case .text(let text):
            if state.recentText.contains(text) {
                counters.duplicateTrades += 1
                trades[trade.instrument] = state
                return
            }
            state.recentText.append(text)
            if state.recentText.count > configuration.recentIDWindow { state.recentText.removeFirst() }
        case .none:
            break
        }
        trades[trade.instrument] = state

        var builders = candles[trade.instrument] ?? configuration.intervals.map {
            CandleBuilder(
                instrument: trade.instrument, interval: $0, grace: configuration.grace,
                historyLimit: configuration.candleHistory)
        }
        // Candles closed by this trade are emitted before it.
        for i in builders.indices {
            closed.removeAll(keepingCapacity: true)
            if !builders[i].add(trade, afterGap: afterGap, into: &closed) {
                counters.lateTradesDropped += 1
                out.append(
                    .status(
                        FeedStatus(
                            event: "late_trade_dropped", venue: venue, instrument: trade.instrument,
                            detail: "trade \(trade.id) at \(trade.eventTime) is older than the \(builders[i].interval.name) candle history",
                            time: trade.receiveTime)))
            }
            for c in closed { out.append(.candle(c)) }
        }
        out.append(.trade(trade))
        if configuration.emitCandleUpdates {
            for b in builders { if let c = b.openCandle { out.append(.candle(c)) } }
        }
        candles[trade.instrument] = builders
    }

    mutating func noteInstrument(_ instrument: Instrument) {
        if trades[instrument] == nil && books[instrument] == nil { instrumentOrder.append(instrument) }
    }

    /// Unsequenced books without checksums (Coinbase Exchange level2) rely on trade-id continuity to
    /// notice lost messages; a checksummed book (Kraken) has its own check and is left alone.
    mutating func invalidateUnsequencedBook(_ instrument: Instrument, reason: String, time: UnixNanos, into out: inout [MarketEvent]) {
        guard var state = books[instrument], state.sync.isSynchronized, state.sync.lastRule == .unsequenced,
            !state.sync.isChecksummed
        else { return }
        outcomes.removeAll(keepingCapacity: true)
        state.sync.invalidate(reason: reason, into: &outcomes)
        books[instrument] = state
        report(outcomes, instrument: instrument, time: time, countGaps: false, into: &out)
    }

    // MARK: Books

    mutating func handleBook(_ update: BookUpdate, into out: inout [MarketEvent]) {
        if books[update.instrument] == nil { noteInstrument(update.instrument) }
        var state = books[update.instrument] ?? BookState(
            sync: BookSynchronizer(instrument: update.instrument),
            scheduler: SnapshotScheduler(interval: configuration.snapshotInterval, depth: configuration.snapshotDepth))
        // Snapshots are scheduled on venue event time only; receive-time stamps are another clock.
        if update.timeSource == .venue,
            let snap = state.scheduler.beforeUpdate(at: update.eventTime, book: state.sync.book, valid: state.sync.isValid)
        {
            out.append(.bookSnapshot(snap))
        }
        outcomes.removeAll(keepingCapacity: true)
        state.sync.handle(update, into: &outcomes)
        books[update.instrument] = state
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
