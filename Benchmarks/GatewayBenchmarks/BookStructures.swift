import MarketCore
import Normalizer

/// The operations `book/apply` needs, so the library's ``OrderBook`` and the alternative structures
/// below run through the same generic (specialised) loop on the same real stream.
protocol BookStructure {
    /// A book holding exactly the snapshot's levels. Built outside the timed region.
    init(snapshot: BookUpdate)
    /// Applies one diff's levels (zero quantity removes).
    mutating func apply(bids: [BookLevel], asks: [BookLevel])
    var bestBid: BookLevel? { get }
    var bestAsk: BookLevel? { get }
    /// All levels of a side, best first (for the correctness check only).
    func levels(_ side: Side) -> [BookLevel]
}

extension OrderBook: BookStructure {
    /// Loaded with ``OrderBook/replace(bids:asks:)``, as the synchronizer loads a REST snapshot
    /// (which also places the price ladder).
    init(snapshot: BookUpdate) {
        self.init(instrument: snapshot.instrument)
        replace(bids: snapshot.bids, asks: snapshot.asks)
    }
}

// MARK: - Alternative 1: sorted arrays, best level FIRST

/// The same sorted `ContiguousArray` + binary search as ``OrderBook``, but with the best level at
/// index 0 (the "natural" orientation). Every insert or remove near the top then moves the whole
/// side, which is what the library's best-last orientation avoids.
struct BestFirstArrayBook: BookStructure {
    /// Descending by price; best bid first.
    var bids: ContiguousArray<BookLevel> = []
    /// Ascending by price; best ask first.
    var asks: ContiguousArray<BookLevel> = []

    init(snapshot: BookUpdate) {
        bids = ContiguousArray(snapshot.bids.filter { !$0.quantity.isZero }.sorted { $1.price < $0.price })
        asks = ContiguousArray(snapshot.asks.filter { !$0.quantity.isZero }.sorted { $0.price < $1.price })
    }

    mutating func apply(bids b: [BookLevel], asks a: [BookLevel]) {
        for l in b { Self.upsert(&bids, l, descending: true) }
        for l in a { Self.upsert(&asks, l, descending: false) }
    }

    var bestBid: BookLevel? { bids.first }
    var bestAsk: BookLevel? { asks.first }

    func levels(_ side: Side) -> [BookLevel] { Array(side == .buy ? bids : asks) }

    static func upsert(_ side: inout ContiguousArray<BookLevel>, _ level: BookLevel, descending: Bool) {
        var lo = 0
        var hi = side.count
        var found = false
        side.withUnsafeBufferPointer { buf in
            while lo < hi {
                let mid = (lo &+ hi) >> 1
                let p = buf[mid].price
                if p == level.price {
                    lo = mid
                    found = true
                    return
                }
                if descending ? (level.price < p) : (p < level.price) { lo = mid &+ 1 } else { hi = mid }
            }
        }
        if found {
            if level.quantity.isZero { side.remove(at: lo) } else { side[lo].quantity = level.quantity }
        } else if !level.quantity.isZero {
            side.insert(level, at: lo)
        }
    }
}

// MARK: - Alternative 2: dictionary + sorted keys

/// A hash map price → quantity per side (O(1) quantity updates, the commonest diff), plus a sorted
/// key array (best last) for ordered depth, touched only when a price appears or disappears.
struct DictionaryBook: BookStructure {
    struct SideBook {
        var quantities: [FixedDecimal: FixedDecimal] = [:]
        /// Ascending for bids, descending for asks: best last.
        var prices: ContiguousArray<FixedDecimal> = []
        let ascending: Bool

        init(ascending: Bool, levels: [BookLevel]) {
            self.ascending = ascending
            let live = levels.filter { !$0.quantity.isZero }
            quantities.reserveCapacity(live.count * 2)
            for l in live { quantities[l.price] = l.quantity }
            prices = ContiguousArray(quantities.keys.sorted { ascending ? $0 < $1 : $1 < $0 })
        }

        mutating func update(_ level: BookLevel) {
            if level.quantity.isZero {
                guard quantities.removeValue(forKey: level.price) != nil else { return }
                let (i, _) = search(level.price)
                prices.remove(at: i)
            } else if quantities.updateValue(level.quantity, forKey: level.price) == nil {
                let (i, _) = search(level.price)
                prices.insert(level.price, at: i)
            }
        }

        func search(_ price: FixedDecimal) -> (Int, Bool) {
            var lo = 0
            var hi = prices.count
            return prices.withUnsafeBufferPointer { buf in
                while lo < hi {
                    let mid = (lo &+ hi) >> 1
                    let p = buf[mid]
                    if p == price { return (mid, true) }
                    if ascending ? (p < price) : (price < p) { lo = mid &+ 1 } else { hi = mid }
                }
                return (lo, false)
            }
        }

        var best: BookLevel? {
            guard let p = prices.last, let q = quantities[p] else { return nil }
            return BookLevel(price: p, quantity: q)
        }

        var levelsBestFirst: [BookLevel] { prices.reversed().map { BookLevel(price: $0, quantity: quantities[$0]!) } }
    }

    var bids: SideBook
    var asks: SideBook

    init(snapshot: BookUpdate) {
        bids = SideBook(ascending: true, levels: snapshot.bids)
        asks = SideBook(ascending: false, levels: snapshot.asks)
    }

    mutating func apply(bids b: [BookLevel], asks a: [BookLevel]) {
        for l in b { bids.update(l) }
        for l in a { asks.update(l) }
    }

    var bestBid: BookLevel? { bids.best }
    var bestAsk: BookLevel? { asks.best }
    func levels(_ side: Side) -> [BookLevel] { side == .buy ? bids.levelsBestFirst : asks.levelsBestFirst }
}

// MARK: - Alternative 3: chunked sorted array (a two-level B-tree)

/// Each side is a sorted list of leaf chunks of at most `2 × leaf` levels (best chunk last, best
/// level last inside it); a binary search over the chunks' lowest keys, then inside one chunk. An
/// insert or remove moves at most one chunk's levels, so deep inserts cost O(log n + leaf) instead
/// of O(n) — the usual answer to "sorted arrays do not scale".
struct ChunkedBook: BookStructure {
    static let leaf = 32

    struct SideBook {
        /// In storage order (ascending for bids, descending for asks); never empty chunks.
        var chunks: ContiguousArray<ContiguousArray<BookLevel>> = []
        let ascending: Bool

        init(ascending: Bool, levels: [BookLevel]) {
            self.ascending = ascending
            let sorted = levels.filter { !$0.quantity.isZero }.sorted { ascending ? $0.price < $1.price : $1.price < $0.price }
            var i = 0
            while i < sorted.count {
                let end = min(i + ChunkedBook.leaf, sorted.count)
                var c = ContiguousArray<BookLevel>(sorted[i..<end])
                c.reserveCapacity(2 * ChunkedBook.leaf + 1)
                chunks.append(c)
                i = end
            }
        }

        @inline(__always)
        func before(_ a: FixedDecimal, _ b: FixedDecimal) -> Bool { ascending ? a < b : b < a }

        mutating func update(_ level: BookLevel) {
            if chunks.isEmpty {
                guard !level.quantity.isZero else { return }
                var c = ContiguousArray<BookLevel>()
                c.reserveCapacity(2 * ChunkedBook.leaf + 1)
                c.append(level)
                chunks.append(c)
                return
            }
            // Last chunk whose first key is not after the price (or chunk 0).
            var lo = 0
            var hi = chunks.count
            while lo < hi {
                let mid = (lo &+ hi) >> 1
                if before(level.price, chunks[mid][0].price) { hi = mid } else { lo = mid &+ 1 }
            }
            let ci = max(lo - 1, 0)
            // Binary search inside the chunk.
            var a = 0
            var b = chunks[ci].count
            var found = false
            chunks[ci].withUnsafeBufferPointer { buf in
                while a < b {
                    let mid = (a &+ b) >> 1
                    let p = buf[mid].price
                    if p == level.price {
                        a = mid
                        found = true
                        return
                    }
                    if before(p, level.price) { a = mid &+ 1 } else { b = mid }
                }
            }
            if found {
                if level.quantity.isZero {
                    chunks[ci].remove(at: a)
                    if chunks[ci].isEmpty { chunks.remove(at: ci) }
                } else {
                    chunks[ci][a].quantity = level.quantity
                }
            } else if !level.quantity.isZero {
                chunks[ci].insert(level, at: a)
                if chunks[ci].count > 2 * ChunkedBook.leaf {
                    // Split in two halves; the new chunk keeps the upper half in storage order.
                    var upper = ContiguousArray<BookLevel>(chunks[ci][ChunkedBook.leaf...])
                    upper.reserveCapacity(2 * ChunkedBook.leaf + 1)
                    chunks[ci].removeSubrange(ChunkedBook.leaf...)
                    chunks.insert(upper, at: ci + 1)
                }
            }
        }

        var best: BookLevel? { chunks.last?.last }
        var levelsBestFirst: [BookLevel] { chunks.reversed().flatMap { $0.reversed() } }
    }

    var bids: SideBook
    var asks: SideBook

    init(snapshot: BookUpdate) {
        bids = SideBook(ascending: true, levels: snapshot.bids)
        asks = SideBook(ascending: false, levels: snapshot.asks)
    }

    mutating func apply(bids b: [BookLevel], asks a: [BookLevel]) {
        for l in b { bids.update(l) }
        for l in a { asks.update(l) }
    }

    var bestBid: BookLevel? { bids.best }
    var bestAsk: BookLevel? { asks.best }
    func levels(_ side: Side) -> [BookLevel] { side == .buy ? bids.levelsBestFirst : asks.levelsBestFirst }
}

// MARK: - Alternative 4: sorted arrays, best last, searched on Int64 keys

/// The library's layout (sorted, best last, binary search) with one change: the search runs over
/// a parallel array of `Int64` keys, the price at one fixed scale (asks negated, so both sides are
/// ascending), instead of over 32-byte `BookLevel`s compared as `FixedDecimal` (whose `<` widens
/// to `Int128` and reads `Pow10.int64` whenever the two canonical scales differ — `61837.6` vs
/// `61837.63` — which on this stream is most comparisons). Keys are 8 bytes, so a 3,000-level side's
/// keys fit in 24 KB of L1.
struct Int64KeyBook: BookStructure {
    /// Binance spot prices carry at most 8 fraction digits.
    static let keyScale = 8

    @inline(__always)
    static func pow10(_ e: Int) -> Int64 {
        switch e {
        case 0: 1
        case 1: 10
        case 2: 100
        case 3: 1_000
        case 4: 10_000
        case 5: 100_000
        case 6: 1_000_000
        case 7: 10_000_000
        default: 100_000_000
        }
    }

    struct SideBook {
        /// Ascending; best last. Bids: price × 10⁸; asks: −price × 10⁸.
        var keys: ContiguousArray<Int64> = []
        /// The levels, in the same order as `keys`.
        var levels: ContiguousArray<BookLevel> = []
        let negate: Bool

        init(negate: Bool, levels input: [BookLevel]) {
            self.negate = negate
            let live = input.filter { !$0.quantity.isZero }.map { (key: 0 as Int64, level: $0) }
            var keyed = live
            for i in keyed.indices { keyed[i].key = Self.key(keyed[i].level.price, negate: negate) }
            keyed.sort { $0.key < $1.key }
            keys = ContiguousArray(keyed.map(\.key))
            levels = ContiguousArray(keyed.map(\.level))
        }

        @inline(__always)
        static func key(_ p: FixedDecimal, negate: Bool) -> Int64 {
            let s = Int(p.scale)
            precondition(s <= Int64KeyBook.keyScale, "price finer than the key scale")
            let k = p.mantissa &* Int64KeyBook.pow10(Int64KeyBook.keyScale &- s)
            return negate ? 0 &- k : k
        }

        mutating func update(_ level: BookLevel) {
            let key = Self.key(level.price, negate: negate)
            let n = keys.count
            // Fast path: the best level.
            if n > 0, keys[n - 1] == key {
                if level.quantity.isZero {
                    keys.removeLast()
                    levels.removeLast()
                } else {
                    levels[n - 1].quantity = level.quantity
                }
                return
            }
            // Lower bound: first index with keys[i] >= key.
            let i = keys.withUnsafeBufferPointer { k -> Int in
                var first = 0
                var count = k.count
                while count > 0 {
                    let step = count >> 1
                    let mid = first &+ step
                    if k[mid] < key {
                        first = mid &+ 1
                        count &-= step &+ 1
                    } else {
                        count = step
                    }
                }
                return first
            }
            if i < n, keys[i] == key {
                if level.quantity.isZero {
                    keys.remove(at: i)
                    levels.remove(at: i)
                } else {
                    levels[i].quantity = level.quantity
                }
            } else if !level.quantity.isZero {
                keys.insert(key, at: i)
                levels.insert(level, at: i)
            }
        }

        var best: BookLevel? { levels.last }
        var levelsBestFirst: [BookLevel] { Array(levels.reversed()) }
    }

    var bids: SideBook
    var asks: SideBook

    init(snapshot: BookUpdate) {
        bids = SideBook(negate: false, levels: snapshot.bids)
        asks = SideBook(negate: true, levels: snapshot.asks)
    }

    mutating func apply(bids b: [BookLevel], asks a: [BookLevel]) {
        for l in b { bids.update(l) }
        for l in a { asks.update(l) }
    }

    var bestBid: BookLevel? { bids.best }
    var bestAsk: BookLevel? { asks.best }
    func levels(_ side: Side) -> [BookLevel] { side == .buy ? bids.levelsBestFirst : asks.levelsBestFirst }
}
