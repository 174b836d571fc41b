import MarketCore

/// Binance's level arrays, read where a ``JSONScanner`` stands (Binance frames are read in one pass
/// by the payload readers in `BinanceAdapter+Inline.swift`, with the exact-form fast path in
/// `BinanceAdapter+Exact.swift`; there is no range view).
///
/// A recorded frame (`Tests/Fixtures/binance/spot-btcusdt-2024-08-08.jsonl.gz`):
/// ```json
/// {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,
///  "u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"],
///  ["61844.30000000","0.40163000"],["61862.50000000","0.05019000"],["61862.51000000","0.00000000"]]}}
/// ```
/// USD-M and COIN-M add `"T"` and `"pu"` (`binance/usdm-multi-2021-07-22.jsonl.gz`).
extension BinanceAdapter {
    /// `[["61837.63000000","3.78826000"], ...]` at `at` into `levels`.
    static func levels(_ bytes: UnsafeRawBufferPointer, _ at: Int, into levels: inout [BookLevel]) -> Bool {
        var r = JSONScanner(bytes, index: at)
        return Self.levels(&r, into: &levels)
    }

    /// Reads a level array where the scanner stands. Reserves once (a level takes at least 10 bytes
    /// of JSON) instead of growing from empty: depth frames carry ~45 levels.
    static func levels(_ r: inout JSONScanner, into levels: inout [BookLevel]) -> Bool {
        let start = levels.count
        if let end = compactLevels(r.bytes, from: r.index, into: &levels) {
            r.index = end
            return Self.nonNegative(levels[start...])
        }
        // Not in Binance's compact form (spaces, extra elements, bad values): the general reader decides.
        levels.removeSubrange(start...)
        guard r.beginArray() else { return false }
        var reserved = false
        while r.nextElement() {
            if !reserved {
                levels.reserveCapacity(min((r.bytes.count - r.index) / 20 + 1, 1024))
                reserved = true
            }
            guard r.beginArray(), let p = r.readDecimal(), r.nextElement(), let q = r.readDecimal() else { return false }
            // Tolerate extra elements after price and quantity.
            while r.nextElement() { guard r.skipValue() != nil else { return false } }
            if r.failed { return false }
            levels.append(BookLevel(price: p, quantity: q))
        }
        return !r.failed && Self.nonNegative(levels[start...])
    }

    /// A negative price or size is no level at all (found by fuzzing: `"-0.00046000"` reached the book).
    static func nonNegative(_ levels: ArraySlice<BookLevel>) -> Bool {
        levels.allSatisfy { !$0.price.isNegative && !$0.quantity.isNegative }
    }

    /// Binance's exact level form `[["61837.63000000","3.78826000"],…]` (no whitespace), read with
    /// fixed expectations and one pass per number; `nil` as soon as the bytes differ from that form.
    /// The depth stream is about half numbers, so this is most of its parsing cost.
    static func compactLevels(_ b: UnsafeRawBufferPointer, from start: Int, into levels: inout [BookLevel]) -> Int? {
        let n = b.count
        let quote = UInt8(ascii: "\"")
        var i = start
        guard i + 1 < n, b[i] == UInt8(ascii: "[") else { return nil }
        i &+= 1
        if b[i] == UInt8(ascii: "]") { return i &+ 1 }
        levels.reserveCapacity(levels.count + min((n - i) / 20 + 1, 1024))
        while true {
            guard i &+ 1 < n, b[i] == UInt8(ascii: "["), b[i &+ 1] == quote else { return nil }
            let (price, priceEnd) = FixedDecimal.parse(b, from: i &+ 2, terminator: quote)
            guard case .success(let p) = price, priceEnd &+ 2 < n, b[priceEnd &+ 1] == UInt8(ascii: ","),
                b[priceEnd &+ 2] == quote
            else { return nil }
            let (quantity, quantityEnd) = FixedDecimal.parse(b, from: priceEnd &+ 3, terminator: quote)
            guard case .success(let q) = quantity, quantityEnd &+ 2 < n, b[quantityEnd &+ 1] == UInt8(ascii: "]") else {
                return nil
            }
            levels.append(BookLevel(price: p, quantity: q))
            i = quantityEnd &+ 2
            if b[i] == UInt8(ascii: ",") {
                i &+= 1
            } else if b[i] == UInt8(ascii: "]") {
                return i &+ 1
            } else {
                return nil
            }
        }
    }
}
