import MarketCore

/// Strict byte-level reads over one Bybit frame, on top of ``JSONScanner``.
///
/// A recorded frame (`Tests/Fixtures/bybit/v5-orderbook500-xrpusdt-2024-12-01.jsonl.gz`):
/// ```json
/// {"topic":"orderbook.500.XRPUSDT","type":"delta","ts":1733011201990,"data":{"s":"XRPUSDT","b":[["1.9533","16514"],
///  ["1.9529","4765"],["1.9519","16924"],["1.9514","16155"],["1.9462","2067"]],"a":[["1.9535","2183"],["1.9649","2707"]],
///  "u":20254883,"seq":130020244295},"cts":1733011201982}
/// ```
///
/// ``JSONScanner`` is lenient (an object cut off right after a value looks complete, `12.5` reads as
/// the integer `12`); Bybit frames are read strictly here so that a truncated or bent frame is one
/// parse error instead of a half-read message. Positions are byte offsets of a value's first byte.
struct BybitWire {
    let bytes: UnsafeRawBufferPointer

    /// Walks the object whose `{` is at `at`, calling `visit(key, valueStart)` once per key; every
    /// value is skipped here, so `visit` only records positions.
    /// - Returns: the offset just past the closing `}`, or `nil` when the object is malformed or truncated.
    func walkObject(at: Int, _ visit: (UnsafeRawBufferPointer, Int) -> Void) -> Int? {
        var s = JSONScanner(bytes, index: at)
        guard s.beginObject() else { return nil }
        while true {
            let before = s.index
            guard let key = s.nextKey() else {
                // `nextKey` also returns nil at the end of input: only a consumed `}` closes the object.
                guard !s.failed, s.index > before, bytes[s.index - 1] == UInt8(ascii: "}") else { return nil }
                return s.index
            }
            s.skipWhitespace()
            let valueStart = s.index
            guard s.skipValue() != nil, !s.failed else { return nil }
            // ``JSONScanner`` tolerates a missing comma between members; a Bybit frame never has one.
            if let c = s.peek(), c != UInt8(ascii: ","), c != UInt8(ascii: "}") { return nil }
            visit(key, valueStart)
        }
    }

    /// Calls `visit(elementStart)` for each element of the array whose `[` is at `at` (values skipped here).
    /// - Returns: `false` when the array is malformed or truncated.
    func walkArray(at: Int, _ visit: (Int) -> Bool) -> Bool {
        var s = JSONScanner(bytes, index: at)
        guard s.beginArray() else { return false }
        while s.nextElement() {
            s.skipWhitespace()
            let start = s.index
            guard s.skipValue() != nil, !s.failed else { return false }
            if let c = s.peek(), c != UInt8(ascii: ","), c != UInt8(ascii: "]") { return false }
            guard visit(start) else { return false }
        }
        return !s.failed
    }

    /// True when the value at `at` is followed by a delimiter (`,`, `}`, `]`) or the end of a sub-range.
    func endsCleanly(_ s: inout JSONScanner) -> Bool {
        guard let c = s.peek() else { return true }
        return c == UInt8(ascii: ",") || c == UInt8(ascii: "}") || c == UInt8(ascii: "]")
    }

    /// The raw content of the string value at `at` (escapes not decoded).
    func string(_ at: Int?) -> UnsafeRawBufferPointer? {
        guard let at else { return nil }
        var s = JSONScanner(bytes, index: at)
        return s.readStringRaw()
    }

    /// The decoded text of the string value at `at`.
    func text(_ at: Int?) -> String? {
        guard let at else { return nil }
        var s = JSONScanner(bytes, index: at)
        return s.readString()
    }

    /// A whole integer, bare or quoted; `nil` for anything else (`12.5`, `true`, an overflow).
    func int(_ at: Int?) -> Int64? {
        guard let at else { return nil }
        var s = JSONScanner(bytes, index: at)
        guard let v = s.readInt64(), endsCleanly(&s) else { return nil }
        return v
    }

    /// A decimal, quoted (the usual case) or bare.
    func decimal(_ at: Int?) -> FixedDecimal? {
        guard let at else { return nil }
        var s = JSONScanner(bytes, index: at)
        guard let v = s.readDecimal(), endsCleanly(&s) else { return nil }
        return v
    }

    /// A strict `true` / `false`.
    func bool(_ at: Int?) -> Bool? {
        guard let at else { return nil }
        if matches(at, "true") { return true }
        if matches(at, "false") { return false }
        return nil
    }

    /// True when the string value at `at` equals `literal`.
    func stringEquals(_ at: Int?, _ literal: StaticString) -> Bool {
        string(at)?.equals(literal) ?? false
    }

    func matches(_ at: Int, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard at >= 0, at + n <= bytes.count else { return false }
        let p = literal.utf8Start
        for i in 0..<n where bytes[at + i] != p[i] { return false }
        var s = JSONScanner(bytes, index: at + n)
        return endsCleanly(&s)
    }

    /// `[["price","size"], ...]` into `levels`; `false` when malformed or a price or size is negative.
    func levels(_ at: Int?, into levels: inout [BookLevel]) -> Bool {
        guard let at else { return false }
        var r = JSONScanner(bytes, index: at)
        guard r.beginArray() else { return false }
        if r.consume(UInt8(ascii: "]")) { return true }
        while true {
            guard r.beginArray(), let p = r.readDecimal(), r.consume(UInt8(ascii: ",")), let q = r.readDecimal(),
                r.consume(UInt8(ascii: "]"))
            else { return false }
            guard !p.isNegative, !q.isNegative else { return false }
            levels.append(BookLevel(price: p, quantity: q))
            if r.consume(UInt8(ascii: ",")) { continue }
            return r.consume(UInt8(ascii: "]"))
        }
    }

    /// True when `raw` begins with `prefix`.
    static func hasPrefix(_ raw: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        guard raw.count >= n else { return false }
        let p = prefix.utf8Start
        for i in 0..<n where raw[i] != p[i] { return false }
        return true
    }

    /// The bytes of `raw` after the first `n`.
    static func dropping(_ raw: UnsafeRawBufferPointer, _ n: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: raw[min(n, raw.count)...])
    }

    /// Milliseconds since the epoch as ``UnixNanos``; `nil` when negative or too large to convert.
    static func nanos(milliseconds ms: Int64?) -> UnixNanos? {
        guard let ms, ms >= 0, ms <= Int64.max / 1_000_000 else { return nil }
        return .milliseconds(ms)
    }
}
