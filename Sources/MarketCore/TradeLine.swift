/// Writes a trade's replay line (`MarketEvent.trade(t).writeJSON(into:)` then
/// `JSONWriter.endLine()`, byte for byte) in one append: the part that only depends on the
/// instrument (`{"type":"trade","venue":…,"symbol":…,"ts":"`) is kept from the previous trade of
/// the same instrument, and the rest is built on the stack. Per-field appends to the writer's
/// array (a capacity and uniqueness check each) were ~15 % of a 200k-trade replay.
public struct TradeLineWriter {
    var instrument: Instrument.Storage?
    var prefix: [UInt8] = []
    var fractionDigits = 0
    var day = ISODayCache()

    public init() {}

    public mutating func writeLine(_ t: Trade, into w: inout JSONWriter) {
        // Anything unusual (a text id, a decimal with very many digits) takes the general writer.
        guard case .number(let id) = t.id, Self.fits(t.price), Self.fits(t.quantity) else {
            MarketEvent.trade(t).writeJSON(into: &w)
            w.endLine()
            return
        }
        if instrument !== t.instrument.storage {
            var p = JSONWriter()
            p.beginObject()
            p.key("type")
            p.string("trade")
            MarketEvent.writeInstrument(t.instrument, into: &p)
            p.key("ts")
            p.bytes.append(UInt8(ascii: "\""))
            prefix = p.bytes
            fractionDigits = t.instrument.venue.timeFractionDigits
            instrument = t.instrument.storage
        }
        w.separator()
        // Through a buffer pointer: `append(contentsOf:)` takes its argument owned, so passing
        // the array itself retained and released it on every line.
        prefix.withUnsafeBufferPointer { w.bytes.append(contentsOf: $0) }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 512) { buf in
            let base = buf.baseAddress!
            var o = t.eventTime.writeISO8601(fractionDigits: fractionDigits, to: base, cache: &day)
            func put(_ s: StaticString) {
                (base + o).update(from: s.utf8Start, count: s.utf8CodeUnitCount)
                o &+= s.utf8CodeUnitCount
            }
            put(#"","id":""#)
            o &+= DecimalText.write(negative: id < 0, magnitude: id.magnitude, scale: 0, displayScale: 0, to: base + o)
            put(#"","price":""#)
            o &+= t.price.write(to: base + o)
            put(#"","qty":""#)
            o &+= t.quantity.write(to: base + o)
            put(t.side == .buy ? #"","side":"buy""# : #"","side":"sell""#)
            if t.count != 1 {
                put(#","trades":"#)
                if t.count == 0 {
                    put("0")
                } else {
                    o &+= DecimalText.write(
                        negative: t.count < 0, magnitude: t.count.magnitude, scale: 0, displayScale: 0, to: base + o)
                }
            }
            put("}\n")
            w.bytes.append(contentsOf: UnsafeBufferPointer(start: base, count: o))
        }
        w.needsComma = false
    }

    /// Whether the decimal's text is short enough for the stack buffer (always, for venue prices).
    @inline(__always)
    static func fits(_ d: FixedDecimal) -> Bool { d.displayScale <= 40 }
}

extension FixedDecimal {
    /// Writes the text `write(into:)` appends to `out` (room for 64 bytes); returns its length.
    @inline(__always)
    func write(to out: UnsafeMutablePointer<UInt8>) -> Int {
        DecimalText.write(
            negative: mantissa < 0, magnitude: mantissa.magnitude, scale: Int(scale), displayScale: Int(displayScale),
            to: out)
    }
}

extension DecimalText {
    /// ``write(negative:magnitude:scale:displayScale:into:)`` for a 64-bit magnitude and scales up
    /// to 40, to a pointer with room for 64 bytes; returns the length.
    @inline(__always)
    static func write(negative: Bool, magnitude: UInt64, scale: Int, displayScale: Int, to out: UnsafeMutablePointer<UInt8>) -> Int {
        let extra = displayScale > scale ? displayScale - scale : 0
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { buf in
            var p = 128
            fill(magnitude, negative: negative, scale: scale, displayScale: displayScale, extra: extra, buf, &p)
            out.update(from: buf.baseAddress! + p, count: 128 &- p)
            return 128 &- p
        }
    }
}
