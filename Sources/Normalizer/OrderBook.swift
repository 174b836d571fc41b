public import MarketCore

/// A full L2 order book for one instrument.
///
/// Each side (``BookSide``) is a price ladder around the best, one slot per tick, in front of a
/// sorted list of small sorted chunks (a two-level B-tree, **best level last**) for the levels far
/// from the best or finer than the tick. On the real BTCUSDT stream the book grows to 2,000–3,000
/// levels a side and updates land ~100–235 levels behind the best: a single sorted array pays a
/// long memmove for every insert or remove, chunks still pay a cache-missing search per level, and
/// the ladder pays neither; measured on that stream in BENCHMARKS.md (`book/apply`, `book/apply/alt/*`).
///
/// - Complexity: update O(1) in the ladder, O(log n + chunk size) in the chunks; best level O(1)
///   (a scan down the ladder when the best is removed); top-N O(N + empty slots skipped).
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

/// A price as one 128-bit integer in a side's storage order: `±mantissa × 10^(18 − scale)` (negated
/// on the ask side, whose storage order is descending). Every scale compares as one integer, with
/// no cross-scale branch, and |mantissa| < 2⁶³ times 10¹⁸ < 2⁶⁰ always fits.
struct PriceKey: Sendable, Equatable {
    var high: Int64
    var low: UInt64

    @inline(__always)
    init(_ price: FixedDecimal, negated: Bool) {
        let m = negated ? 0 &- price.mantissa : price.mantissa
        let wide = m.multipliedFullWidth(by: Pow10.int64(Int(FixedDecimal.maxScale &- price.scale)))
        high = wide.high
        low = wide.low
    }

    /// The sign of the 128-bit difference, without branches: `high` stays within ±2⁵⁹, so the
    /// subtraction of the high words cannot overflow.
    @inline(__always)
    static func < (a: PriceKey, b: PriceKey) -> Bool {
        let borrow: Int64 = a.low < b.low ? 1 : 0
        return a.high &- b.high &- borrow < 0
    }
}

/// The levels of a side that its price window does not hold (or all of them): sorted chunks of at most `2 × leaf` levels in storage order (ascending for
/// bids, descending for asks), best chunk last and best level last inside it; never an empty chunk.
///
/// Each chunk keeps its levels' ``PriceKey``s beside them, and the side keeps each chunk's first
/// key in one array. A search counts the keys below the target in one branch-free pass: on the real
/// BTCUSDT stream the classic binary search mispredicted about every other step and cost half of
/// the book's time (BENCHMARKS.md).
struct ChunkedSide: Sendable {
    static let leaf = 32

    struct Chunk: Sendable {
        var keys: ContiguousArray<PriceKey>
        var levels: ContiguousArray<BookLevel>

        init<S: Sequence>(_ entries: S) where S.Element == (PriceKey, BookLevel) {
            keys = []
            levels = []
            keys.reserveCapacity(2 * ChunkedSide.leaf + 1)
            levels.reserveCapacity(2 * ChunkedSide.leaf + 1)
            for (k, l) in entries {
                keys.append(k)
                levels.append(l)
            }
        }
    }

    var chunks: ContiguousArray<Chunk> = []
    /// `firsts[c] == chunks[c].keys[0]`.
    var firsts: ContiguousArray<PriceKey> = []
    let ascending: Bool
    private(set) var count = 0

    init(ascending: Bool) {
        self.ascending = ascending
    }

    @inline(__always)
    func key(_ price: FixedDecimal) -> PriceKey { PriceKey(price, negated: !ascending) }

    var best: BookLevel? { chunks.last?.levels.last }
    var worst: BookLevel? { chunks.first?.levels.first }

    mutating func load(_ levels: [BookLevel]) {
        // Stable sort so that, for a price listed twice, the later entry wins (as sequential updates would).
        let sorted = levels.enumerated().map { (key($0.element.price), $0.offset, $0.element) }.sorted { x, y in
            x.0 == y.0 ? x.1 < y.1 : x.0 < y.0
        }
        var deduplicated: [(PriceKey, BookLevel)] = []
        deduplicated.reserveCapacity(sorted.count)
        for (k, _, level) in sorted {
            if let last = deduplicated.last, last.0 == k { deduplicated.removeLast() }
            deduplicated.append((k, level))
        }
        deduplicated.removeAll { $0.1.quantity.isZero }
        chunks.removeAll(keepingCapacity: true)
        firsts.removeAll(keepingCapacity: true)
        var i = 0
        while i < deduplicated.count {
            let end = min(i + Self.leaf, deduplicated.count)
            chunks.append(Chunk(deduplicated[i..<end]))
            firsts.append(deduplicated[i].0)
            i = end
        }
        count = deduplicated.count
    }

    /// Chunk index and position of the key, or where it would be inserted.
    func locate(_ k: PriceKey) -> (chunk: Int, index: Int, found: Bool) {
        // The last chunk whose first key is not after `k` (or chunk 0).
        let ci = firsts.withUnsafeBufferPointer { f in
            var lo = 0
            var hi = f.count
            while lo < hi {
                let mid = (lo &+ hi) >> 1
                if k < f[mid] { hi = mid } else { lo = mid &+ 1 }
            }
            return max(lo &- 1, 0)
        }
        return chunks[ci].keys.withUnsafeBufferPointer { keys in
            // The first key not before `k`, by halving with a conditional move.
            var base = 0
            var n = keys.count
            while n > 1 {
                let half = n >> 1
                base = keys[base &+ half] < k ? base &+ half : base
                n &-= half
            }
            if keys[base] < k { base &+= 1 }
            return (ci, base, base < keys.count && keys[base] == k)
        }
    }

    mutating func update(_ level: BookLevel) {
        let k = key(level.price)
        guard !chunks.isEmpty else {
            if !level.quantity.isZero {
                chunks.append(Chunk(CollectionOfOne((k, level))))
                firsts.append(k)
                count = 1
            }
            return
        }
        // Fast path: the best level itself, the commonest single place.
        let last = chunks.count - 1
        if chunks[last].keys.last == k {
            if level.quantity.isZero {
                chunks[last].keys.removeLast()
                chunks[last].levels.removeLast()
                count -= 1
                if chunks[last].keys.isEmpty {
                    chunks.removeLast()
                    firsts.removeLast()
                }
            } else {
                chunks[last].levels[chunks[last].levels.count - 1].quantity = level.quantity
            }
            return
        }
        let (ci, i, found) = locate(k)
        if found {
            if level.quantity.isZero {
                chunks[ci].keys.remove(at: i)
                chunks[ci].levels.remove(at: i)
                count -= 1
                if chunks[ci].keys.isEmpty {
                    chunks.remove(at: ci)
                    firsts.remove(at: ci)
                } else if i == 0 {
                    firsts[ci] = chunks[ci].keys[0]
                }
            } else {
                chunks[ci].levels[i].quantity = level.quantity
            }
        } else if !level.quantity.isZero {
            chunks[ci].keys.insert(k, at: i)
            chunks[ci].levels.insert(level, at: i)
            if i == 0 { firsts[ci] = k }
            count += 1
            if chunks[ci].keys.count > 2 * Self.leaf {
                // Split in two; the new chunk takes the upper half (storage order).
                let upper = Chunk(zip(chunks[ci].keys[Self.leaf...], chunks[ci].levels[Self.leaf...]))
                chunks[ci].keys.removeSubrange(Self.leaf...)
                chunks[ci].levels.removeSubrange(Self.leaf...)
                chunks.insert(upper, at: ci + 1)
                firsts.insert(upper.keys[0], at: ci + 1)
            }
        }
    }

    func quantity(at price: FixedDecimal) -> FixedDecimal? {
        guard !chunks.isEmpty else { return nil }
        let (ci, i, found) = locate(key(price))
        return found ? chunks[ci].levels[i].quantity : nil
    }

    /// Keeps the best `depth` levels (drops from the worst end).
    mutating func truncate(_ depth: Int) {
        var excess = count - max(depth, 0)
        guard excess > 0 else { return }
        count -= excess
        while excess > 0, !chunks.isEmpty {
            if chunks[0].keys.count <= excess {
                excess -= chunks[0].keys.count
                chunks.removeFirst()
                firsts.removeFirst()
            } else {
                chunks[0].keys.removeFirst(excess)
                chunks[0].levels.removeFirst(excess)
                firsts[0] = chunks[0].keys[0]
                excess = 0
            }
        }
    }

    func bestFirst(limit: Int) -> [BookLevel] {
        var out: [BookLevel] = []
        out.reserveCapacity(min(limit, count))
        var c = chunks.count - 1
        while c >= 0, out.count < limit {
            let levels = chunks[c].levels
            var i = levels.count - 1
            while i >= 0, out.count < limit {
                out.append(levels[i])
                i -= 1
            }
            c -= 1
        }
        return out
    }
}
