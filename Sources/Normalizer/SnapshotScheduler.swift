public import MarketCore

/// Decides when to publish a top-N book snapshot, on the instrument's book event time.
///
/// Boundaries are whole multiples of `interval`. Call ``beforeUpdate(at:book:valid:)`` with each
/// book update's event time **before** applying it: when that time is at or past the next
/// boundary, one snapshot is produced for the last boundary crossed, stamped with that boundary
/// and showing the book as it was before the update — unless the book is invalid or its top-N is
/// unchanged since the previous snapshot (CONTRACTS.md, `book_snapshot`).
public struct SnapshotScheduler: Sendable {
    public let interval: Int64
    public let depth: Int
    var nextBoundary: Int64?
    var lastBids: [BookLevel] = []
    var lastAsks: [BookLevel] = []
    var hasPublished = false

    public init(interval: Int64 = 1_000_000_000, depth: Int = 20) {
        precondition(interval > 0 && depth > 0, "snapshot interval and depth must be positive")
        self.interval = interval
        self.depth = depth
    }

    public mutating func beforeUpdate(at time: UnixNanos, book: OrderBook, valid: Bool) -> BookSnapshot? {
        let boundary = time.floored(to: interval).rawValue
        guard let next = nextBoundary else {
            nextBoundary = boundary + interval
            return nil
        }
        guard time.rawValue >= next else { return nil }
        nextBoundary = boundary + interval
        guard valid else { return nil }
        let top = book.top(depth)
        if hasPublished && top.bids == lastBids && top.asks == lastAsks { return nil }
        return publish(book.instrument, time: UnixNanos(boundary), top)
    }

    /// A snapshot now (e.g. when a client subscribes), regardless of the schedule.
    public mutating func snapshotNow(at time: UnixNanos, book: OrderBook, valid: Bool) -> BookSnapshot {
        BookSnapshot(instrument: book.instrument, time: time, bids: book.top(depth).bids, asks: book.top(depth).asks, valid: valid)
    }

    mutating func publish(_ instrument: Instrument, time: UnixNanos, _ top: (bids: [BookLevel], asks: [BookLevel]))
        -> BookSnapshot
    {
        lastBids = top.bids
        lastAsks = top.asks
        hasPublished = true
        return BookSnapshot(instrument: instrument, time: time, bids: top.bids, asks: top.asks, valid: true)
    }
}
