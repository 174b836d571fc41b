public import MarketCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One side of a book: a price ladder around the best (one slot per tick, O(1) per level) in
/// front of a ``ChunkedSide`` for everything else (levels far behind the best, or at a finer
/// scale than the ladder's tick).
///
/// On the real BTCUSDT stream each depth diff changes ~45 levels, ~100–235 levels behind the best
/// of a 2,000–3,000-level side; in the chunks alone each of those pays a search of several
/// cache-missing steps, which was most of the book's time (BENCHMARKS.md). The window is placed
/// when a snapshot is loaded (or a book that grew by updates reaches ``PriceWindow/minimumLevels``),
/// and placed again when the best moves above it or the window empties; every level is in exactly one of the two parts, and reads merge them by price.
struct BookSide: Sendable {
    var far: ChunkedSide
    var window: PriceWindow?
    let ascending: Bool
    /// Updates that went to `far` since the window was last placed.
    var sincePlaced = 0
    static let replaceAfter = 256

    init(ascending: Bool) {
        self.ascending = ascending
        far = ChunkedSide(ascending: ascending)
    }

    var count: Int { far.count + (window?.count ?? 0) }

    /// `a` comes before (is worse than) `b` in storage order.
    @inline(__always)
    func before(_ a: FixedDecimal, _ b: FixedDecimal) -> Bool { ascending ? a < b : b < a }

    var best: BookLevel? {
        let w = window?.best
        guard let f = far.best else { return w }
        guard let w else { return f }
        return before(w.price, f.price) ? f : w
    }

    mutating func load(_ levels: [BookLevel]) {
        far.load(levels)
        window = nil
        place()
    }

    mutating func update(_ level: BookLevel) {
        if window != nil, let i = window!.index(level.price) {
            window!.set(i, level)
            return
        }
        far.update(level)
        // The best went above the window, or the window emptied while levels remain: move it
        // (not more often than every `replaceAfter` updates, so no input can make every update
        // a rebuild; reads are right either way).
        sincePlaced &+= 1
        guard sincePlaced >= Self.replaceAfter else { return }
        if let w = window {
            if let f = far.best, w.count == 0 || before(w.best!.price, f.price) { rebuild() }
        } else if far.count >= PriceWindow.minimumLevels {
            // A book that grew by updates rather than from a snapshot.
            sincePlaced = 0
            place()
        }
    }

    func quantity(at price: FixedDecimal) -> FixedDecimal? {
        if let w = window, let i = w.index(price) {
            return w.isEmpty(i) ? nil : w.quantity(i)
        }
        return far.quantity(at: price)
    }

    /// Keeps the best `depth` levels (drops from the worst end).
    mutating func truncate(_ depth: Int) {
        var excess = count - max(depth, 0)
        while excess > 0 {
            var windowWorst: (index: Int, level: BookLevel)? = nil
            if window != nil, let i = window!.worstIndex() { windowWorst = (i, window!.level(i)) }
            if let f = far.worst, windowWorst == nil || before(f.price, windowWorst!.level.price) {
                far.truncate(far.count - 1)
            } else if let (i, level) = windowWorst {
                window!.set(i, BookLevel(price: level.price, quantity: .zero))
            } else {
                break
            }
            excess -= 1
        }
    }

    /// The best `limit` levels, best first: the window's and the far levels merged by price.
    func bestFirst(limit: Int) -> [BookLevel] {
        guard let w = window, w.count > 0 else { return far.bestFirst(limit: limit) }
        let farLevels = far.bestFirst(limit: limit)
        var out: [BookLevel] = []
        out.reserveCapacity(min(limit, count))
        var fi = 0
        var wi = w.bestIndex
        while out.count < limit {
            while wi >= 0, w.isEmpty(wi) { wi -= 1 }
            let fromWindow = wi >= 0 ? w.level(wi) : nil
            let fromFar = fi < farLevels.count ? farLevels[fi] : nil
            if let a = fromWindow, fromFar == nil || !before(a.price, fromFar!.price) {
                out.append(a)
                wi -= 1
            } else if let b = fromFar {
                out.append(b)
                fi += 1
            } else {
                break
            }
        }
        return out
    }

    /// Places a window around the current best (all levels are in `far` when this is called).
    private mutating func place() {
        // Straight into `window`: a second reference to the new slots would make the first `set`
        // copy them, touching every page.
        guard far.count >= PriceWindow.minimumLevels else { return }
        window = PriceWindow(around: far, ascending: ascending)
        guard window != nil else { return }
        sincePlaced = 0
        // Move every level the window can hold out of the chunks.
        var kept: [BookLevel] = []
        kept.reserveCapacity(far.count)
        for level in far.bestFirst(limit: Int.max) {
            if let i = window!.index(level.price) {
                window!.set(i, level)
            } else {
                kept.append(level)
            }
        }
        far.load(kept)
    }

    private mutating func rebuild() {
        let all = bestFirst(limit: Int.max)
        window = nil
        far.load(all)
        place()
    }
}

/// A dense array of levels, one slot per price tick, in storage order (best last). A slot with a
/// zero quantity is empty.
///
/// A slot keeps only the quantity and the digits the venue wrote (16 bytes, not a 32-byte
/// ``BookLevel``): the price is the slot's tick. The slots come zeroed from the kernel, so the pages a
/// window never touches (most of the half above the best, the gaps of a sparse book) cost no
/// memory: 500 BTCUSDT-like books went from 1.09 GB to the figure in docs/performance.md.
struct PriceWindow: Sendable {
    /// Books smaller than this stay in chunks only (a ladder buys nothing there).
    static let minimumLevels = 64
    static let maximumSlots = 32_768

    private var storage: LadderSlots
    /// Storage-order tick of slot 0 (ticks negated on the ask side, so better is always higher).
    let base: Int64
    /// Fraction digits of one tick.
    let scale: UInt8
    let ascending: Bool
    private(set) var count = 0
    /// The best non-empty slot, or -1.
    private(set) var bestIndex = -1
    /// No non-empty slot lies below this.
    private var low: Int

    /// A window for the levels of `side`, sized to about twice the span of its best 1,024 levels
    /// (at most ``maximumSlots``), with the best in the middle so that the price can move half the
    /// window either way before the window moves. `nil` when the prices cannot share one tick grid.
    init?(around side: ChunkedSide, ascending: Bool) {
        let levels = side.bestFirst(limit: 1_024)
        guard let bestLevel = levels.first, let deepest = levels.last else { return nil }
        let scale = levels.map(\.price.scale).max() ?? 0
        guard scale <= 12 else { return nil }
        self.scale = scale
        self.ascending = ascending
        guard let top = Self.tick(bestLevel.price, scale: scale, ascending: ascending),
            let bottom = Self.tick(deepest.price, scale: scale, ascending: ascending)
        else { return nil }
        let span = top &- bottom
        guard span >= 0 else { return nil }
        var size = 256
        while size < Self.maximumSlots, Int64(size) < 2 &* span { size <<= 1 }
        base = top &- Int64(size / 2)
        storage = LadderSlots(count: size)
        low = size
    }

    var slotCount: Int { storage.count }

    /// The price as a storage-order tick, or `nil` when it is finer than the tick or overflows.
    @inline(__always)
    static func tick(_ price: FixedDecimal, scale: UInt8, ascending: Bool) -> Int64? {
        guard price.scale <= scale else { return nil }
        let (t, overflow) = price.mantissa.multipliedReportingOverflow(by: Pow10.int64(Int(scale &- price.scale)))
        if overflow || t == .min { return nil }
        return ascending ? t : 0 &- t
    }

    /// The slot of `price`, or `nil` when it is off the grid or outside the window.
    @inline(__always)
    func index(_ price: FixedDecimal) -> Int? {
        guard let t = Self.tick(price, scale: scale, ascending: ascending) else { return nil }
        let (d, overflow) = t.subtractingReportingOverflow(base)
        guard !overflow, d >= 0, d < Int64(storage.count) else { return nil }
        return Int(d)
    }

    @inline(__always)
    func isEmpty(_ i: Int) -> Bool { storage.pointer[i].quantity == 0 }

    func quantity(_ i: Int) -> FixedDecimal {
        let s = storage.pointer[i]
        return FixedDecimal(mantissa: s.quantity, scale: Int(s.quantityScale), displayScale: Int(s.quantityDisplay))!
    }

    /// The level held in slot `i` (its price rebuilt from the tick, with the digits first seen).
    func level(_ i: Int) -> BookLevel {
        let s = storage.pointer[i]
        let t = base &+ Int64(i)
        let price = FixedDecimal(mantissa: ascending ? t : 0 &- t, scale: Int(scale), displayScale: Int(s.priceDisplay))!
        return BookLevel(price: price, quantity: quantity(i))
    }

    var best: BookLevel? { bestIndex >= 0 ? level(bestIndex) : nil }

    /// Applies one level at its slot: a zero quantity empties it. Like the chunks, a quantity
    /// change keeps the price text first seen.
    mutating func set(_ i: Int, _ level: BookLevel) {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy(count > 0 ? low..<(bestIndex + 1) : 0..<0) }
        let slots = storage.pointer
        let had = slots[i].quantity != 0
        if level.quantity.isZero {
            guard had else { return }
            slots[i].quantity = 0
            count -= 1
            if count == 0 {
                bestIndex = -1
                low = storage.count
            } else if i == bestIndex {
                var j = i - 1
                while slots[j].quantity == 0 { j -= 1 }
                bestIndex = j
            }
            return
        }
        let q = level.quantity
        if had {
            slots[i].quantity = q.mantissa
            slots[i].quantityScale = q.scale
            slots[i].quantityDisplay = q.displayScale
            return
        }
        slots[i] = LadderSlot(
            quantity: q.mantissa, quantityScale: q.scale, quantityDisplay: q.displayScale,
            priceDisplay: level.price.displayScale)
        count += 1
        if i > bestIndex { bestIndex = i }
        if i < low { low = i }
    }

    /// The worst non-empty slot.
    mutating func worstIndex() -> Int? {
        guard count > 0 else { return nil }
        while storage.pointer[low].quantity == 0 { low += 1 }
        return low
    }
}

/// One ladder slot; all-zero bytes are an empty slot, which is what `calloc` hands out.
struct LadderSlot {
    var quantity: Int64
    var quantityScale: UInt8
    var quantityDisplay: UInt8
    var priceDisplay: UInt8
}

/// The slots of a window in their own anonymous mapping: the kernel hands out zero pages on first
/// touch, so the pages a window never writes cost no memory. (Not `calloc`: once the process has
/// freed any large block, glibc raises its mmap threshold and serves these from the heap, zeroing —
/// touching — every page.) Copied on write when a book value is shared.
final class LadderSlots: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<LadderSlot>
    let count: Int
    private let bytes: Int

    init(count: Int) {
        self.count = count
        bytes = count * MemoryLayout<LadderSlot>.stride
        let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let raw, raw != MAP_FAILED else {
            fatalError("out of memory for a book ladder of \(count) slots")
        }
        pointer = raw.bindMemory(to: LadderSlot.self, capacity: count)
    }

    /// A copy holding the slots in `used` (the rest are empty and stay untouched zero pages).
    func copy(_ r: Range<Int>) -> LadderSlots {
        let c = LadderSlots(count: count)
        (c.pointer + r.lowerBound).update(from: pointer + r.lowerBound, count: r.count)
        return c
    }

    deinit { munmap(pointer, bytes) }
}
