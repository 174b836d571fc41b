/// A wide exact decimal for sums and notionals: an `Int128` mantissa and a scale up to 36.
///
/// Volumes, quote volumes and price × quantity products are accumulated here so the hot-path
/// ``FixedDecimal`` stays one word wide. The mantissa is not kept canonical (sums of values at one
/// scale stay at that scale, which is cheap); equality and ordering compare values, not digits.
/// Operations that would overflow return `nil` and the caller reports it.
public struct WideDecimal: Sendable, Hashable, Comparable, CustomStringConvertible {
    // The mantissa is stored as two words rather than an `Int128`: a 16-byte-aligned field made
    // debug builds of Swift 6.3 emit aligned SSE moves on misaligned stack slots for
    // `Optional<WideDecimal>` values (a crash); 8-byte alignment avoids it.
    private let low: UInt64
    private let high: Int64
    public var mantissa: Int128 { Int128(high) << 64 | Int128(low) }
    public let scale: UInt8
    /// Fraction digits to print (at least `scale`): the natural scale of the inputs.
    public let displayScale: UInt8

    public static let maxScale: UInt8 = 36
    public static let zero = WideDecimal(mantissa: 0, scale: 0, displayScale: 0)

    public init(mantissa: Int128, scale: UInt8, displayScale: UInt8) {
        precondition(scale <= Self.maxScale, "WideDecimal scale out of range")
        self.low = UInt64(truncatingIfNeeded: mantissa)
        self.high = Int64(truncatingIfNeeded: mantissa >> 64)
        self.scale = scale
        self.displayScale = max(scale, displayScale)
    }

    public init(_ value: FixedDecimal) {
        self.init(mantissa: Int128(value.mantissa), scale: value.scale, displayScale: value.displayScale)
    }

    public var isZero: Bool { mantissa == 0 }

    /// The exact product `a × b` (a notional), printed at the sum of the inputs' display scales.
    public static func product(_ a: FixedDecimal, _ b: FixedDecimal) -> WideDecimal {
        // |a|,|b| < 2⁶³ so the product fits in Int128; scales ≤ 18 each, so ≤ 36.
        WideDecimal(
            mantissa: Int128(a.mantissa) * Int128(b.mantissa), scale: a.scale + b.scale,
            displayScale: UInt8(min(Int(a.displayScale) + Int(b.displayScale), Int(maxScale))))
    }

    /// `self + other`, or `nil` on overflow.
    public func adding(_ other: WideDecimal) -> WideDecimal? {
        // A candle's sums add values of one scale trade after trade: no rescaling to call.
        if scale == other.scale {
            let (sum, o) = mantissa.addingReportingOverflow(other.mantissa)
            return o ? nil : WideDecimal(mantissa: sum, scale: scale, displayScale: max(displayScale, other.displayScale))
        }
        let s = max(scale, other.scale)
        guard let a = Self.rescale(mantissa, from: scale, to: s),
            let b = Self.rescale(other.mantissa, from: other.scale, to: s)
        else { return nil }
        let (sum, o) = a.addingReportingOverflow(b)
        if o { return nil }
        return WideDecimal(mantissa: sum, scale: s, displayScale: max(displayScale, other.displayScale))
    }

    public func adding(_ other: FixedDecimal) -> WideDecimal? { adding(WideDecimal(other)) }

    /// `self - other`, or `nil` on overflow.
    public func subtracting(_ other: WideDecimal) -> WideDecimal? {
        adding(WideDecimal(mantissa: -other.mantissa, scale: other.scale, displayScale: other.displayScale))
    }

    /// Exactly half of this value (one more digit of scale when the mantissa is odd).
    public func halved() -> WideDecimal? {
        if mantissa % 2 == 0 { return WideDecimal(mantissa: mantissa / 2, scale: scale, displayScale: displayScale) }
        guard scale < Self.maxScale else { return nil }
        let (m, o) = mantissa.multipliedReportingOverflow(by: 5)
        if o { return nil }
        return WideDecimal(mantissa: m, scale: scale + 1, displayScale: max(displayScale, scale + 1))
    }

    /// `self ÷ divisor` rounded half-even to `digits` fraction digits (printed with exactly that many).
    /// - Returns: `nil` when `divisor` is zero or the quotient does not fit.
    public func divided(by divisor: WideDecimal, roundingToFractionDigits digits: Int) -> WideDecimal? {
        guard divisor.mantissa != 0, digits >= 0, digits <= Int(Self.maxScale) else { return nil }
        // q = self.m × 10^(digits + d.s − self.s) / d.m
        let shift = digits + Int(divisor.scale) - Int(scale)
        var num = mantissa
        var den = divisor.mantissa
        if shift >= 0 {
            guard shift < Pow10.int128.count else { return nil }
            let (p, o) = num.multipliedReportingOverflow(by: Pow10.int128[shift])
            if o { return nil }
            num = p
        } else {
            guard -shift < Pow10.int128.count else { return nil }
            let (p, o) = den.multipliedReportingOverflow(by: Pow10.int128[-shift])
            if o { return nil }
            den = p
        }
        if den < 0 {
            den = -den
            num = -num
        }
        var (q, r) = num.quotientAndRemainder(dividingBy: den)
        // Half-even: compare 2|r| with den.
        let twice = r.magnitude * 2
        if twice > den.magnitude || (twice == den.magnitude && q % 2 != 0) {
            q += num < 0 ? -1 : 1
        }
        r = 0
        return WideDecimal(mantissa: q, scale: UInt8(digits), displayScale: UInt8(digits))
    }

    /// The same value as a ``FixedDecimal`` when it fits one, keeping the display scale.
    public func narrowed() -> FixedDecimal? {
        var m = mantissa
        var s = Int(scale)
        while s > 0, m % 10 == 0 {
            m /= 10
            s -= 1
        }
        guard s <= Int(FixedDecimal.maxScale), let m64 = Int64(exactly: m) else { return nil }
        return FixedDecimal(mantissa: m64, scale: s, displayScale: min(Int(displayScale), Int(FixedDecimal.maxDisplayScale)))
    }

    static func rescale(_ m: Int128, from: UInt8, to: UInt8) -> Int128? {
        if from == to { return m }
        let (r, o) = m.multipliedReportingOverflow(by: Pow10.int128[Int(to - from)])
        return o ? nil : r
    }

    public static func == (lhs: WideDecimal, rhs: WideDecimal) -> Bool {
        !(lhs < rhs) && !(rhs < lhs)
    }

    public func hash(into hasher: inout Hasher) {
        // Hash the canonical form so equal values hash alike.
        var m = mantissa
        var s = scale
        while s > 0, m % 10 == 0 {
            m /= 10
            s -= 1
        }
        hasher.combine(m)
        hasher.combine(s)
    }

    public static func < (lhs: WideDecimal, rhs: WideDecimal) -> Bool {
        if lhs.scale == rhs.scale { return lhs.mantissa < rhs.mantissa }
        let s = max(lhs.scale, rhs.scale)
        let a = rescale(lhs.mantissa, from: lhs.scale, to: s)
        let b = rescale(rhs.mantissa, from: rhs.scale, to: s)
        switch (a, b) {
        case let (a?, b?): return a < b
        // A side that overflows when rescaled has the larger magnitude.
        case (nil, _): return lhs.mantissa < 0
        case (_, nil): return rhs.mantissa > 0
        }
    }

    public var description: String {
        var out: [UInt8] = []
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func write(into out: inout [UInt8]) {
        DecimalText.write(
            negative: mantissa < 0, magnitude: mantissa.magnitude, scale: Int(scale),
            displayScale: Int(displayScale), into: &out)
    }
}

extension WideDecimal {
    /// Parses exact decimal text (`"-12.50"`, `"123456789012345678901234.5"`): an optional `-`,
    /// digits and at most one `.`. The written fraction digits become the scale and display scale.
    /// - Returns: `nil` for malformed text, more than 36 fraction digits, or overflow.
    public static func parse(_ text: String) -> WideDecimal? {
        var mantissa: Int128 = 0
        var scale = 0
        var negative = false
        var sawDot = false
        var digits = 0
        for (i, c) in text.utf8.enumerated() {
            switch c {
            case UInt8(ascii: "-") where i == 0:
                negative = true
            case UInt8(ascii: "."):
                guard !sawDot else { return nil }
                sawDot = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let (m1, o1) = mantissa.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(Int128(c &- UInt8(ascii: "0")))
                guard !o1, !o2 else { return nil }
                mantissa = m2
                digits += 1
                if sawDot { scale += 1 }
            default:
                return nil
            }
        }
        guard digits > 0, scale <= Int(maxScale) else { return nil }
        return WideDecimal(mantissa: negative ? -mantissa : mantissa, scale: UInt8(scale), displayScale: UInt8(scale))
    }
}
