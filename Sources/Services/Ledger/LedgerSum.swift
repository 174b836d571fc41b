public import MarketCore

/// An exact sum of many ledger amounts (each within ``Money``'s range: 18 fraction digits, under
/// 10^20), wide enough that adding every balance of a large ledger cannot overflow: a whole part in
/// an `Int128` and a fraction in [0, 10^18). The reconciliation adds with this rather than
/// `WideDecimal`, whose mantissa a few hundred balances near the range's edge would overflow.
public struct LedgerSum: Sendable, Hashable, Comparable, CustomStringConvertible {
    static let unit = Int128(1_000_000_000_000_000_000)  // 10^18
    /// value = whole + fraction / 10^18.
    private(set) var whole: Int128 = 0
    private(set) var fraction: Int128 = 0

    public static let zero = LedgerSum()

    public init() {}

    public init(_ value: WideDecimal) { add(value) }

    public var isZero: Bool { whole == 0 && fraction == 0 }

    /// Adds `value`. It must have at most 18 fraction digits after trimming (every ledger amount has).
    public mutating func add(_ value: WideDecimal) {
        let t = value.trimmed
        precondition(Int(t.scale) <= Money.fractionDigits, "ledger amounts have at most 18 fraction digits")
        // Split before scaling: whole part of |value| < 2^127, fraction digits < 10^18.
        let p = Pow10.int128[Int(t.scale)]
        let (q, r) = t.mantissa.quotientAndRemainder(dividingBy: p)
        whole += q
        fraction += r * Pow10.int128[Money.fractionDigits - Int(t.scale)]
        normalize()
    }

    public mutating func add(_ other: LedgerSum) {
        whole += other.whole
        fraction += other.fraction
        normalize()
    }

    public var negated: LedgerSum {
        var s = LedgerSum()
        s.whole = -whole
        s.fraction = -fraction
        s.normalize()
        return s
    }

    public static func + (a: LedgerSum, b: LedgerSum) -> LedgerSum {
        var s = a
        s.add(b)
        return s
    }

    public static func - (a: LedgerSum, b: LedgerSum) -> LedgerSum { a + b.negated }

    private mutating func normalize() {
        if fraction >= Self.unit || fraction < 0 {
            let (q, r) = fraction.quotientAndRemainder(dividingBy: Self.unit)
            whole += q
            fraction = r
            if fraction < 0 {
                fraction += Self.unit
                whole -= 1
            }
        }
    }

    /// The sum as a `WideDecimal` when it fits one (always, for sums within the ledger's range).
    public var wide: WideDecimal? {
        let (m, o) = whole.multipliedReportingOverflow(by: Self.unit)
        guard !o else { return nil }
        let (v, o2) = m.addingReportingOverflow(fraction)
        guard !o2 else { return nil }
        return WideDecimal(mantissa: v, scale: UInt8(Money.fractionDigits), displayScale: 0).trimmed
    }

    public static func < (a: LedgerSum, b: LedgerSum) -> Bool { (a.whole, a.fraction) < (b.whole, b.fraction) }

    /// Plain decimal text without trailing zeros (`-7`, `0.5`, `950`).
    public var description: String {
        let negative = whole < 0
        // −(w + f) with f ∈ [0, 1): magnitude = |w| − f when f > 0.
        var w = whole.magnitude
        var f = fraction
        if negative && f > 0 {
            w -= 1
            f = Self.unit - f
        }
        var text = (negative ? "-" : "") + String(w)
        if f > 0 {
            var digits = String(f)
            digits = String(repeating: "0", count: Money.fractionDigits - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text
    }
}
