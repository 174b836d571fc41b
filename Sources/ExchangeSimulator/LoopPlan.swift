import MarketCore

/// How a looping timeline rewrites its captured frames on pass k ≥ 1 so that the stream continues
/// the previous pass instead of jumping back: a gateway that stayed connected sees neither a gap
/// nor a duplicate. Pass 0 sends the original bytes; later passes replace only time, trade-id and
/// sequence tokens in the text (``LoopFields``), keeping every other byte.
///
/// Per pass k:
/// - times move by k × ``span`` (the capture's `recv_ns` range plus one mean inter-frame gap,
///   rounded up to a whole millisecond), recv times included, so pass k starts just after pass k − 1;
/// - an id space of an instrument (trade ids, aggregate ids, Coinbase/Bybit sequences) moves by
///   k × (max − min + 1): pass k's first id follows pass k − 1's last when the capture's ids are contiguous;
/// - a book's update chain moves by k × (last id − the id before the first update), so the first
///   update of pass k links to the last of pass k − 1 under the venue's rule (Binance spot
///   `U` = last `u` + 1, futures `pu` = last `u`; Bybit `u` = last `u` + 1 on its snapshot;
///   OKX `seqId` above the last, its snapshot's `prevSeqId` staying -1).
///
/// At the pass boundary each venue's book does this (the capture's book at its end is not its book
/// at its start):
/// - Binance (REST-synced, no in-stream snapshot): the diff chain continues, so a synced client stays
///   synced, but the first diffs of the new pass apply to the end-of-capture book: levels the capture
///   never touched again keep their end values, and the book may even cross until the prices come
///   back. The simulator's own model (and its REST depth) applies the same diffs, so it agrees with
///   the client; a client that resyncs gets that book.
/// - Coinbase `level2`, Kraken, OKX, Bybit: the capture starts with an in-stream snapshot per book
///   (checked for the fixtures), so each pass starts by resetting every book to the capture's first
///   state: checksums (Kraken, OKX) hold. Bybit's snapshot `u` and OKX's `seqId` continue the
///   numbering; the gateway takes such a snapshot as a book reset without a gap.
struct LoopPlan: Sendable {
    let venue: Venue
    /// Nanoseconds one pass adds to every time.
    let span: Int64
    /// Chain shift per instrument.
    var chainShift: [String: Int64] = [:]
    /// Id-space shift per "space instrument".
    var counterShift: [String: Int64] = [:]
    /// Entries later passes do not send (``subscribeAnswers(_:_:)``).
    var skipped: Set<Int> = []

    init(venue: Venue, entries: [TimelineEntry]) {
        self.venue = venue
        skipped = Self.subscribeAnswers(venue, entries)
        let times = entries.map(\.receiveTime)
        if let first = times.first, let last = times.last, times.count > 1 {
            let range = last - first
            let gap = max(1, range / Int64(times.count - 1))
            span = Self.roundUpToMillis(range + gap)
        } else {
            span = 1_000_000
        }
        // Chain: the id before the instrument's first update, and the last id it reaches.
        var chainStart: [String: Int64] = [:]
        var chainEnd: [String: Int64] = [:]
        var counted: [String: (Int64, Int64)] = [:]
        var uncounted: [String: (Int64, Int64)] = [:]
        for (index, e) in entries.enumerated() where !skipped.contains(index) {
            let (bytes, fields) = Self.fields(venue, e)
            var firstOf: [String: Int64] = [:]
            var lastOf: [String: Int64] = [:]
            var previousOf: [String: Int64] = [:]
            for f in fields {
                guard let v = ModelJSON.integer(f.scalar.text(in: bytes)), v >= 0 else { continue }
                switch f.role {
                case .chain(.first): firstOf[f.instrument] = v
                case .chain(.last): lastOf[f.instrument] = v
                case .chain(.previous): previousOf[f.instrument] = v
                case .counter(let space, let isCounted):
                    let key = space + " " + f.instrument
                    let r = (isCounted ? counted[key] : uncounted[key]) ?? (v, v)
                    let widened = (min(r.0, v), max(r.1, v))
                    if isCounted { counted[key] = widened } else { uncounted[key] = widened }
                default: break
                }
            }
            for (inst, last) in lastOf {
                if chainStart[inst] == nil {
                    chainStart[inst] = previousOf[inst] ?? (firstOf[inst].map { $0 - 1 } ?? last - 1)
                }
                chainEnd[inst] = max(chainEnd[inst] ?? last, last)
            }
        }
        for (inst, start) in chainStart { chainShift[inst] = max(1, chainEnd[inst]! - start) }
        for (key, r) in uncounted { counterShift[key] = r.1 - r.0 + 1 }
        for (key, r) in counted { counterShift[key] = r.1 - r.0 + 1 }
    }

    static func roundUpToMillis(_ ns: Int64) -> Int64 {
        (ns + 999_999) / 1_000_000 * 1_000_000
    }

    static func fields(_ venue: Venue, _ entry: TimelineEntry) -> ([UInt8], [LoopField]) {
        switch entry.kind {
        case .ws(let text): fields(venue, text, url: nil)
        case .rest(let url, let body): fields(venue, body, url: url)
        }
    }

    static func fields(_ venue: Venue, _ text: String, url: String?) -> ([UInt8], [LoopField]) {
        let bytes = Array(text.utf8)
        let scalars = JSONScanner.scalars(bytes, skip: LoopFields.skip(venue))
        return (bytes, LoopFields.fields(venue, bytes, scalars, url: url))
    }

    /// The frames a venue sends only because a client subscribed, which a connection that stays
    /// subscribed never gets again, so later passes leave them out (and ids move as if they were
    /// not there). Coinbase answers a subscribe with `subscriptions`, then per product a
    /// `last_match` and a `ticker` describing the trade before the capture began: moved on, they
    /// would arrive as trades older than the previous pass's last. Its level-2 `snapshot`s stay:
    /// they reset each pass's books.
    static func subscribeAnswers(_ venue: Venue, _ entries: [TimelineEntry]) -> Set<Int> {
        guard venue == .coinbase else { return [] }
        var out: Set<Int> = []
        var traded: Set<String> = []
        for (i, e) in entries.enumerated() {
            guard case .ws(let text) = e.kind, let object = JSONRead.object(text) else { continue }
            let type = object["type"] as? String
            let product = object["product_id"] as? String ?? ""
            switch type {
            case "subscriptions", "last_match": out.insert(i)
            case "ticker" where !traded.contains(product): out.insert(i)
            case "match": traded.insert(product)
            default: break
            }
        }
        return out
    }

    /// The entry at `index` as pass `pass` plays it (itself for pass 0); nil when a later pass does not send it.
    func entry(_ e: TimelineEntry, index: Int, pass: Int) -> TimelineEntry? {
        guard pass > 0 else { return e }
        if skipped.contains(index) { return nil }
        let time = e.receiveTime + Int64(pass) * span
        switch e.kind {
        case .ws(let text): return TimelineEntry(receiveTime: time, kind: .ws(rewrite(text, url: nil, pass: pass)))
        case .rest(let url, let body): return TimelineEntry(receiveTime: time, kind: .rest(url: url, body: rewrite(body, url: url, pass: pass)))
        }
    }

    /// `text` (a `ws` frame, or a REST body when `url` is set) with its loop fields moved to pass `pass`.
    func rewrite(_ text: String, url: String?, pass: Int) -> String {
        guard pass > 0 else { return text }
        let (bytes, fields) = Self.fields(venue, text, url: url)
        let k = Int64(pass)
        var replacements: [(JSONScalar, String)] = []
        for f in fields {
            let old = f.scalar.text(in: bytes)
            let new: String?
            switch f.role {
            case .time(let format):
                new = format.shifted(old, by: k * span)
            case .counter(let space, _):
                new = Self.moved(old, by: counterShift[space + " " + f.instrument], times: k)
            case .chain:
                new = Self.moved(old, by: chainShift[f.instrument], times: k)
            case .suffixed:
                new = old + "-\(pass)"
            }
            if let new { replacements.append((f.scalar, new)) }
        }
        return String(decoding: JSONScalar.replacing(bytes, replacements), as: UTF8.self)
    }

    /// A non-negative integer id moved by `times` × `shift`; nil (unchanged) for sentinels like -1.
    static func moved(_ text: String, by shift: Int64?, times k: Int64) -> String? {
        guard let shift, let v = ModelJSON.integer(text), v >= 0 else { return nil }
        return String(v + k * shift)
    }
}
