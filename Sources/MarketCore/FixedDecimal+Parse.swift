/// Why a decimal string was rejected.
public enum DecimalParseError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case invalidCharacter(offset: Int)
    case tooManyFractionDigits
    case overflow

    public var description: String {
        switch self {
        case .empty: "empty number"
        case .invalidCharacter(let offset): "invalid character at offset \(offset)"
        case .tooManyFractionDigits: "more significant fraction digits than the decimal type holds"
        case .overflow: "value does not fit the decimal type"
        }
    }
}

extension FixedDecimal {
    /// Parses the exact decimal text an exchange sends (`"61837.63000000"`, `"-0.5"`, `"0.0000000123"`).
    ///
    /// Accepts an optional leading `-`, digits and at most one `.`; no exponent, no spaces.
    /// Trailing fraction zeros are kept only as ``displayScale``, so they never overflow the mantissa.
    /// - Returns: the value, or a typed error; never a rounded value.
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Result<FixedDecimal, DecimalParseError> {
        // NUL never belongs to a number, so it works as "no terminator": a NUL byte fails below.
        let (result, end) = parse(bytes, from: 0, terminator: 0)
        if case .success = result, end != bytes.count { return .failure(.invalidCharacter(offset: end)) }
        return result
    }

    /// Parses a number starting at `start` and stopping at the first `terminator` byte (or the end).
    /// Used directly on JSON bytes so a quoted price is read in one pass (`"61837.63000000"`).
    /// - Returns: the value or error, and the index of the terminator (or the end).
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer, from start: Int, terminator: UInt8)
        -> (Result<FixedDecimal, DecimalParseError>, Int)
    {
        if let fast = parseEightWide(bytes, from: start, terminator: terminator) { return (.success(fast.value), fast.end) }
        let n = bytes.count
        var i = start
        guard i < n, bytes[i] != terminator else { return (.failure(.empty), i) }
        var negative = false
        if bytes[i] == UInt8(ascii: "-") {
            negative = true
            i &+= 1
        }
        var m: UInt64 = 0
        var scale = 0
        var pendingZeros = 0
        var fractionDigits = 0
        var inFraction = false
        var sawDigit = false
        let limit = UInt64(Int64.max)
        while i < n {
            let c = bytes[i]
            let d = c &- 48
            if d < 10 {
                sawDigit = true
                if inFraction {
                    fractionDigits &+= 1
                    if d == 0 {
                        pendingZeros &+= 1
                    } else {
                        // Flush the zeros seen since the last non-zero fraction digit, then this digit.
                        let k = pendingZeros &+ 1
                        scale &+= k
                        if scale > Int(FixedDecimal.maxScale) { return (.failure(.tooManyFractionDigits), i) }
                        let (p, o) = m.multipliedReportingOverflow(by: UInt64(Pow10.int64(k)))
                        if o || p > limit &- UInt64(d) { return (.failure(.overflow), i) }
                        m = p &+ UInt64(d)
                        pendingZeros = 0
                    }
                } else {
                    let (p, o) = m.multipliedReportingOverflow(by: 10)
                    if o || p > limit &- UInt64(d) { return (.failure(.overflow), i) }
                    m = p &+ UInt64(d)
                }
            } else if c == UInt8(ascii: "."), !inFraction {
                inFraction = true
            } else if c == terminator {
                break
            } else {
                return (.failure(.invalidCharacter(offset: i - start)), i)
            }
            i &+= 1
        }
        guard sawDigit else { return (.failure(.empty), i) }
        if fractionDigits > Int(FixedDecimal.maxDisplayScale) { return (.failure(.tooManyFractionDigits), i) }
        let signed = negative ? -Int64(m) : Int64(m)
        return (
            .success(FixedDecimal(canonicalMantissa: signed, scale: UInt8(scale), displayScale: UInt8(fractionDigits))), i
        )
    }

    /// The common shape of exchange numbers, read eight fraction digits at a time: an optional `-`,
    /// 1–10 integer digits, `.`, 1–8 fraction digits, then the terminator or the end (Binance writes
    /// `"61837.63000000"` ~90 times per depth frame). `nil` for anything else, which the digit loop
    /// then decides; whenever this returns a value it is the one the digit loop gives (tested).
    @inlinable
    static func parseEightWide(_ bytes: UnsafeRawBufferPointer, from start: Int, terminator: UInt8)
        -> (value: FixedDecimal, end: Int)?
    {
        let n = bytes.count
        var i = start
        guard i < n else { return nil }
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i &+= 1 }
        let integerStart = i
        var integer: UInt64 = 0
        while i < n, i &- integerStart < 11 {
            let d = bytes[i] &- 48
            guard d < 10 else { break }
            integer = integer &* 10 &+ UInt64(d)
            i &+= 1
        }
        // 10 integer digits and 8 fraction digits stay below 10^18 < Int64.max.
        let integerDigits = i &- integerStart
        guard integerDigits > 0, integerDigits <= 10, i < n, bytes[i] == UInt8(ascii: "."), i &+ 9 <= n else {
            return nil
        }
        i &+= 1
        // Little-endian load: the first fraction character is the lowest byte.
        let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        let digits = word &- 0x3030_3030_3030_3030
        // High bit of each byte that is not a digit. Borrows and carries only move towards later
        // bytes, so every byte before the first non-digit is exact.
        let notDigit = (digits | (digits &+ 0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080
        let count = notDigit == 0 ? 8 : notDigit.trailingZeroBitCount >> 3
        let end = i &+ count
        guard count > 0, end == n || bytes[end] == terminator else { return nil }
        let fraction = count == 8 ? digits : digits & ((1 &<< UInt64(count &* 8)) &- 1)
        // Trailing zero digits are the high zero bytes above the (8 - count) masked ones.
        let kept = count &- (fraction.leadingZeroBitCount >> 3 &- (8 &- count))
        var value: UInt64 = 0
        if kept > 0 {
            // Keep the first `kept` digits as the low end of an 8-digit number (zeros shifted in
            // at the front), then combine digit pairs, quads and octets.
            var v = fraction &<< UInt64((8 &- kept) &* 8)
            v = (v &* 10 &+ (v &>> 8)) & 0x00FF_00FF_00FF_00FF
            v = (v &* 100 &+ (v &>> 16)) & 0x0000_FFFF_0000_FFFF
            v = (v &* 10000 &+ (v &>> 32)) & 0xFFFF_FFFF
            value = v
        }
        let magnitude = Int64(integer) &* Pow10.int64(kept) &+ Int64(value)
        return (
            FixedDecimal(
                canonicalMantissa: negative ? -magnitude : magnitude, scale: UInt8(kept), displayScale: UInt8(count)),
            end
        )
    }

    /// Parses decimal text from a `String` (cold paths, tests, configuration).
    public init(parsing text: String) throws(DecimalParseError) {
        var copy = text
        let result = copy.withUTF8 { Self.parse(UnsafeRawBufferPointer($0)) }
        switch result {
        case .success(let v): self = v
        case .failure(let e): throw e
        }
    }

    /// Parses decimal text, or `nil` when it is not an exact representable decimal.
    public init?(_ text: String) {
        guard let v = try? FixedDecimal(parsing: text) else { return nil }
        self = v
    }
}
