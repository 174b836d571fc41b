public import MarketCore
public import Normalizer
import Venues

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which event types a replay prints (`--emit`).
public struct EmitSet: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let trades = EmitSet(rawValue: 1 << 0)
    public static let candles = EmitSet(rawValue: 1 << 1)
    public static let books = EmitSet(rawValue: 1 << 2)
    public static let status = EmitSet(rawValue: 1 << 3)
    public static let tickers = EmitSet(rawValue: 1 << 4)
    /// Open-candle updates as well as closes.
    public static let candleUpdates = EmitSet(rawValue: 1 << 5)

    /// CONTRACTS.md default: `trades,candles,status`.
    public static let defaults: EmitSet = [.trades, .candles, .status]

    /// Parses `trades,candles,books,status[,tickers,candle-updates]`.
    public init(parsing text: String) throws(ReplayOptionError) {
        var set: EmitSet = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: " ") }) where !part.isEmpty {
            switch part {
            case "trades", "trade": set.insert(.trades)
            case "candles", "candle": set.insert(.candles)
            case "books", "book", "book_snapshot": set.insert(.books)
            case "status": set.insert(.status)
            case "tickers", "ticker": set.insert(.tickers)
            case "candle-updates": set.formUnion([.candles, .candleUpdates])
            default: throw ReplayOptionError("unknown --emit value '\(part)' (expected trades, candles, books, status, tickers, candle-updates)")
            }
        }
        self = set
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(drop(while: { $0 == set }).reversed().drop(while: { $0 == set }).reversed())
    }
}

/// A bad replay option value.
public struct ReplayOptionError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Replay settings.
public struct PipelineOptions: Sendable {
    public var emit: EmitSet = .defaults
    public var normalizer = NormalizerConfiguration()
    public var quotes: QuoteSuffixTable = .builtIn
    public init() {}
}

/// The `--stats` summary (CONTRACTS.md).
public struct PipelineStats: Sendable, Hashable {
    public var lines = 0
    public var frames = 0
    /// Printed lines per event type.
    public var events: [String: Int] = [:]
    public var parseErrors = 0
    /// Closed candles re-emitted as amendments (revision > 0), all venues.
    public var candleRevisions = 0
    /// Gap, resync and checksum counts of all venues' normalizers.
    public var counters = NormalizerCounters()
    public init() {}

    /// Book and trade-id gaps together (CONTRACTS.md `gaps`; `book_gaps`/`trade_gaps` split them).
    public var gaps: Int { counters.bookGaps + counters.tradeGaps }
    public var bookGaps: Int { counters.bookGaps }
    public var tradeGaps: Int { counters.tradeGaps }
    public var resyncs: Int { counters.resyncs }
    public var checksumChecks: Int { counters.checksumChecks }
    public var checksumFailures: Int { counters.checksumFailures }

    /// One JSON line; keys in a fixed order so the summary is deterministic.
    public var jsonLine: String {
        var w = JSONWriter()
        w.beginObject()
        w.key("lines")
        w.int(Int64(lines))
        w.key("frames")
        w.int(Int64(frames))
        w.key("events")
        w.beginObject()
        for key in events.keys.sorted() {
            w.key(string: key)
            w.int(Int64(events[key]!))
        }
        w.endObject()
        let c = counters
        let fields: [(StaticString, Int)] = [
            ("parse_errors", parseErrors), ("gaps", gaps), ("book_gaps", c.bookGaps), ("trade_gaps", c.tradeGaps),
            ("resyncs", c.resyncs), ("checksum_checks", c.checksumChecks), ("checksum_failures", c.checksumFailures),
            ("duplicate_trades", c.duplicateTrades), ("late_trades_dropped", c.lateTradesDropped),
            ("invalid_trades", c.invalidTrades), ("outlier_trades", c.outlierTrades), ("future_trades", c.futureTrades),
        ]
        for (key, value) in fields {
            w.key(key)
            w.int(Int64(value))
        }
        w.endObject()
        return String(decoding: w.bytes, as: UTF8.self)
    }
}

/// One venue's normalizer figures (``FeedPipeline/venueStats()``).
public struct VenueNormalizerStats: Sendable, Hashable {
    public var counters = NormalizerCounters()
    /// Books the normalizer vouches for, and books it does not (resyncing, crossed, not yet synchronized).
    public var validBooks = 0
    public var invalidBooks = 0
    public init(counters: NormalizerCounters = .init(), validBooks: Int = 0, invalidBooks: Int = 0) {
        self.counters = counters
        self.validBooks = validBooks
        self.invalidBooks = invalidBooks
    }
}

/// Deterministic replay of capture files: frames go to each venue's adapter and normalizer in
/// `recv_ns` order (files merged; ties keep file order, then line order), and the clock is each
/// line's `recv_ns`.
public struct FeedPipeline {
    public let options: PipelineOptions
    /// Per-venue state in arrays indexed by the venue's slot (its first-seen position): one hash
    /// lookup per line at most, none when the line's venue is the previous line's.
    var slots: [Venue: Int] = [:]
    var adapters: [any VenueAdapter] = []
    var normalizers: [MarketNormalizer] = []
    /// Venues in first-seen order (deterministic clock and end-of-input output).
    var venueOrder: [Venue] = []
    /// Each venue's id as bytes (by slot), to match a capture line's venue without a `String`.
    var venueUTF8: [[UInt8]] = []
    var lastSlot = -1
    var venueEvents: [VenueEvent] = []
    var produced: [MarketEvent] = []
    /// Open connections per venue (`open` adds, `close` removes): losing the last one interrupts the feed.
    var openConnections: [Venue: Set<String>] = [:]
    var requests: [(Venue, FeedRequest)] = []
    var wasInterrupted: Set<Venue> = []
    /// Each venue's clock (by slot): the `recv_ns` of its latest line.
    var clocks: [UnixNanos] = []
    /// Resume points for venues whose normalizer does not exist yet.
    var resumes: [Venue: [(symbol: String, id: Int64, time: UnixNanos, price: FixedDecimal)]] = [:]
    /// The counters as they run; ``stats`` adds the printed events by type.
    var tally = PipelineStats()
    /// Printed events by type (``eventTypeNames``' order): counters in the struct, not a
    /// `Dictionary` lookup hashing the type's `String`, nor an array's uniqueness check per event.
    var eventCounts = EventCounts()
    static let eventTypeNames = ["trade", "candle", "book_snapshot", "ticker", "status"]

    public var stats: PipelineStats {
        var s = tally
        for (k, n) in eventCounts.all.enumerated() where n > 0 { s.events[Self.eventTypeNames[k], default: 0] += n }
        return s
    }

    public init(options: PipelineOptions) {
        self.options = options
    }

    /// Replays `paths`, calling `sink` with each event that `--emit` selects, in order.
    /// - Throws: ``CaptureError`` for an unreadable file or line (stats so far stay in ``stats``).
    /// `shouldStop` is asked before each line; when it answers true the replay returns at once,
    /// without closing open candles (an interrupted run must not invent closes).
    public mutating func run(
        paths: [String], shouldStop: () -> Bool = { false }, sink: (MarketEvent) -> Void
    ) throws(CaptureError) {
        if paths.count == 1 {
            try run(reader: try CaptureReader(path: paths[0]), shouldStop: shouldStop, sink: sink)
            return
        }
        var readers: [CaptureReader] = []
        for p in paths { readers.append(try CaptureReader(path: p)) }
        var heads: [CaptureRecord?] = []
        for r in readers { heads.append(try r.next()) }
        while true {
            // Smallest recv_ns; ties go to the earlier file.
            var best = -1
            for i in heads.indices {
                guard let h = heads[i] else { continue }
                if best < 0 || h.receiveTime < heads[best]!.receiveTime { best = i }
            }
            guard best >= 0 else { break }
            if shouldStop() {
                totalCounters()
                return
            }
            process(heads[best]!, sink: sink)
            do {
                heads[best] = try readers[best].next()
            } catch {
                // Counters so far still go to --stats; open candles are not closed on a failed run.
                totalCounters()
                throw error
            }
        }
        finish(sink: sink)
    }

    /// One capture, read in order (nothing to merge). A recorder-layout `ws` line of the previous
    /// line's venue is first offered to its adapter with the frame as written
    /// (``VenueAdapter/handleEscapedFrame(_:receiveTime:into:)``): a frame the adapter reads so
    /// needs no decoding and no record. Every other line is read and processed as `run` does.
    /// The adapter sees the frame as the line is read, before `shouldStop` is asked: only its own
    /// state moves then (as it would when the line is processed), and the events wait for `process`.
    mutating func run(reader: CaptureReader, shouldStop: () -> Bool, sink: (MarketEvent) -> Void) throws(CaptureError) {
        var fast: (receiveTime: UnixNanos, slot: Int) = (UnixNanos(0), 0)
        while true {
            let read: CaptureReader.Read
            do {
                read = try reader.next { line in
                    guard lastSlot >= 0, let head = WrittenLayoutHead(line), head.kind == .ws,
                        Self.equal(head.venue, venueUTF8[lastSlot]), let frame = head.escapedFrame(in: line)
                    else { return false }
                    venueEvents.removeAll(keepingCapacity: true)
                    let time = UnixNanos(head.recv)
                    guard adapters[lastSlot].handleEscapedFrame(frame, receiveTime: time, into: &venueEvents) else {
                        return false
                    }
                    fast = (time, lastSlot)
                    return true
                }
            } catch {
                totalCounters()
                throw error
            }
            if case .end = read { break }
            if shouldStop() {
                totalCounters()
                return
            }
            switch read {
            case .end: break
            case .handled: processHandledFrame(receiveTime: fast.receiveTime, slot: fast.slot, sink: sink)
            case .record(let r): process(r, sink: sink)
            }
        }
        finish(sink: sink)
    }

    @inline(__always)
    static func equal(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Bool {
        a.count == b.count && b.withUnsafeBytes { memcmp(a.baseAddress!, $0.baseAddress!, a.count) == 0 }
    }

    /// ``process(_:sink:)`` for a `ws` line whose frame the venue's adapter has read into `venueEvents`.
    mutating func processHandledFrame(receiveTime: UnixNanos, slot s: Int, sink: (MarketEvent) -> Void) {
        tally.lines += 1
        produced.removeAll(keepingCapacity: true)
        clocks[s] = receiveTime
        normalizers[s].advance(to: receiveTime, into: &produced)
        tally.frames += 1
        handleVenueEvents(slot: s, receiveTime: receiveTime)
        if options.normalizer.collectRequests, normalizers[s].hasRequests {
            for r in normalizers[s].takeRequests() { requests.append((venueOrder[s], r)) }
        }
        emit(sink)
    }

    /// Feeds one capture record through adapter and normalizer.
    public mutating func process(_ record: CaptureRecord, sink: (MarketEvent) -> Void) {
        tally.lines += 1
        produced.removeAll(keepingCapacity: true)
        // The clock first: buckets whose end + grace has passed close before this line's events.
        // Each venue has its own clock (its lines' recv_ns): venues may run on different
        // timelines, as the demo's captures from different years do.
        var slot = self.slot(of: record.venue)
        if let s = slot {
            clocks[s] = record.receiveTime
            normalizers[s].advance(to: record.receiveTime, into: &produced)
        }
        if record.kind != .tick {
            if slot == nil {
                guard let adapter = VenueAdapters.make(record.venue, quotes: options.quotes) else {
                    if record.kind == .ws || record.kind == .rest {
                        tally.frames += 1
                        produced.append(
                            .status(
                                FeedStatus(
                                    kind: .parseError, venue: record.venue, instrument: nil,
                                    detail: "no adapter for venue \(record.venue.id)", time: record.receiveTime)))
                    }
                    emit(sink)
                    return
                }
                let s = venueOrder.count
                slots[record.venue] = s
                adapters.append(adapter)
                normalizers.append(
                    MarketNormalizer(
                        venue: record.venue, tradeIDsAreContiguous: adapter.tradeIDsAreContiguous,
                        configuration: configuration))
                venueOrder.append(record.venue)
                venueUTF8.append(Array(record.venue.id.utf8))
                clocks.append(record.receiveTime)
                for r in resumes.removeValue(forKey: record.venue) ?? [] {
                    normalizers[s].resume(symbol: r.symbol, lastTradeID: r.id, time: r.time, price: r.price)
                }
                slot = s
            }
            let s = slot!
            if record.kind == .ws || record.kind == .rest { tally.frames += 1 }
            trackConnection(record, slot: s)
            venueEvents.removeAll(keepingCapacity: true)
            record.frame.withUnsafeBytes { raw in
                adapters[s].handle(
                    kind: record.kind, url: record.url, connection: record.connection, frame: raw,
                    receiveTime: record.receiveTime, into: &venueEvents)
            }
            handleVenueEvents(slot: s, receiveTime: record.receiveTime)
            if options.normalizer.collectRequests, normalizers[s].hasRequests {
                for r in normalizers[s].takeRequests() { requests.append((record.venue, r)) }
            }
        }
        emit(sink)
    }

    /// The venue's slot, or nil before its first frame.
    mutating func slot(of venue: Venue) -> Int? {
        if lastSlot >= 0, venueOrder[lastSlot] == venue { return lastSlot }
        guard let s = slots[venue] else { return nil }
        lastSlot = s
        return s
    }

    /// Resumes an instrument after its last stored trade (``MarketNormalizer/resume(symbol:lastTradeID:time:price:)``).
    public mutating func resume(venue: Venue, symbol: String, lastTradeID: Int64, time: UnixNanos, price: FixedDecimal) {
        if let s = slots[venue] {
            normalizers[s].resume(symbol: symbol, lastTradeID: lastTradeID, time: time, price: price)
        } else {
            resumes[venue, default: []].append((symbol, lastTradeID, time, price))
        }
    }

    /// Book resyncs and trade backfills the normalizers asked for since the last call
    /// (only with `options.normalizer.collectRequests`).
    public mutating func takeRequests() -> [(Venue, FeedRequest)] {
        // Asked after every record: none waiting must cost nothing (handing the array out and then
        // clearing it with its capacity kept would allocate a new buffer each time).
        guard !requests.isEmpty else { return [] }
        defer { requests = [] }
        return requests
    }

    /// The synchronizer of `instrument`'s book, if it has one (tests, live book views).
    public func synchronizer(for instrument: Instrument) -> BookSynchronizer? {
        guard let s = slots[instrument.venue] else { return nil }
        return normalizers[s].synchronizer(for: instrument)
    }

    /// The current top `depth` levels of an instrument's book (any state; `valid` says whether the
    /// normalizer vouches for it), stamped with the venue's clock. Nil when there is no book.
    public func bookSnapshot(venue: String, symbol: String, depth: Int) -> BookSnapshot? {
        guard let s = venueOrder.firstIndex(where: { $0.id == venue }) else { return nil }
        return normalizers[s].bookSnapshot(symbol: symbol, depth: depth, time: clocks[s])
    }

    /// Each venue's normalizer figures so far (live monitoring): counters and books by validity.
    public func venueStats() -> [Venue: VenueNormalizerStats] {
        var out: [Venue: VenueNormalizerStats] = [:]
        for (v, n) in zip(venueOrder, normalizers) {
            let books = n.bookCounts
            out[v] = VenueNormalizerStats(counters: n.counters, validBooks: books.valid, invalidBooks: books.invalid)
        }
        return out
    }

    mutating func trackConnection(_ record: CaptureRecord, slot: Int) {
        let conn = record.connection ?? ""
        switch record.kind {
        case .open:
            // Only a reconnect is reported: the first connection of a recording is the normal start.
            if wasInterrupted.contains(record.venue), openConnections[record.venue, default: []].isEmpty {
                wasInterrupted.remove(record.venue)
                produced.append(
                    .status(
                        FeedStatus(
                            kind: .reconnected, venue: record.venue, instrument: nil, detail: record.url ?? "",
                            time: record.receiveTime)))
            }
            openConnections[record.venue, default: []].insert(conn)
        case .close:
            let reason = String(decoding: record.frame, as: UTF8.self)
            if reason.hasPrefix("stale") {
                // The feed closed a connection that stopped sending (CONTRACTS.md's `stale`).
                produced.append(
                    .status(FeedStatus(kind: .stale, venue: record.venue, instrument: nil, detail: reason, time: record.receiveTime)))
            }
            guard openConnections[record.venue]?.remove(conn) != nil, openConnections[record.venue]!.isEmpty else { return }
            wasInterrupted.insert(record.venue)
            produced.append(
                .status(
                    FeedStatus(
                        kind: .disconnected, venue: record.venue, instrument: nil,
                        detail: reason.isEmpty ? "connection closed" : reason, time: record.receiveTime)))
            normalizers[slot].connectionLost(
                reason: "connection lost", time: record.receiveTime, into: &produced)
        default: break
        }
    }

    var configuration: NormalizerConfiguration {
        var c = options.normalizer
        c.emitCandleUpdates = options.emit.contains(.candleUpdates)
        return c
    }

    /// End of input: closes every open candle and totals the counters.
    public mutating func finish(sink: (MarketEvent) -> Void) {
        produced.removeAll(keepingCapacity: true)
        for s in normalizers.indices { normalizers[s].finish(into: &produced) }
        emit(sink)
        totalCounters()
    }

    mutating func totalCounters() {
        var totals = NormalizerCounters()
        for n in normalizers { totals.add(n.counters) }
        tally.counters = totals
    }

    mutating func emit(_ sink: (MarketEvent) -> Void) {
        // Each event is moved out of `produced` (no copy, no retain) and destroyed after the sink.
        var events: [MarketEvent] = []
        swap(&events, &produced)
        events.drain { emit($0, sink) }
        swap(&events, &produced)  // the emptied buffer, capacity kept, for the next frame
    }

    /// Hands the adapter's events to the venue's normalizer, each moved out of `venueEvents`.
    @inline(__always)
    mutating func handleVenueEvents(slot s: Int, receiveTime: UnixNanos) {
        var events: [VenueEvent] = []
        swap(&events, &venueEvents)
        events.drain { normalizers[s].handle($0, receiveTime: receiveTime, into: &produced) }
        swap(&events, &venueEvents)
    }

    @inline(__always)
    mutating func emit(_ e: MarketEvent, _ sink: (MarketEvent) -> Void) {
        // A trade binds nothing: each `if case … let` on the event copied it whole (a retain and a
        // release per printed trade). Only the rare kinds look into their payload.
        switch e {
        case .trade:
            guard options.emit.contains(.trades) else { return }
            eventCounts.trades += 1
        case .candle(let c):
            guard options.emit.contains(.candles), c.closed || options.emit.contains(.candleUpdates) else { return }
            if c.revision > 0 { tally.candleRevisions += 1 }
            eventCounts.candles += 1
        case .bookSnapshot:
            guard options.emit.contains(.books) else { return }
            eventCounts.books += 1
        case .ticker:
            guard options.emit.contains(.tickers) else { return }
            eventCounts.tickers += 1
        case .status(let s):
            if s.kind == .parseError { tally.parseErrors += 1 }
            guard options.emit.contains(.status) else { return }
            eventCounts.statuses += 1
        }
        sink(e)
    }
}

/// Printed events per type, in ``FeedPipeline/eventTypeNames``' order.
struct EventCounts {
    var trades = 0
    var candles = 0
    var books = 0
    var tickers = 0
    var statuses = 0
    var all: [Int] { [trades, candles, books, tickers, statuses] }
}
