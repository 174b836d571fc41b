public import MarketCore
import Synchronization

/// The services' view of the market: each instrument's current *valid* L2 book and its recent
/// closed 1-minute candle closes (the mood meter's volatility). Fed from the bus; a book that
/// gaps, resyncs, fails its checksum, crosses or loses its connection is dropped until a valid
/// snapshot arrives, so nothing ever fills against a book the normalizer does not vouch for.
public final class MarketView: Sendable {
    private struct State {
        var books: [InstrumentKey: BookSnapshot] = [:]
        var closes: [InstrumentKey: [(start: UnixNanos, close: WideDecimal)]] = [:]
        var lastTime = UnixNanos(0)
        /// Every instrument seen on the bus (the feeds publish configured instruments only).
        var known: Set<InstrumentKey> = []
    }

    private let state = Mutex(State())
    /// Closed 1m candles kept per instrument (one hour and one before it for the first return).
    public let closesKept = 61

    /// Who applies events. `bus`: the services' bus consumers (one process, or beside `ingest`).
    /// `relay`: a cluster `services` node's relay, in the order the frames arrived from NATS, so
    /// that a loss it detects (``dropBooks(venue:symbol:)``) cannot be undone by an older book still
    /// queued for a bus consumer; ``apply(_:)`` from the consumers is then a no-op.
    public enum Feeding: Sendable { case bus, relay }
    public let feeding: Feeding

    public init(feeding: Feeding = .bus) { self.feeding = feeding }

    /// Applies one event relayed from the cluster (``Feeding/relay`` only).
    public func applyRelayed(_ event: MarketEvent) {
        guard feeding == .relay else { return }
        update(event)
    }

    /// Drops the valid books of a venue (or of one instrument, or every book when `venue` is nil)
    /// until a new valid snapshot arrives: frames were lost on their way here, so a book may be stale.
    public func dropBooks(venue: String? = nil, symbol: String? = nil) {
        state.withLock { s in
            for k in s.books.keys where (venue == nil || k.venue == venue) && (symbol == nil || k.symbol == symbol) {
                s.books[k] = nil
            }
        }
    }

    /// Instruments remembered at most (a bound, far above any configuration).
    public let knownKept = 100_000

    public func book(_ key: InstrumentKey) -> BookSnapshot? { state.withLock { $0.books[key] } }

    /// Whether the instrument has been seen on the bus (a trade, book, candle or ticker).
    public func knows(_ key: InstrumentKey) -> Bool { state.withLock { $0.known.contains(key) } }

    public var knownInstruments: Set<InstrumentKey> { state.withLock { $0.known } }

    public func mid(_ key: InstrumentKey) -> WideDecimal? {
        guard let b = book(key), let bid = b.bestBid?.price, let ask = b.bestAsk?.price else { return nil }
        return WideDecimal(bid).adding(WideDecimal(ask))?.halved()
    }

    /// Closes of the instrument's closed 1m candles over the hour up to its latest one, oldest
    /// first (the instrument's own clock, so replays of old captures measure the same hour).
    public func recentCloses(_ key: InstrumentKey) -> [WideDecimal] {
        let list = state.withLock { $0.closes[key] ?? [] }
        guard let last = list.last?.start else { return [] }
        let from = UnixNanos(last.rawValue - 3_600_000_000_000)
        return list.filter { $0.start >= from }.map(\.close)
    }

    /// The time of the latest event seen (the market clock replays and simulations run on).
    public var lastEventTime: UnixNanos { state.withLock { $0.lastTime } }

    /// Applies one bus event (a no-op when the view is fed by a cluster relay).
    public func apply(_ event: MarketEvent) {
        guard feeding == .bus else { return }
        update(event)
    }

    private func update(_ event: MarketEvent) {
        state.withLock { s in
            let instrument: Instrument?
            switch event {
            case .trade(let t): instrument = t.instrument
            case .bookSnapshot(let b): instrument = b.instrument
            case .candle(let c): instrument = c.instrument
            case .ticker(let t): instrument = t.instrument
            case .status: instrument = nil
            }
            if let instrument, s.known.count < knownKept {
                s.known.insert(InstrumentKey(venue: instrument.venue.id, symbol: instrument.symbol))
            }
            switch event {
            case .bookSnapshot(let b):
                let key = InstrumentKey(venue: b.instrument.venue.id, symbol: b.instrument.symbol)
                let crossed = b.bestBid.flatMap { bid in b.bestAsk.map { bid.price >= $0.price } } ?? false
                if b.valid && !crossed && !b.bids.isEmpty && !b.asks.isEmpty {
                    s.books[key] = b
                } else {
                    s.books[key] = nil
                }
                s.lastTime = max(s.lastTime, b.time)
            case .candle(let c) where c.closed && c.interval.name == "1m":
                let key = InstrumentKey(venue: c.instrument.venue.id, symbol: c.instrument.symbol)
                var list = s.closes[key] ?? []
                if let i = list.firstIndex(where: { $0.start == c.start }) {
                    list[i].close = WideDecimal(c.close)  // a revision of a closed candle
                } else {
                    list.append((c.start, WideDecimal(c.close)))
                    list.sort { $0.start < $1.start }
                    if list.count > closesKept { list.removeFirst(list.count - closesKept) }
                }
                s.closes[key] = list
            case .trade(let t):
                s.lastTime = max(s.lastTime, t.eventTime)
            case .status(let st):
                if let i = st.instrument {
                    if st.kind.invalidatesBook {
                        s.books[InstrumentKey(venue: i.venue.id, symbol: i.symbol)] = nil
                    }
                } else if st.kind.endsConnection {
                    for k in s.books.keys where k.venue == st.venue.id { s.books[k] = nil }
                }
            default:
                break
            }
        }
    }
}
