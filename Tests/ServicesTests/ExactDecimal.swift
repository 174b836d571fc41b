import BigInt
import MarketCore

/// The tests' own exact decimal: an arbitrary-size integer and a scale (BigInt), parsed from
/// printed text. Independent of WideDecimal and of the services' arithmetic, so it can say what
/// every ledger amount must be — and which ones cannot be held.
struct Exact: Comparable, CustomStringConvertible {
    var m: BigInt
    var s: Int

    init(_ m: BigInt, _ s: Int) {
        self.m = m
        self.s = s
    }

    init(_ text: String) {
        var digits = text
        var negative = false
        if digits.hasPrefix("-") {
            negative = true
            digits.removeFirst()
        }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        let m = BigInt(String(parts[0]) + fraction)!
        self.init(negative ? -m : m, fraction.count)
    }

    init(_ w: WideDecimal) { self.init(w.description) }

    static let zero = Exact(0, 0)
    static func pow10(_ e: Int) -> BigInt { BigInt(10).power(e) }

    func at(_ scale: Int) -> BigInt { m * Exact.pow10(scale - s) }  // scale ≥ s

    static func + (a: Exact, b: Exact) -> Exact { let s = max(a.s, b.s); return Exact(a.at(s) + b.at(s), s) }
    static func - (a: Exact, b: Exact) -> Exact { let s = max(a.s, b.s); return Exact(a.at(s) - b.at(s), s) }
    static func * (a: Exact, b: Exact) -> Exact { Exact(a.m * b.m, a.s + b.s) }
    static func < (a: Exact, b: Exact) -> Bool { let s = max(a.s, b.s); return a.at(s) < b.at(s) }
    static func == (a: Exact, b: Exact) -> Bool { let s = max(a.s, b.s); return a.at(s) == b.at(s) }

    var isNegative: Bool { m < 0 }
    var isPositive: Bool { m > 0 }

    /// Fraction digits once trailing zeros are dropped.
    var significantScale: Int {
        var m = self.m
        var s = self.s
        while s > 0, m % 10 == 0 {
            m /= 10
            s -= 1
        }
        return s
    }

    /// The ledger's range as docs/trading.md states it: magnitude under 10^20, at most 18 fraction digits.
    var fitsLedger: Bool {
        significantScale <= 18 && (m < 0 ? -m : m) < Exact.pow10(20) * Exact.pow10(s)
    }

    /// Rounded half-even to `digits` fraction digits.
    func roundedHalfEven(_ digits: Int) -> Exact {
        guard s > digits else { return self }
        let d = Exact.pow10(s - digits)
        var (q, r) = m.quotientAndRemainder(dividingBy: d)
        let twice = (r < 0 ? -r : r) * 2
        if twice > d || (twice == d && q % 2 != 0) { q += m < 0 ? -1 : 1 }
        return Exact(q, digits)
    }

    /// a × b ÷ c truncated toward zero at `digits` fraction digits.
    static func mulDivTowardZero(_ a: Exact, _ b: Exact, _ c: Exact, digits: Int) -> Exact {
        // (a.m b.m / 10^(a.s+b.s)) / (c.m / 10^c.s) × 10^digits
        let e = digits + c.s - a.s - b.s
        var num = a.m * b.m
        var den = c.m
        if e >= 0 { num *= pow10(e) } else { den *= pow10(-e) }
        return Exact(num / den, digits)  // BigInt division truncates toward zero
    }

    /// a × b ÷ c rounded half-even at `digits` fraction digits.
    static func mulDivHalfEven(_ a: Exact, _ b: Exact, _ c: Exact, digits: Int) -> Exact {
        let e = digits + c.s - a.s - b.s
        var num = a.m * b.m
        var den = c.m
        if e >= 0 { num *= pow10(e) } else { den *= pow10(-e) }
        var (q, r) = num.quotientAndRemainder(dividingBy: den)
        let twice = (r < 0 ? -r : r) * 2
        let d = den < 0 ? -den : den
        if twice > d || (twice == d && q % 2 != 0) { q += (num < 0) != (den < 0) ? -1 : 1 }
        return Exact(q, digits)
    }

    var description: String {
        let negative = m < 0
        var digits = String(negative ? -m : m)
        if s > 0 {
            if digits.count <= s { digits = String(repeating: "0", count: s - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -s))
        }
        return (negative ? "-" : "") + digits
    }
}
