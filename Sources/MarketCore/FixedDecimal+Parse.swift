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
