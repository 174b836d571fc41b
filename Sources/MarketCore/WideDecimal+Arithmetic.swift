/// Arithmetic the paper-trading services need on top of sums: products of wide values, rounding,
/// signs. Overflow is reported as `nil`, as everywhere else.
extension WideDecimal {
    public var isNegative: Bool { mantissa < 0 }
    public var isPositive: Bool { mantissa > 0 }

    public var negated: WideDecimal { WideDecimal(mantissa: -mantissa, scale: scale, displayScale: displayScale) }
    public var magnitude: WideDecimal { isNegative ? negated : self }

    public init(_ integer: Int) { self.init(mantissa: Int128(integer), scale: 0, displayScale: 0) }

    /// The exact product, or `nil` when it does not fit; a product needing more than 36 fraction
    /// digits is rounded half-even to 36.
    public func multiplied(by other: WideDecimal) -> WideDecimal? {
        var (p, o) = mantissa.multipliedReportingOverflow(by: other.mantissa)
        var s = Int(scale) + Int(other.scale)
        if o {
            // Trailing fraction zeros (`460485000000000000.000000000000000`) can overflow the raw
            // product of a value that fits: without them, once more.
            let (a, b) = (trimmed, other.trimmed)
            (p, o) = a.mantissa.multipliedReportingOverflow(by: b.mantissa)
            guard !o else { return nil }
            s = Int(a.scale) + Int(b.scale)
        }
        let display = min(Int(displayScale) + Int(other.displayScale), Int(Self.maxScale))
        if s <= Int(Self.maxScale) { return WideDecimal(mantissa: p, scale: UInt8(s), displayScale: UInt8(display)) }
        return WideDecimal.roundHalfEven(p, dropping: s - Int(Self.maxScale)).map {
            WideDecimal(mantissa: $0, scale: Self.maxScale, displayScale: Self.maxScale)
        }
    }

    public func multiplied(by other: FixedDecimal) -> WideDecimal? { multiplied(by: WideDecimal(other)) }

    /// Rounded half-even to at most `digits` fraction digits (values with fewer digits are unchanged).
    public func rounded(toFractionDigits digits: Int) -> WideDecimal {
        guard Int(scale) > digits, digits >= 0 else { return self }
        let m = WideDecimal.roundHalfEven(mantissa, dropping: Int(scale) - digits) ?? 0
        return WideDecimal(mantissa: m, scale: UInt8(digits), displayScale: UInt8(digits))
    }

    /// The value with trailing fraction zeros removed from its printed form (`12.5000` → `12.5`).
    public var trimmed: WideDecimal {
        var m = mantissa
        var s = scale
        while s > 0, m % 10 == 0 {
            m /= 10
            s -= 1
        }
        return WideDecimal(mantissa: m, scale: s, displayScale: s)
    }

    static func roundHalfEven(_ m: Int128, dropping digits: Int) -> Int128? {
        guard digits > 0 else { return m }
        guard digits < Pow10.int128.count else { return 0 }
        let p = Pow10.int128[digits]
        var (q, r) = m.quotientAndRemainder(dividingBy: p)
        let twice = r.magnitude * 2
        if twice > p.magnitude || (twice == p.magnitude && q % 2 != 0) { q += m < 0 ? -1 : 1 }
        return q
    }
}
