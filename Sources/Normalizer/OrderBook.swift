public import MarketCore

/// A full L2 order book for one instrument: price levels kept sorted in contiguous arrays.
///
/// Each side is ordered so that its **best level is last** (bids ascending, asks descending):
/// an insert or remove moves only the levels between it and the best. On the real BTCUSDT stream
/// updates land ~100–235 levels behind the best in a book of 2,000–3,000 levels, and this layout is
/// 4× faster than best-first and ahead of a dictionary with sorted keys (BENCHMARKS.md, `book/apply`);
/// a chunked layout with integer keys is the measured next step.
///
/// - Complexity: lookup O(log n); insert/remove O(distance from the best level).
public struct OrderBook: Sendable {
    public let instrument: Instrument
    /// Ascending by price; best bid last.
    @usableFromInline var bids: ContiguousArray<BookLevel> = []
    /// Descending by price; best ask last.
    @usableFromInline var asks: ContiguousArray<BookLevel> = []

    public init(instrument: Instrument) {
        self.instrument = instrument
    }

    public var bidCount: Int { bids.count }
    public var askCount: Int { asks.count }
    public var isEmpty: Bool { bids.isEmpty && asks.isEmpty }
    public var bestBid: BookLevel? { bids.last }
    public var bestAsk: BookLevel? { asks.last }

    /// True when the best bid is at or above the best ask: the book cannot be right.
    public var isCrossed: Bool {
        guard let b = bids.last, let a = asks.last else { return false }
        return !(b.price < a.price)
    }

    /// Removes every level.
    public mutating func clear() {
        bids.removeAll(keepingCapacity: true)
        asks.removeAll(keepingCapacity: true)
    }

    /// Replaces the book with a snapshot (levels in any order; zero quantities ignored).
    /// - Complexity: O(n log n). (Inserting a best-first snapshot level by level into best-last
    ///   arrays would be O(n²): every insert at the front moves the whole side.)
    public mutating func replace(bids newBids: [BookLevel], asks newAsks: [BookLevel]) {
        Self.load(&bids, newBids, ascending: true)
        Self.load(&asks, newAsks, ascending: false)
    }

    static func load(_ side: inout ContiguousArray<BookLevel>, _ levels: [BookLevel], ascending: Bool) {
        side.removeAll(keepingCapacity: true)
        side.reserveCapacity(levels.count)
        // Stable sort so that, for a price listed twice, the later entry wins (as sequential updates would).
        let sorted = levels.enumerated().sorted { x, y in
            if x.element.price == y.element.price { return x.offset < y.offset }
            return ascending ? x.element.price < y.element.price : y.element.price < x.element.price
        }
        for (_, level) in sorted {
            if let last = side.last, last.price == level.price { side.removeLast() }
            side.append(level)
        }
        side.removeAll { $0.quantity.isZero }
    }

    /// Applies one level: a zero quantity removes the price, anything else sets it.
    @inlinable
    public mutating func update(_ side: Side, _ level: BookLevel) {
        if side == .buy {
            Self.upsert(&bids, level, ascending: true)
        } else {
            Self.upsert(&asks, level, ascending: false)
        }
    }

    /// Applies a batch of bid and ask levels.
    @inlinable
    public mutating func apply(bids b: [BookLevel], asks a: [BookLevel]) {
        for l in b { Self.upsert(&bids, l, ascending: true) }
        for l in a { Self.upsert(&asks, l, ascending: false) }
    }

    @inlinable
    static func upsert(_ side: inout ContiguousArray<BookLevel>, _ level: BookLevel, ascending: Bool) {
        // Fast path: updates at the best level, the commonest case.
        let n = side.count
        if n > 0, side[n - 1].price == level.price {
            if level.quantity.isZero { side.removeLast() } else { side[n - 1].quantity = level.quantity }
            return
        }
        let (index, found) = search(side, level.price, ascending: ascending)
        if found {
            if level.quantity.isZero {
                side.remove(at: index)
            } else {
                side[index].quantity = level.quantity
            }
        } else if !level.quantity.isZero {
            side.insert(level, at: index)
        }
    }

    /// Binary search for `price`; returns the index where it is or would be inserted.
    @inlinable
    static func search(_ side: ContiguousArray<BookLevel>, _ price: FixedDecimal, ascending: Bool) -> (Int, Bool) {
        var lo = 0
        var hi = side.count
        return side.withUnsafeBufferPointer { buf in
            while lo < hi {
                let mid = (lo &+ hi) >> 1
                let p = buf[mid].price
                if p == price { return (mid, true) }
                // "Before" in storage order: lower for ascending bids, higher for descending asks.
                if ascending ? (p < price) : (price < p) { lo = mid &+ 1 } else { hi = mid }
            }
            return (lo, false)
        }
    }

    /// Drops levels beyond the best `depth` on each side (venues that maintain a fixed depth, e.g. Kraken).
    public mutating func truncate(depth: Int) {
        if bids.count > depth { bids.removeFirst(bids.count - depth) }
        if asks.count > depth { asks.removeFirst(asks.count - depth) }
    }

    /// The quantity at `price` on `side`, if the level exists.
    public func quantity(_ side: Side, at price: FixedDecimal) -> FixedDecimal? {
        let levels = side == .buy ? bids : asks
        let (i, found) = Self.search(levels, price, ascending: side == .buy)
        return found ? levels[i].quantity : nil
    }

    /// The best `n` levels of each side, best first.
    public func top(_ n: Int) -> (bids: [BookLevel], asks: [BookLevel]) {
        (Array(bids.suffix(n).reversed()), Array(asks.suffix(n).reversed()))
    }

    /// All levels of a side, best first (tests and cold paths).
    public func levels(_ side: Side) -> [BookLevel] {
        Array((side == .buy ? bids : asks).reversed())
    }
}
