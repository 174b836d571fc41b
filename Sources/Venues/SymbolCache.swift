public import MarketCore

/// Maps a venue's native symbol bytes to an ``Instrument`` without creating a `String` per message.
///
/// Feeds carry a handful of symbols per connection, so a linear scan over byte arrays (with the
/// last hit checked first) beats hashing. Unknown symbols are cached too, so a bad symbol costs
/// one mapping attempt, not one per frame. Past `capacity` entries new symbols are still resolved,
/// just not cached.
public struct SymbolCache: Sendable {
    struct Entry: Sendable {
        var bytes: [UInt8]
        var instrument: Instrument?
    }

    var entries: [Entry] = []
    var lastHit = 0
    public let capacity: Int

    public init(capacity: Int = 4096) { self.capacity = capacity }

    /// The instrument for `raw`, resolving (and caching) with `make` on first sight.
    /// - Returns: `nil` when `make` could not map the symbol (an unknown symbol).
    public mutating func instrument(for raw: UnsafeRawBufferPointer, make: (String) -> Instrument?) -> Instrument? {
        if lastHit < entries.count, Self.same(entries[lastHit].bytes, raw) { return entries[lastHit].instrument }
        for i in entries.indices where Self.same(entries[i].bytes, raw) {
            lastHit = i
            return entries[i].instrument
        }
        let text = String(decoding: raw, as: UTF8.self)
        let made = make(text)
        if entries.count < capacity {
            entries.append(Entry(bytes: Array(raw), instrument: made))
            lastHit = entries.count - 1
        }
        return made
    }

    /// The cached mapping of `raw`: `.some(nil)` for a known-unknown symbol, `nil` when not cached.
    public mutating func cached(_ raw: UnsafeRawBufferPointer) -> Instrument?? {
        if lastHit < entries.count, Self.same(entries[lastHit].bytes, raw) { return .some(entries[lastHit].instrument) }
        for i in entries.indices where Self.same(entries[i].bytes, raw) {
            lastHit = i
            return .some(entries[i].instrument)
        }
        return nil
    }

    /// Remembers a mapping (while there is room).
    public mutating func insert(_ raw: UnsafeRawBufferPointer, _ instrument: Instrument?) {
        guard entries.count < capacity else { return }
        entries.append(Entry(bytes: Array(raw), instrument: instrument))
        lastHit = entries.count - 1
    }

    static func same(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { pa in
            for i in 0..<pa.count where pa[i] != b[i] { return false }
            return true
        }
    }
}
