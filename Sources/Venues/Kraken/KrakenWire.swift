internal import MarketCore

/// Reads values out of one Kraken frame's bytes by range (the "wire view", STYLE.md §4.5).
///
/// A recorded v1 book update (`Tests/Fixtures/kraken/v1-trade-ticker-book-2021-04-17.jsonl.gz`): an
/// array of `channelID`, payload objects, channel name and pair, read element by element with
/// ``walkArray(at:_:)``:
/// ```json
/// [992,{"b":[["354.15000000","5.00000000","1618678133.365913"]],"c":"2583817756"},"book-1000","XMR/USD"]
/// ```
/// Ranges index the frame bytes and include the quotes of string values. Every read is
/// bounds-checked and returns `nil` on malformed or truncated input, never traps. The buffer must
/// not outlive the `handle` call that owns it.
struct KrakenWire: RangeWire {
    let bytes: UnsafeRawBufferPointer

    /// Walks the array that starts at `index`, calling `body` with each element's range; `body`
    /// returns `false` to stop with failure. A failure `body` throws ends the walk and propagates.
    /// Stricter than ``RangeWire/walkElements(at:end:_:)`` about separators, and it hands out any
    /// value (v1 messages are arrays of mixed values), not only objects.
    /// - Returns: the index just past the closing `]`, or `nil` when malformed, truncated or stopped.
    func walkArray<Failure: Error>(at index: Int, _ body: (Range<Int>) throws(Failure) -> Bool) throws(Failure) -> Int? {
        var s = JSONScanner(bytes, index: index)
        guard s.beginArray() else { return nil }
        var first = true
        while true {
            guard let c = s.peek() else { return nil }
            if c == UInt8(ascii: "]") { return s.index + 1 }
            if !first {
                guard c == UInt8(ascii: ",") else { return nil }
                s.index += 1
            }
            first = false
            guard let value = s.skipValue(), try body(value) else { return nil }
        }
    }

    /// True when only whitespace follows `index`.
    func onlyWhitespace(after index: Int) -> Bool {
        var s = JSONScanner(bytes, index: index)
        return s.isAtEnd
    }

    /// The bytes of a range.
    func raw(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[range])
    }

    /// True when the value is exactly the literal (`true`, `null`, ...).
    func isLiteral(_ range: Range<Int>?, _ literal: StaticString) -> Bool {
        guard let range else { return false }
        return raw(range).equals(literal)
    }

    /// A CRC32 value as an unsigned 32-bit integer, quoted (v1 `"c"`) or bare (v2 `checksum`).
    func checksum(_ range: Range<Int>?) -> UInt32? {
        guard let v = int(range), v >= 0, v <= Int64(UInt32.max) else { return nil }
        return UInt32(v)
    }

    /// A non-negative exact decimal: v1's quoted text (`"0.05005"`) or v2's bare JSON number
    /// (`45283.5`, `0.10000000`), read from the bytes as written — never through `Double`, so the
    /// digits the venue wrote (trailing zeros included) are kept as the value's display scale.
    func decimal(_ range: Range<Int>?) -> FixedDecimal? {
        guard let r = range else { return nil }
        let text = string(r) ?? raw(r)
        let value: FixedDecimal?
        switch FixedDecimal.parse(text) {
        case .success(let v): value = v
        case .failure: value = Self.exponentDecimal(text)
        }
        guard let value, !value.isNegative else { return nil }
        return value
    }

    /// Kraken v1 decimal seconds (`"1618678133.365913"`), exactly.
    func decimalSeconds(_ range: Range<Int>?) -> UnixNanos? {
        guard let raw = string(range) else { return nil }
        return UnixNanos.parseDecimalSeconds(raw)
    }

    /// Kraken v2 RFC 3339 time (`"2023-09-25T07:48:36.925533Z"`), exactly.
    func time(_ range: Range<Int>?) -> UnixNanos? {
        guard let raw = string(range) else { return nil }
        return UnixNanos.parseISO8601(raw)
    }

    /// A JSON number in exponent form (`1e-08`, `1.5E+3`), exactly: JSON allows it for a v2
    /// number even though Kraken writes plain decimals. The display scale is the fraction digits
    /// the number stands for (`1.50e-3` → `0.00150`).
    /// - Returns: `nil` when not of that form or not representable without rounding.
    static func exponentDecimal(_ text: UnsafeRawBufferPointer) -> FixedDecimal? {
        guard let e = text.firstIndex(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }), e > 0,
            e + 1 < text.count
        else { return nil }
        var exponentText = UnsafeRawBufferPointer(rebasing: text[(e + 1)...])
        if exponentText.first == UInt8(ascii: "+") { exponentText = UnsafeRawBufferPointer(rebasing: exponentText[1...]) }
        guard case .success(let m) = FixedDecimal.parse(UnsafeRawBufferPointer(rebasing: text[..<e])),
            let exponent = JSONScanner.parseInt64(exponentText), exponent >= -64, exponent <= 64
        else { return nil }
        var mantissa = m.mantissa
        var scale = Int(m.scale) - Int(exponent)
        let display = max(Int(m.displayScale) - Int(exponent), 0)
        while scale < 0 {
            let (p, overflow) = mantissa.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            mantissa = p
            scale += 1
        }
        return FixedDecimal(mantissa: mantissa, scale: scale, displayScale: display)
    }
}

/// Up to five element ranges of a v1 array message, kept inline (no allocation per frame).
struct KrakenElements {
    private var r0 = 0..<0, r1 = 0..<0, r2 = 0..<0, r3 = 0..<0, r4 = 0..<0
    private(set) var count = 0
    static let capacity = 5

    /// Appends a range; `false` when full.
    mutating func append(_ r: Range<Int>) -> Bool {
        switch count {
        case 0: r0 = r
        case 1: r1 = r
        case 2: r2 = r
        case 3: r3 = r
        case 4: r4 = r
        default: return false
        }
        count += 1
        return true
    }

    subscript(i: Int) -> Range<Int> {
        switch i {
        case 0: r0
        case 1: r1
        case 2: r2
        case 3: r3
        default: r4
        }
    }
}
