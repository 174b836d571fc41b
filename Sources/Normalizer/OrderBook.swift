public import MarketCore

/// A full L2 order book for one instrument.
///
/// Each side is a sorted list of small sorted chunks (a two-level B-tree), ordered so that the
/// **best level is last** (bids ascending, asks descending). On the real BTCUSDT stream the book
/// grows to 2,000–3,000 levels a side and updates land ~100–235 levels behind the best: a single
/// sorted array then pays a long memmove for every insert or remove and a cache-missing binary
/// search over the whole side. Chunks bound the memmove to one chunk and keep each search short;
/// measured on that stream in BENCHMARKS.md (`book/apply`, `book/apply/alt/*`).
///
/// - Complexity: update O(log n + chunk size); best level O(1); top-N O(N).
public struct OrderBook: Sendable {
    public let instrument: Instrument
    var bids = BookSide(ascending: true)
    var asks = BookSide(ascending: false)

    public init(instrument: Instrument) {
        self.instrument = instrument
    }

    public var bidCount: Int { bids.count }
    public var askCount: Int { asks.count }
    public var isEmpty: Bool { bids.count == 0 && asks.count == 0 }
    public var bestBid: BookLevel? { bids.best }
    public var bestAsk: BookLevel? { asks.best }

    /// True when the best bid is at or above the best ask: the book cannot be right.
    public var isCrossed: Bool {
        guard let b = bids.best, let a = asks.best else { return false }
        return !(b.price < a.price)
    }

    /// Removes every level.
    public mutating func clear() {
        bids.load([])
        asks.load([])
    }

    /// Replaces the book with a snapshot (levels in any order; zero quantities ignored; for a
    /// price listed twice the later entry wins).
    /// - Complexity: O(n log n).
    public mutating func replace(bids newBids: [BookLevel], asks newAsks: [BookLevel]) {
        bids.load(newBids)
        asks.load(newAsks)
    }

    /// Applies one level: a zero quantity removes the price, anything else sets it.
    public mutating func update(_ side: Side, _ level: BookLevel) {
        if side == .buy { bids.update(level) } else { asks.update(level) }
    }

    /// Applies a batch of bid and ask levels.
    public mutating func apply(bids b: [BookLevel], asks a: [BookLevel]) {
        for l in b { bids.update(l) }
        for l in a { asks.update(l) }
    }

    /// Drops levels beyond the best `depth` on each side (venues that maintain a fixed depth, e.g. Kraken).
    public mutating func truncate(depth: Int) {
        bids.truncate(depth)
        asks.truncate(depth)
    }

    /// The quantity at `price` on `side`, if the level exists.
    public func quantity(_ side: Side, at price: FixedDecimal) -> FixedDecimal? {
        (side == .buy ? bids : asks).quantity(at: price)
    }

    /// The best `n` levels of each side, best first.
    public func top(_ n: Int) -> (bids: [BookLevel], asks: [BookLevel]) {
        (bids.bestFirst(limit: n), asks.bestFirst(limit: n))
    }

    /// All levels of a side, best first (tests and cold paths).
    public func levels(_ side: Side) -> [BookLevel] {
        (side == .buy ? bids : asks).bestFirst(limit: Int.max)
    }
}

/// One side of a book: sorted chunks of at most `2 × leaf` levels in storage order (ascending for
/// bids, descending for asks), best chunk last and best level last inside it; never an empty chunk.
struct BookSide: Sendable {
    static let leaf = 32

    var chunks: ContiguousArray<ContiguousArray<BookLevel>> = []
    let ascending: Bool
    private(set) var count = 0

    init(ascending: Bool) {
        self.ascending = ascending
    }

    /// `a` comes before `b` in storage order.
    @inline(__always)
    func before(_ a: FixedDecimal, _ b: FixedDecimal) -> Bool { ascending ? a < b : b < a }

    var best: BookLevel? { chunks.last?.last }

    static func newChunk<S: Sequence>(_ levels: S) -> ContiguousArray<BookLevel> where S.Element == BookLevel {
        var c = ContiguousArray<BookLevel>()
        c.reserveCapacity(2 * leaf + 1)
        c.append(contentsOf: levels)
        return c
    }

    mutating func load(_ levels: [BookLevel]) {
        // Stable sort so that, for a price listed twice, the later entry wins (as sequential updates would).
        let sorted = levels.enumerated().sorted { x, y in
            if x.element.price == y.element.price { return x.offset < y.offset }
            return before(x.element.price, y.element.price)
        }
        var deduplicated: [BookLevel] = []
        deduplicated.reserveCapacity(sorted.count)
        for (_, level) in sorted {
            if let last = deduplicated.last, last.price == level.price { deduplicated.removeLast() }
            deduplicated.append(level)
        }
        deduplicated.removeAll { $0.quantity.isZero }
        chunks.removeAll(keepingCapacity: true)
        var i = 0
        while i < deduplicated.count {
            let end = min(i + Self.leaf, deduplicated.count)
            chunks.append(Self.newChunk(deduplicated[i..<end]))
            i = end
        }
        count = deduplicated.count
    }

    /// Chunk index and position of `price`, or where it would be inserted.
    func locate(_ price: FixedDecimal) -> (chunk: Int, index: Int, found: Bool) {
        // The last chunk whose first level is not after `price` (or chunk 0).
        var lo = 0
        var hi = chunks.count
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if before(price, chunks[mid][0].price) { hi = mid } else { lo = mid &+ 1 }
        }
        let ci = max(lo - 1, 0)
        return chunks[ci].withUnsafeBufferPointer { buf in
            var a = 0
            var b = buf.count
            while a < b {
                let mid = (a &+ b) >> 1
                let p = buf[mid].price
                if p == price { return (ci, mid, true) }
                if before(p, price) { a = mid &+ 1 } else { b = mid }
            }
            return (ci, a, false)
        }
    }

    mutating func update(_ level: BookLevel) {
        guard !chunks.isEmpty else {
            if !level.quantity.isZero {
                chunks.append(Self.newChunk(CollectionOfOne(level)))
                count = 1
            }
            return
        }
        // Fast path: the best level itself, the commonest single place.
        let last = chunks.count - 1
        if let top = chunks[last].last, top.price == level.price {
            if level.quantity.isZero {
                chunks[last].removeLast()
                count -= 1
                if chunks[last].isEmpty { chunks.removeLast() }
            } else {
                let j = chunks[last].count - 1
                chunks[last][j].quantity = level.quantity
            }
            return
        }
        let (ci, i, found) = locate(level.price)
        if found {
            if level.quantity.isZero {
                chunks[ci].remove(at: i)
                count -= 1
                if chunks[ci].isEmpty { chunks.remove(at: ci) }
            } else {
                chunks[ci][i].quantity = level.quantity
            }
        } else if !level.quantity.isZero {
            chunks[ci].insert(level, at: i)
            count += 1
            if chunks[ci].count > 2 * Self.leaf {
                // Split in two; the new chunk takes the upper half (storage order).
                let upper = Self.newChunk(chunks[ci][Self.leaf...])
                chunks[ci].removeSubrange(Self.leaf...)
                chunks.insert(upper, at: ci + 1)
            }
        }
    }

    func quantity(at price: FixedDecimal) -> FixedDecimal? {
        guard !chunks.isEmpty else { return nil }
        let (ci, i, found) = locate(price)
        return found ? chunks[ci][i].quantity : nil
    }

    /// Keeps the best `depth` levels (drops from the worst end).
    mutating func truncate(_ depth: Int) {
        var excess = count - max(depth, 0)
        guard excess > 0 else { return }
        count -= excess
        while excess > 0, !chunks.isEmpty {
            if chunks[0].count <= excess {
                excess -= chunks[0].count
                chunks.removeFirst()
            } else {
                chunks[0].removeFirst(excess)
                excess = 0
            }
        }
    }

    func bestFirst(limit: Int) -> [BookLevel] {
        var out: [BookLevel] = []
        out.reserveCapacity(min(limit, count))
        var c = chunks.count - 1
        while c >= 0, out.count < limit {
            let chunk = chunks[c]
            var i = chunk.count - 1
            while i >= 0, out.count < limit {
                out.append(chunk[i])
                i -= 1
            }
            c -= 1
        }
        return out
    }
}
