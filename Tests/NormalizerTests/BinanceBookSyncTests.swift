import Feeds
import MarketCore
import Normalizer
import Testing
import Venues
import _TestSupport

/// Drives real recorded Binance streams through the adapter and one synchronizer per instrument,
/// and checks the rebuilt top of book against the venue's own `bookTicker` frames.
struct BinanceBookHarness {
    var adapter: BinanceAdapter
    var books: [Instrument: BookSynchronizer] = [:]
    var outcomes: [Instrument: [BookSyncOutcome]] = [:]
    /// Top of book after each applied diff, keyed by (instrument, diff's last update id).
    var topAfter: [Instrument: [Int64: (BookLevel, BookLevel)]] = [:]
    var tickers: [Instrument: [Int64: (BookLevel, BookLevel)]] = [:]
    var lastApplied: [Instrument: Int64] = [:]
    var parseErrors: [String] = []
    var appliedDiffs = 0

    init(venue: Venue) { adapter = BinanceAdapter(venue: venue) }

    /// - Parameter drop: returns true for diffs to drop (gap injection); called with the instrument and diff.
    mutating func run(_ records: [CaptureRecord], drop: (Instrument, BookUpdate) -> Bool = { _, _ in false }) {
        var events: [VenueEvent] = []
        for r in records {
            events.removeAll()
            r.frame.withUnsafeBytes {
                adapter.handle(kind: r.kind, url: r.url, connection: r.connection, frame: $0, receiveTime: r.receiveTime, into: &events)
            }
            for e in events {
                switch e {
                case .book(let u):
                    if !u.isSnapshot && drop(u.instrument, u) { continue }
                    var sync = books[u.instrument] ?? BookSynchronizer(instrument: u.instrument)
                    var out: [BookSyncOutcome] = []
                    sync.handle(u, into: &out)
                    outcomes[u.instrument, default: []].append(contentsOf: out)
                    if sync.isValid, !u.isSnapshot, let last = Self.last(u.sequence), last > lastApplied[u.instrument, default: .min] {
                        lastApplied[u.instrument] = last
                        appliedDiffs += 1
                        if let b = sync.book.bestBid, let a = sync.book.bestAsk { topAfter[u.instrument, default: [:]][last] = (b, a) }
                    }
                    books[u.instrument] = sync
                case .ticker(let t):
                    if let id = t.updateID, let b = t.bestBid, let a = t.bestAsk { tickers[t.instrument, default: [:]][id] = (b, a) }
                case .parseError(_, let d): parseErrors.append(d)
                default: break
                }
            }
        }
    }

    static func last(_ s: BookSequence) -> Int64? {
        switch s {
        case .range(_, let l), .linked(_, let l, _): l
        default: nil
        }
    }

    /// Compares every ticker whose update id equals an applied diff's last id; returns (matched, mismatches).
    func compareTickers() -> (matched: Int, mismatches: [String]) {
        var matched = 0
        var mismatches: [String] = []
        for (instrument, byID) in tickers {
            for (id, top) in byID {
                guard let rebuilt = topAfter[instrument]?[id] else { continue }
                matched += 1
                if rebuilt.0 != top.0 || rebuilt.1 != top.1 {
                    mismatches.append("\(instrument) u=\(id): book \(rebuilt.0.price)/\(rebuilt.0.quantity) x \(rebuilt.1.price)/\(rebuilt.1.quantity), ticker \(top.0.price)/\(top.0.quantity) x \(top.1.price)/\(top.1.quantity)")
                }
            }
        }
        return (matched, mismatches)
    }
}

@Suite("Binance book synchronization on real streams")
struct BinanceBookSyncTests {
    @Test func spotBTCUSDTSynchronizesWithZeroGapsAndMatchesEveryBookTicker() throws {
        let records = try Fixtures.records("binance/spot-btcusdt-2024-08-08.jsonl.gz")
        var h = BinanceBookHarness(venue: .binance)
        h.run(records)
        #expect(h.parseErrors.isEmpty, "\(h.parseErrors.prefix(3))")
        let instrument = try #require(h.books.keys.first)
        #expect(instrument.symbol == "BTC-USDT")
        let outcomes = h.outcomes[instrument] ?? []
        #expect(outcomes.count == 1, "\(outcomes)")
        guard case .synced = outcomes.first else {
            Issue.record("expected a single synced outcome, got \(outcomes)")
            return
        }
        #expect(h.books[instrument]!.isValid)
        // ~6.5k diffs in the capture; all after the snapshot must apply.
        #expect(h.appliedDiffs > 6_000)
        let (matched, mismatches) = h.compareTickers()
        #expect(matched > 500, "too few bookTicker frames matched an applied diff: \(matched)")
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }

    @Test(arguments: ["binance/usdm-multi-2021-07-22.jsonl.gz", "binance/coinm-multi-2021-07-22.jsonl.gz"])
    func futuresStreamsSynchronizeWithZeroGapsAndMatchBookTickers(_ file: String) throws {
        let venue: Venue = file.contains("usdm") ? .binanceUSDM : .binanceCOINM
        var h = BinanceBookHarness(venue: venue)
        h.run(try Fixtures.records(file))
        #expect(h.parseErrors.isEmpty, "\(h.parseErrors.prefix(3))")
        #expect(h.books.count >= 4)
        for (instrument, sync) in h.books {
            let gaps = (h.outcomes[instrument] ?? []).filter { if case .gap = $0 { true } else { false } }
            #expect(gaps.isEmpty, "\(instrument): \(gaps)")
            #expect(sync.isValid, "\(instrument) not valid: \(h.outcomes[instrument] ?? [])")
        }
        let (matched, mismatches) = h.compareTickers()
        #expect(matched > 20, "too few bookTicker frames matched: \(matched)")
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }

    @Test func spotMultiSymbolStreamsSynchronize() throws {
        var h = BinanceBookHarness(venue: .binance)
        h.run(try Fixtures.records("binance/spot-multi-2021-10-12.jsonl.gz"))
        #expect(h.parseErrors.isEmpty, "\(h.parseErrors.prefix(3))")
        #expect(Set(h.books.keys.map(\.symbol)) == ["NKN-USDT", "BLZ-ETH", "LRC-BTC", "RUNE-EUR"])
        for (instrument, _) in h.books {
            let gaps = (h.outcomes[instrument] ?? []).filter { if case .gap = $0 { true } else { false } }
            #expect(gaps.isEmpty, "\(instrument): \(gaps)")
        }
        let (_, mismatches) = h.compareTickers()
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }

    @Test func aDroppedDiffIsReportedAsAGapAndTheBookStopsBeingValid() throws {
        let records = try Fixtures.records("binance/spot-btcusdt-2024-08-08.jsonl.gz")
        var seen = 0
        var droppedFirst: Int64 = 0
        var h = BinanceBookHarness(venue: .binance)
        // Drop the 100th diff after the snapshot (diffs before it are buffered and partly discarded).
        h.run(records) { _, u in
            guard case .range(let first, let last) = u.sequence, last > 50_093_239_218 else { return false }
            seen += 1
            if seen == 100 {
                droppedFirst = first
                return true
            }
            return false
        }
        let instrument = try #require(h.books.keys.first)
        let outcomes = h.outcomes[instrument] ?? []
        let gaps = outcomes.compactMap { if case .gap(let d) = $0 { d } else { nil } }
        #expect(gaps.count == 1, "\(outcomes)")
        // The diff after the dropped one arrives while the book expects the dropped one's first id.
        #expect(gaps.first?.hasPrefix("expected U=\(droppedFirst),") == true, "\(gaps)")
        #expect(outcomes.contains { if case .resyncRequested = $0 { true } else { false } })
        // No later REST snapshot in the capture: the book must stay invalid to the end.
        #expect(!h.books[instrument]!.isValid)
    }

    @Test func aStaleSnapshotThatDoesNotBridgeTheDiffsIsAGap() throws {
        let records = try Fixtures.records("binance/spot-btcusdt-2024-08-08.jsonl.gz")
        // Move the REST snapshot after the first 300 diffs: its lastUpdateId is then older than every
        // buffered diff that was not discarded, so nothing can bridge it.
        var diffs = 0
        var reordered: [CaptureRecord] = []
        var rest: CaptureRecord? = nil
        for r in records {
            if r.kind == .rest {
                rest = r
                continue
            }
            reordered.append(r)
            if r.frame.starts(with: Array(#"{"stream":"btcusdt@depth"#.utf8)) {
                diffs += 1
                if diffs == 300, let s = rest { reordered.append(s) }
            }
        }
        // Keep only diffs far past the snapshot in the buffer: drop the first 290 diffs entirely.
        var dropped = 0
        var h = BinanceBookHarness(venue: .binance)
        h.run(reordered) { _, _ in
            dropped += 1
            return dropped <= 290
        }
        let instrument = try #require(h.books.keys.first)
        let outcomes = h.outcomes[instrument] ?? []
        #expect(outcomes.contains { if case .gap(let d) = $0 { d.contains("does not bridge") } else { false } }, "\(outcomes)")
        #expect(!h.books[instrument]!.isValid)
    }
}
