public import MarketCore

/// Why the ledger refused an operation: a stable `code` for clients (HTTP 422) and a message that
/// names the amount.
public struct LedgerError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// An amount the operation computes would leave the ledger's range (``Money``).
        case amountOverflow = "amount_overflow"
        /// The result would break an account invariant (a negative balance, more reserved than held).
        case ledgerInvariant = "ledger_invariant"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Checked arithmetic of the paper-trading ledger.
///
/// Every amount the ledger holds or computes — deposits, balances, reservations, quantities,
/// prices, notionals, fees, cost bases, realized P&L — is exact, with at most 18 fraction digits
/// and a magnitude under 10^20. Both limits together fit an `Int128` mantissa at scale 18 with
/// room for one more sum, so checking each result is enough: an operation whose result leaves the
/// range throws ``LedgerError/Code/amountOverflow`` and is refused, never clamped, wrapped or
/// replaced by zero. Only fees (half-even), a partial sell's share of the cost basis (toward zero)
/// and display prices (VWAP, average entry; 12 digits, half-even) are rounded, each in ``mulDiv``.
public enum Money {
    public static let fractionDigits = 18
    /// Exclusive bound of every amount's magnitude: 10^20.
    public static let limit = WideDecimal(mantissa: Pow10.int128[20], scale: 0, displayScale: 0)

    /// `value` when it is within the ledger's range (`nil` means an operation already overflowed).
    public static func checked(_ value: WideDecimal?, _ amount: @autoclosure () -> String) throws(LedgerError) -> WideDecimal {
        guard let value else { throw tooLarge(amount()) }
        let t = value.trimmed
        guard Int(t.scale) <= fractionDigits else {
            throw LedgerError(.amountOverflow, "\(amount()) needs more than \(fractionDigits) fraction digits")
        }
        guard t < limit, t > limit.negated else { throw tooLarge(amount()) }
        // Keep the natural display digits unless they are beyond what is stored.
        return value.scale > UInt8(fractionDigits) ? t : value
    }

    static func tooLarge(_ amount: String) -> LedgerError {
        LedgerError(.amountOverflow, "\(amount) is beyond the ledger's range (magnitude under 10^20)")
    }

    /// The exact sum; inputs written with more zeros than they need (`1.000…0` past 18 digits) are
    /// trimmed first when the sum would otherwise not fit.
    public static func add(_ a: WideDecimal, _ b: WideDecimal, _ amount: @autoclosure () -> String) throws(LedgerError) -> WideDecimal {
        try checked(a.adding(b) ?? a.trimmed.adding(b.trimmed), amount())
    }

    public static func subtract(_ a: WideDecimal, _ b: WideDecimal, _ amount: @autoclosure () -> String) throws(LedgerError) -> WideDecimal {
        try checked(a.subtracting(b) ?? a.trimmed.subtracting(b.trimmed), amount())
    }

    /// The exact product (never rounded), printed with the inputs' display digits (100.10 × 0.50 =
    /// 50.0500) where they fit the stored digits.
    public static func multiply(_ a: WideDecimal, _ b: WideDecimal, _ amount: @autoclosure () -> String) throws(LedgerError) -> WideDecimal {
        guard let p = exactProduct(a, b) else {
            throw LedgerError(.amountOverflow, "\(amount()) (\(a) × \(b)) is beyond the ledger's range")
        }
        return try checked(p, amount())
    }

    /// `amount × rate` rounded half-even to 18 fraction digits (the fee rule).
    public static func fee(_ notional: WideDecimal, rate: WideDecimal, _ amount: @autoclosure () -> String = "fee") throws(LedgerError) -> WideDecimal {
        try checked(mulDiv(notional, rate, WideDecimal(1), digits: fractionDigits, .halfEven)?.trimmed, amount())
    }

    /// The exact product with the factors of ten cancelled first, so a product whose value fits
    /// is found even when the raw mantissas' product would not fit an `Int128`.
    static func exactProduct(_ x: WideDecimal, _ y: WideDecimal) -> WideDecimal? {
        let a = x.trimmed
        let b = y.trimmed
        var ma = a.mantissa
        var mb = b.mantissa
        var s = Int(a.scale) + Int(b.scale)
        // ma·mb / 10^s: move factors 10 (a 2 from one side, a 5 from the other) out of the scale.
        while s > 0 {
            if ma % 10 == 0 {
                ma /= 10
            } else if mb % 10 == 0 {
                mb /= 10
            } else if ma % 2 == 0 && mb % 5 == 0 {
                ma /= 2
                mb /= 5
            } else if ma % 5 == 0 && mb % 2 == 0 {
                ma /= 5
                mb /= 2
            } else {
                break
            }
            s -= 1
        }
        guard s <= Int(WideDecimal.maxScale) else { return nil }
        let (p, o) = ma.multipliedReportingOverflow(by: mb)
        guard !o else { return nil }
        let display = max(s, min(Int(x.displayScale) + Int(y.displayScale), fractionDigits))
        return WideDecimal(mantissa: p, scale: UInt8(s), displayScale: UInt8(display))
    }

    public enum Rounding: Sendable { case towardZero, halfEven }

    /// `a × b ÷ c` at `digits` fraction digits, rounded as asked, computed on 256-bit intermediates
    /// so a large product does not overflow on its way to a result that fits.
    /// - Returns: `nil` when `c` is zero or the result does not fit an `Int128` mantissa.
    public static func mulDiv(_ a: WideDecimal, _ b: WideDecimal, _ c: WideDecimal, digits: Int, _ rounding: Rounding) -> WideDecimal? {
        guard !c.isZero, digits >= 0, digits <= Int(WideDecimal.maxScale) else { return nil }
        let negative = !a.isZero && !b.isZero && ((a.isNegative != b.isNegative) != c.isNegative)
        let divisor = c.mantissa.magnitude
        // value = A·B ÷ C × 10^(c.scale − a.scale − b.scale); the wanted mantissa is A·B·10^e ÷ C.
        let e = digits + Int(c.scale) - Int(a.scale) - Int(b.scale)
        var (q, r) = divide(a.mantissa.magnitude.multipliedFullWidth(by: b.mantissa.magnitude), by: divisor)
        var up = false
        if e >= 0 {
            guard q.high == 0 else { return nil }  // already ≥ 2^128 before scaling up
            var m = q.low
            // Long division, one decimal digit at a time: r < C, so 10·r ÷ C < 10.
            for _ in 0..<e {
                let (mh, ml) = m.multipliedFullWidth(by: 10)
                guard mh == 0 else { return nil }
                let (d, r2) = divisor.dividingFullWidth(r.multipliedFullWidth(by: 10))
                let (sum, o) = ml.addingReportingOverflow(d)
                guard !o else { return nil }
                m = sum
                r = r2
            }
            if rounding == .halfEven {
                // r < C ≤ 2^127, so 2r does not overflow.
                let twice = r * 2
                up = twice > divisor || (twice == divisor && m % 2 == 1)
            }
            q = (0, m)
        } else {
            // Drop −e more digits in chunks of at most 38 (10^38 < 2^128). Half-even needs only the
            // last chunk's remainder and whether anything dropped before it was non-zero.
            var k = -e
            var sticky = r != 0
            var lastRemainder: UInt128 = 0
            var lastDivisor: UInt128 = 1
            while k > 0 {
                let j = min(k, 38)
                sticky = sticky || lastRemainder != 0
                lastDivisor = UInt128(Pow10.int128[j])
                (q, lastRemainder) = divide(q, by: lastDivisor)
                k -= j
            }
            if rounding == .halfEven {
                // The dropped fraction is (lastRemainder + f) ÷ D with f ∈ [0, 1) non-zero iff sticky;
                // D is even, so 2·lastRemainder = D is the only case that needs f.
                let twice = lastRemainder * 2
                up = twice > lastDivisor || (twice == lastDivisor && (sticky || q.low % 2 == 1))
            }
        }
        guard q.high == 0 else { return nil }
        var m = q.low
        if up {
            let (sum, o) = m.addingReportingOverflow(1)
            guard !o else { return nil }
            m = sum
        }
        guard m <= UInt128(Int128.max) else { return nil }
        return WideDecimal(mantissa: negative ? -Int128(m) : Int128(m), scale: UInt8(digits), displayScale: UInt8(digits))
    }

    /// A 256-bit number divided by a 128-bit one: the 256-bit quotient and the remainder.
    static func divide(_ n: (high: UInt128, low: UInt128), by d: UInt128) -> (quotient: (high: UInt128, low: UInt128), remainder: UInt128) {
        let (qh, r1) = n.high.quotientAndRemainder(dividingBy: d)
        let (ql, r) = d.dividingFullWidth((r1, n.low))
        return ((qh, ql), r)
    }
}
