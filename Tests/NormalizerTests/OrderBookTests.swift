import Feeds
import MarketCore
import Normalizer
import Testing
import Venues
import _TestSupport

private let btc = Instrument(venue: .binance, base: "BTC", quote: "USDT", nativeSymbol: "BTCUSDT")

private func level(_ p: String, _ q: String) -> BookLevel { BookLevel(price: FixedDecimal(p)!, quantity: FixedDecimal(q)!) }

private typealias BookModel = [Side: [FixedDecimal: FixedDecimal]]

/// The model's levels of `side`, best first.
private func modelLevels(_ model: BookModel, _ side: Side) -> [(key: FixedDecimal, value: FixedDecimal)] {
    model[side]!.sorted { side == .buy ? $0.key > $1.key : $0.key < $1.key }
}

/// Every level of both sides, and the counts, equal the model's.
private func expectBook(_ book: OrderBook, matches model: BookModel, _ note: String = "") {
    for side in [Side.buy, .sell] {
        let expected = modelLevels(model, side)
        #expect(book.levels(side).map(\.price) == expected.map(\.key), "\(note) \(side)")
        #expect(book.levels(side).map(\.quantity) == expected.map(\.value), "\(note) \(side)")
        #expect((side == .buy ? book.bidCount : book.askCount) == expected.count, "\(note)")
    }
}

/// Keeps the model's best `depth` levels a side, as `OrderBook.truncate(depth:)` does.
private func truncate(_ model: inout BookModel, depth: Int) {
    for s in [Side.buy, .sell] {
        let keep = Set(modelLevels(model, s).prefix(depth).map(\.key))
        model[s] = model[s]!.filter { keep.contains($0.key) }
    }
}

@Suite("OrderBook")
struct OrderBookTests {
    @Test func keepsLevelsSortedAndZeroRemoves() {
        var book = OrderBook(instrument: btc)
        book.apply(bids: [level("100", "1"), level("99.5", "2"), level("101", "3")], asks: [level("103", "1"), level("102", "2")])
        #expect(book.levels(.buy).map(\.price.description) == ["101", "100", "99.5"])
        #expect(book.levels(.sell).map(\.price.description) == ["102", "103"])
        // 100.0 is the same price as 100: updates, not a new level.
        book.update(.buy, level("100.0", "5"))
        #expect(book.bidCount == 3 && book.quantity(.buy, at: FixedDecimal("100")!) == FixedDecimal("5"))
        book.update(.buy, level("101", "0"))
        #expect(book.bestBid == level("100.0", "5"))
        // Removing a level that does not exist changes nothing.
        book.update(.sell, level("150", "0"))
        #expect(book.askCount == 2)
        let top = book.top(1)
        #expect(top.bids == [level("100", "5")] && top.asks == [level("102", "2")])
        #expect(!book.isCrossed)
        book.update(.buy, level("102", "1"))
        #expect(book.isCrossed)
    }

    /// Random inserts, updates, removes and truncations (many chunk splits and emptied chunks)
    /// against a plain dictionary model, checked level for level as it goes.
    @Test func randomOperationsMatchADictionaryModel() {
        var rng = SystemRandomNumberGenerator()
        var book = OrderBook(instrument: btc)
        var model: BookModel = [.buy: [:], .sell: [:]]
        func check() { expectBook(book, matches: model) }
        for step in 1...20_000 {
            let side: Side = Bool.random(using: &rng) ? .buy : .sell
            // Prices at mixed scales (100, 100.5, 100.25) so equal values written differently meet.
            let cents = Int.random(in: 0..<4_000, using: &rng)
            let price = FixedDecimal(mantissa: Int64(10_000 + cents), scale: 2)!
            let qty = Int.random(in: 0...3, using: &rng) == 0 ? FixedDecimal.zero : FixedDecimal(Int64.random(in: 1...99, using: &rng))
            book.update(side, BookLevel(price: price, quantity: qty))
            model[side]![price] = qty.isZero ? nil : qty
            if step % 5_000 == 0 {
                let depth = Int.random(in: 10...500, using: &rng)
                book.truncate(depth: depth)
                truncate(&model, depth: depth)
            }
            if step % 2_500 == 0 { check() }
        }
        check()
        #expect(book.top(3).bids == Array(book.levels(.buy).prefix(3)))
    }

    /// After a large snapshot (which places the price window) random updates that drift the price
    /// far up and down (moving the window), land far from the best, use finer scales than the
    /// snapshot's tick and truncate, against a plain dictionary model: levels, counts, best,
    /// `quantity(at:)` and top-N stay exact throughout.
    @Test func windowedBookMatchesADictionaryModelWhileThePriceMoves() {
        var rng = SystemRandomNumberGenerator()
        var book = OrderBook(instrument: btc)
        var model: BookModel = [.buy: [:], .sell: [:]]
        func price(_ cents: Int64, scale: Int = 2) -> FixedDecimal { FixedDecimal(mantissa: cents, scale: scale)! }
        var snapshotBids: [BookLevel] = []
        var snapshotAsks: [BookLevel] = []
        for k in 0..<600 {
            let q = FixedDecimal(Int64.random(in: 1...50, using: &rng))
            snapshotBids.append(BookLevel(price: price(5_000_000 - Int64(k) * 2), quantity: q))
            snapshotAsks.append(BookLevel(price: price(5_000_001 + Int64(k) * 3), quantity: q))
        }
        book.replace(bids: snapshotBids, asks: snapshotAsks)
        for l in snapshotBids { model[.buy]![l.price] = l.quantity }
        for l in snapshotAsks { model[.sell]![l.price] = l.quantity }
        func check(_ step: Int) {
            expectBook(book, matches: model, "step \(step)")
            for side in [Side.buy, .sell] {
                let expected = modelLevels(model, side)
                let levels = book.levels(side)
                #expect((side == .buy ? book.bestBid : book.bestAsk)?.price == expected.first?.key, "step \(step)")
                let top = book.top(25)
                #expect((side == .buy ? top.bids : top.asks) == Array(levels.prefix(25)), "step \(step)")
                for (p, q) in expected.prefix(40) { #expect(book.quantity(side, at: p) == q, "step \(step)") }
            }
        }
        var mid: Int64 = 5_000_000
        for step in 1...40_000 {
            // The price walks: whole phases up and down, far beyond any window.
            mid += (step / 5_000) % 2 == 0 ? 3 : -3
            let side: Side = Bool.random(using: &rng) ? .buy : .sell
            let offset = Int64.random(in: 0..<400, using: &rng)
            var p: FixedDecimal
            switch Int.random(in: 0..<20, using: &rng) {
            case 0: p = price(mid * 10 + (side == .buy ? -1 : 1) * Int64.random(in: 0..<4_000, using: &rng), scale: 3)  // finer than the tick
            case 1: p = price(side == .buy ? mid - 2_000_000 : mid + 2_000_000)  // far from the best
            default: p = price(side == .buy ? mid - offset : mid + 1 + offset)
            }
            // As on an exchange, a level through the other side's best consumes those levels
            // (sent as removals), so the book never crosses and the price can really move.
            let other: Side = side == .buy ? .sell : .buy
            for (op, _) in model[other]! where side == .buy ? !(p < op) : !(op < p) {
                book.update(other, BookLevel(price: op, quantity: .zero))
                model[other]![op] = nil
            }
            let q = Int.random(in: 0...2, using: &rng) == 0 ? FixedDecimal.zero : FixedDecimal(Int64.random(in: 1...99, using: &rng))
            book.update(side, BookLevel(price: p, quantity: q))
            model[side]![p] = q.isZero ? nil : q
            if step % 9_000 == 0 {
                let depth = Int.random(in: 50...900, using: &rng)
                book.truncate(depth: depth)
                truncate(&model, depth: depth)
            }
            if step % 2_000 == 0 { check(step) }
        }
        check(0)
    }

    /// The ladder's slots are shared between copies of a book until one of them writes: a copy
    /// changed afterwards leaves the original exactly as it was (and the other way round), with the
    /// digits each price was first written with.
    @Test func aCopiedBookIsIndependentOfTheOriginal() {
        var book = OrderBook(instrument: btc)
        let bids = (0..<200).map { k in BookLevel(price: FixedDecimal(mantissa: 6_000_000 - Int64(k), scale: 2, displayScale: 8)!, quantity: FixedDecimal(Int64(k + 1))) }
        let asks = (0..<200).map { k in BookLevel(price: FixedDecimal(mantissa: 6_000_001 + Int64(k), scale: 2)!, quantity: FixedDecimal(Int64(k + 1))) }
        book.replace(bids: bids, asks: asks)
        var copy = book
        copy.update(.buy, BookLevel(price: FixedDecimal("60000.00")!, quantity: .zero))
        copy.update(.sell, BookLevel(price: FixedDecimal("60000.05")!, quantity: FixedDecimal("7.5")!))
        book.update(.buy, BookLevel(price: FixedDecimal("59999.99")!, quantity: FixedDecimal(42)))
        #expect(book.bestBid == bids[0])
        #expect(book.bestBid?.price.description == "60000.00000000")
        #expect(book.quantity(.buy, at: FixedDecimal("59999.99")!) == FixedDecimal(42))
        #expect(book.quantity(.sell, at: FixedDecimal("60000.05")!) == FixedDecimal(5))
        #expect(copy.bestBid?.price == FixedDecimal("59999.99")!)
        #expect(copy.quantity(.buy, at: FixedDecimal("59999.99")!) == FixedDecimal(2))
        #expect(copy.quantity(.sell, at: FixedDecimal("60000.05")!) == FixedDecimal("7.5")!)
        #expect(book.levels(.buy).count == 200 && copy.levels(.buy).count == 199)
    }

    /// The book rebuilt from the real BTCUSDT stream equals a plain dictionary-based book built
    /// independently in the test from the same frames (every level, both sides).
    @Test func matchesADictionaryBookOnTheRealStream() throws {
        let records = try Fixtures.records("binance/spot-btcusdt-2024-08-08.jsonl.gz")
        var adapter = BinanceAdapter()
        var sync = BookSynchronizer(instrument: btc)
        var reference: [Side: [FixedDecimal: FixedDecimal]] = [.buy: [:], .sell: [:]]
        var snapshotID: Int64 = 0
        var events: [VenueEvent] = []
        var pending: [BookUpdate] = []
        var outcomes: [BookSyncOutcome] = []
        func applyRef(_ u: BookUpdate) {
            for l in u.bids { reference[.buy]![l.price] = l.quantity.isZero ? nil : l.quantity }
            for l in u.asks { reference[.sell]![l.price] = l.quantity.isZero ? nil : l.quantity }
        }
        for r in records {
            events.removeAll()
            r.frame.withUnsafeBytes { adapter.handle(kind: r.kind, url: r.url, connection: nil, frame: $0, receiveTime: r.receiveTime, into: &events) }
            for case .book(let u) in events {
                sync.handle(u, into: &outcomes)
                if u.isSnapshot, case .snapshot(let id) = u.sequence {
                    snapshotID = id
                    applyRef(u)
                    for p in pending { if case .range(_, let last) = p.sequence, last > id { applyRef(p) } }
                } else if snapshotID == 0 {
                    pending.append(u)
                } else if case .range(_, let last) = u.sequence, last > snapshotID {
                    applyRef(u)
                }
            }
        }
        #expect(sync.isValid)
        for side in [Side.buy, .sell] {
            let ours = sync.book.levels(side)
            let theirs = reference[side]!.sorted { side == .buy ? $0.key > $1.key : $0.key < $1.key }
            #expect(ours.count == theirs.count)
            #expect(ours.map(\.price) == theirs.map(\.key))
            #expect(ours.map(\.quantity) == theirs.map(\.value))
        }
    }
}

@Suite("SnapshotScheduler")
struct SnapshotSchedulerTests {
    @Test func snapshotsTheLastBoundaryCrossedShowingTheBookBeforeTheUpdate() {
        var book = OrderBook(instrument: btc)
        book.apply(bids: [level("100", "1")], asks: [level("101", "1")])
        var s = SnapshotScheduler(interval: 1_000_000_000, depth: 5)
        #expect(s.beforeUpdate(at: UnixNanos(500_000_000), book: book, valid: true) == nil)  // starts the schedule
        #expect(s.beforeUpdate(at: UnixNanos(999_999_999), book: book, valid: true) == nil)
        // An update at 3.2 s crosses boundaries 1, 2 and 3: one snapshot, stamped 3 s.
        let snap = s.beforeUpdate(at: UnixNanos(3_200_000_000), book: book, valid: true)
        #expect(snap?.time == UnixNanos(3_000_000_000) && snap?.bids == [level("100", "1")] && snap?.valid == true)
        #expect(snap?.mid?.description == "100.5" && snap?.spread?.description == "1")
        // Unchanged top-N: nothing at the next boundary.
        #expect(s.beforeUpdate(at: UnixNanos(4_000_000_000), book: book, valid: true) == nil)
        book.update(.buy, level("100", "2"))
        // Invalid book: nothing, even though it changed.
        #expect(s.beforeUpdate(at: UnixNanos(5_000_000_000), book: book, valid: false) == nil)
        #expect(s.beforeUpdate(at: UnixNanos(6_000_000_001), book: book, valid: true)?.time == UnixNanos(6_000_000_000))
    }
}

@Suite("MarketNormalizer trades")
struct NormalizerTradeTests {
    func trade(_ id: Int64, at ms: Int64, stream: TradeStream = .raw, instrument: Instrument = btc) -> VenueEvent {
        .trade(Trade(instrument: instrument, id: .number(id), price: FixedDecimal("10")!, quantity: FixedDecimal("1")!, side: .buy,
                     eventTime: .milliseconds(ms), receiveTime: .milliseconds(ms), stream: stream))
    }

    func run(_ n: inout MarketNormalizer, _ events: [VenueEvent]) -> [MarketEvent] {
        var out: [MarketEvent] = []
        for e in events { n.handle(e, receiveTime: UnixNanos(0), into: &out) }
        return out
    }

    @Test func duplicatesArePublishedOnceAndIdJumpsAreGaps() {
        var n = MarketNormalizer(venue: .binance, tradeIDsAreContiguous: true)
        let out = run(&n, [trade(1, at: 1), trade(2, at: 2), trade(2, at: 2), trade(1, at: 1), trade(5, at: 3)])
        let trades = out.compactMap { if case .trade(let t) = $0 { t.id } else { nil } }
        #expect(trades == [.number(1), .number(2), .number(5)])
        let gaps = out.compactMap { if case .status(let s) = $0, s.kind.name == "gap" { s.detail } else { nil } }
        #expect(gaps == ["trade ids 3...4 missing (2)"])
        #expect(n.counters.duplicateTrades == 2 && n.counters.tradeGaps == 1)
    }

    @Test func rawTradesWinOverAggregatedOnes() {
        var n = MarketNormalizer(venue: .binance, tradeIDsAreContiguous: true)
        let out = run(&n, [trade(100, at: 1, stream: .aggregated), trade(7, at: 2, stream: .raw), trade(101, at: 3, stream: .aggregated), trade(8, at: 4)])
        let ids = out.compactMap { if case .trade(let t) = $0 { t.id } else { nil } }
        #expect(ids == [.number(100), .number(7), .number(8)])
        #expect(n.counters.tradeGaps == 0)
    }

    /// Coinbase Exchange level2 has no sequence numbers: a trade-id gap invalidates the book.
    @Test func aTradeGapInvalidatesAnUnsequencedBook() {
        let cb = Instrument(venue: .coinbase, base: "BTC", quote: "USD", nativeSymbol: "BTC-USD")
        var n = MarketNormalizer(venue: .coinbase, tradeIDsAreContiguous: true)
        let snapshot = BookUpdate(instrument: cb, isSnapshot: true, bids: [level("1", "1")], asks: [level("2", "1")],
                                  sequence: .unsequenced, rule: .unsequenced, eventTime: UnixNanos(0), receiveTime: UnixNanos(0), timeSource: .receive)
        let out = run(&n, [.book(snapshot), trade(10, at: 1, instrument: cb), trade(12, at: 2, instrument: cb)])
        let events = out.compactMap { if case .status(let s) = $0 { s.kind.name } else { nil } }
        #expect(events == ["synced", "gap", "gap", "resync"])
        // The trade ids' gap first, then the book's, which the bus and the market view tell apart.
        let gaps = out.compactMap { if case .status(let s) = $0, case .gap(let g) = s.kind { g } else { nil } }
        #expect(gaps == [.tradeIDs, .book])
        #expect(n.synchronizer(for: cb)?.isValid == false)
    }
}
