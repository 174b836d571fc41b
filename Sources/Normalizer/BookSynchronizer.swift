public import MarketCore

/// What the synchronizer tells its caller after a message; the caller turns these into status
/// events, metrics and (live) a snapshot request.
public enum BookSyncOutcome: Sendable, Hashable {
    /// The book became valid for the first time.
    case synced(String)
    /// The book became valid again after a gap or resync.
    case resynced(String)
    /// Continuity broke: the book is invalid until re-synchronized.
    case gap(String)
    /// A new snapshot is needed (REST fetch or resubscribe).
    case resyncRequested(String)
    /// The book's best bid reached its best ask: not published until it uncrosses or resyncs.
    case crossed(String)
    /// A crossed book uncrossed.
    case uncrossed
    /// The venue's checksum matched the local book.
    case checksumPassed
    /// The venue's checksum did not match: the book is invalid until re-synchronized.
    case checksumFailed(String)

    /// The update that produced this outcome shows the book had already missed updates (a
    /// sequence gap) or disagrees with the venue (a checksum failure).
    public var revealsMissedUpdates: Bool {
        switch self {
        case .gap, .checksumFailed: true
        default: false
        }
    }
}

/// Brings one instrument's book in sync with the venue and keeps it there, per ``BookSyncRule``.
///
/// Pure: messages in, outcomes out; no clock, no I/O. It resyncs only its own instrument.
/// The book is ``isValid`` only when synchronized, with no gap since, and not crossed.
public struct BookSynchronizer: Sendable {
    enum State: Sendable {
        /// Waiting for a snapshot; diffs are buffered (REST-snapshot venues) or ignored (in-stream).
        case awaitingSnapshot
        /// A REST snapshot is applied; waiting for the first diff that bridges it.
        case awaitingBridge(lastUpdateID: Int64)
        /// In sync; `last` is the last applied update id / sequence (nil when unsequenced).
        case synced(last: Int64?)
    }

    public private(set) var book: OrderBook
    var state: State = .awaitingSnapshot
    var buffer: [BookUpdate] = []
    var everSynced = false
    public private(set) var isCrossed = false
    /// The rule of the last message handled (the venue's sequencing rule).
    public private(set) var lastRule: BookSyncRule?
    /// The venue sends checksums for this book (Kraken, OKX): it has its own continuity check.
    public private(set) var isChecksummed = false
    /// `previous` of the last applied `.linked` message, to recognise an exact re-delivery.
    var lastLinkedPrevious: Int64?
    /// Diffs buffered while waiting for a snapshot, at most.
    public let bufferLimit: Int

    public init(instrument: Instrument, bufferLimit: Int = 10_000) {
        self.book = OrderBook(instrument: instrument)
        self.bufferLimit = bufferLimit
    }

    /// Valid = synchronized, no gap since, not crossed (CONTRACTS.md, `book_snapshot.valid`).
    public var isValid: Bool {
        if case .synced = state { return !isCrossed }
        return false
    }

    /// Whether the book is in sync, ignoring a crossed top.
    public var isSynchronized: Bool {
        if case .synced = state { return true }
        return false
    }

    /// Handles one book message.
    public mutating func handle(_ update: BookUpdate, into out: inout [BookSyncOutcome]) {
        lastRule = update.rule
        if update.checksum != nil { isChecksummed = true }
        switch update.rule {
        case .binanceSpot, .binanceFutures: handleRESTSynced(update, into: &out)
        case .inStreamSequenced, .unsequenced: handleInStream(update, into: &out)
        }
        checkCrossed(into: &out)
    }

    /// Marks the book invalid because continuity broke elsewhere (e.g. a trade-id gap on an unsequenced feed).
    public mutating func invalidate(reason: String, into out: inout [BookSyncOutcome]) {
        guard isSynchronized else { return }
        state = .awaitingSnapshot
        buffer.removeAll()
        out.append(.gap(reason))
        out.append(.resyncRequested(reason))
    }

    // MARK: Binance-style: REST snapshot + buffered diffs

    mutating func handleRESTSynced(_ u: BookUpdate, into out: inout [BookSyncOutcome]) {
        if u.isSnapshot {
            guard case .snapshot(let lastUpdateID) = u.sequence else { return }
            if case .synced(let last) = state, let last, lastUpdateID <= last {
                return  // an older snapshot than the book we hold: nothing to learn
            }
            book.replace(bids: u.bids, asks: u.asks)
            state = .awaitingBridge(lastUpdateID: lastUpdateID)
            let pending = buffer
            buffer.removeAll()
            for d in pending { handleDiff(d, into: &out) }
            return
        }
        handleDiff(u, into: &out)
    }

    mutating func handleDiff(_ d: BookUpdate, into out: inout [BookSyncOutcome]) {
        let (first, last, previous): (Int64, Int64, Int64?)
        switch d.sequence {
        case .range(let f, let l): (first, last, previous) = (f, l, nil)
        case .linked(let f, let l, let p): (first, last, previous) = (f, l, p)
        default: return
        }
        switch state {
        case .awaitingSnapshot:
            if buffer.count >= bufferLimit { buffer.removeFirst() }
            buffer.append(d)
        case .awaitingBridge(let lastUpdateID):
            if last < lastUpdateID || (d.rule == .binanceSpot && last == lastUpdateID) {
                return  // already contained in the snapshot
            }
            if Self.overlapIsValid(first: first, last: last, lastUpdateID: lastUpdateID, rule: d.rule) {
                apply(d)
                state = .synced(last: last)
                let detail = "synchronized at update \(last) (snapshot \(lastUpdateID))"
                out.append(everSynced ? .resynced(detail) : .synced(detail))
                everSynced = true
                verifyChecksum(d, into: &out)
            } else {
                // The snapshot is older than the first diff we hold: updates in between are lost.
                let reason = "first diff \(first)...\(last) does not bridge snapshot \(lastUpdateID)"
                state = .awaitingSnapshot
                buffer = [d]
                out.append(.gap(reason))
                out.append(.resyncRequested(reason))
            }
        case .synced(let lastApplied):
            guard let lastApplied else { return }
            if last <= lastApplied { return }  // duplicate or stale diff
            if Self.isContinuous(first: first, previous: previous, lastApplied: lastApplied, rule: d.rule) {
                apply(d)
                state = .synced(last: last)
                verifyChecksum(d, into: &out)
            } else {
                let expected = d.rule == .binanceFutures ? "pu=\(lastApplied)" : "U=\(lastApplied + 1)"
                let reason = "expected \(expected), got U=\(first) u=\(last)\(previous.map { " pu=\($0)" } ?? "")"
                state = .awaitingSnapshot
                buffer = [d]
                out.append(.gap(reason))
                out.append(.resyncRequested(reason))
            }
        }
    }

    /// Binance spot: `U <= lastUpdateId + 1 <= u`. Futures: `U <= lastUpdateId <= u`.
    public static func overlapIsValid(first: Int64, last: Int64, lastUpdateID: Int64, rule: BookSyncRule) -> Bool {
        if rule == .binanceFutures { return first <= lastUpdateID && lastUpdateID <= last }
        return first <= lastUpdateID + 1 && lastUpdateID + 1 <= last
    }

    /// Binance spot: `U == previous u + 1`. Futures: `pu == previous u`.
    public static func isContinuous(first: Int64, previous: Int64?, lastApplied: Int64, rule: BookSyncRule) -> Bool {
        if rule == .binanceFutures { return previous == lastApplied }
        return first == lastApplied + 1
    }

    // MARK: In-stream snapshots (Coinbase, Bybit, OKX, Kraken)

    mutating func handleInStream(_ u: BookUpdate, into out: inout [BookSyncOutcome]) {
        if u.isSnapshot {
            // Venues that push snapshots while in sync (Bybit level 1, OKX books5) are not re-syncing:
            // only a snapshot that ends an unsynchronized period is reported.
            let wasSynchronized = isSynchronized
            book.replace(bids: u.bids, asks: u.asks)
            if let d = u.depthLimit { book.truncate(depth: d) }
            if case .linked(_, _, let previous) = u.sequence { lastLinkedPrevious = previous } else { lastLinkedPrevious = nil }
            let seq = Self.lastSequence(u.sequence)
            state = .synced(last: seq)
            if !wasSynchronized {
                let detail = seq.map { "snapshot at sequence \($0)" } ?? "snapshot (unsequenced feed)"
                out.append(everSynced ? .resynced(detail) : .synced(detail))
                everSynced = true
            }
            verifyChecksum(u, into: &out)
            return
        }
        guard case .synced(let last) = state else { return }  // deltas before a snapshot mean nothing
        if u.rule == .inStreamSequenced, let last {
            let ok: Bool
            switch u.sequence {
            case .sequence(let n):
                if n <= last { return }  // duplicate
                ok = n == last + 1
            case .linked(_, let l, let previous):
                // Only an exact re-delivery of the last applied message is ignored. Anything else whose
                // `previous` is not our last id is a gap — including an update after a lost sequence
                // reset (OKX may restart seqId lower), which would otherwise look "old" forever.
                if l == last && previous == lastLinkedPrevious { return }
                ok = previous == last
            default: ok = true
            }
            if !ok {
                let reason = "sequence break after \(last): \(u.sequence)"
                state = .awaitingSnapshot
                out.append(.gap(reason))
                out.append(.resyncRequested(reason))
                return
            }
        }
        apply(u)
        state = .synced(last: Self.lastSequence(u.sequence) ?? last)
        if case .linked(_, _, let previous) = u.sequence { lastLinkedPrevious = previous }
        verifyChecksum(u, into: &out)
    }

    mutating func apply(_ u: BookUpdate) {
        book.apply(bids: u.bids, asks: u.asks)
        if let d = u.depthLimit { book.truncate(depth: d) }
    }

    /// Recomputes the venue's checksum over the book after `u` was applied (Kraken: after every update).
    mutating func verifyChecksum(_ u: BookUpdate, into out: inout [BookSyncOutcome]) {
        guard let check = u.checksum, isSynchronized else { return }
        let top = book.top(check.algorithm.depth)
        let actual = check.algorithm.checksum(bids: top.bids, asks: top.asks)
        if actual == check.expected {
            out.append(.checksumPassed)
            return
        }
        let reason = "\(check.algorithm.name) checksum mismatch: venue \(check.expected), book \(actual)"
        state = .awaitingSnapshot
        buffer.removeAll()
        out.append(.checksumFailed(reason))
        out.append(.resyncRequested(reason))
    }

    static func lastSequence(_ s: BookSequence) -> Int64? {
        switch s {
        case .unsequenced: nil
        case .snapshot(let id): id
        case .range(_, let last): last
        case .linked(_, let last, _): last
        case .sequence(let n): n
        }
    }

    mutating func checkCrossed(into out: inout [BookSyncOutcome]) {
        guard isSynchronized else {
            isCrossed = false
            return
        }
        let crossed = book.isCrossed
        if crossed && !isCrossed {
            let b = book.bestBid.map { "\($0.price)" } ?? "-"
            let a = book.bestAsk.map { "\($0.price)" } ?? "-"
            out.append(.crossed("best bid \(b) >= best ask \(a)"))
        } else if !crossed && isCrossed {
            out.append(.uncrossed)
        }
        isCrossed = crossed
    }
}
