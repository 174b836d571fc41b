import MarketCore

/// Market-condition measures for the mood meter, in exact decimals.
public enum Volatility {
    /// Fraction digits of the simple returns and of their squares before summing.
    static let returnDigits = 18
    /// Fraction digits of the volatility result.
    static let resultDigits = 10

    /// Realized volatility in percent over consecutive closes (e.g. the 60 one-minute closes of the
    /// last hour): sqrt(Σ rᵢ²) × 100 with rᵢ = cᵢ / cᵢ₋₁ − 1, rounded to nearest at 10 fraction digits.
    /// - Returns: `nil` with fewer than 2 closes, a close ≤ 0, or overflow.
    public static func realizedPercent(closes: [WideDecimal]) -> WideDecimal? {
        guard closes.count >= 2, closes.allSatisfy(\.isPositive) else { return nil }
        var sum = WideDecimal.zero
        for i in 1..<closes.count {
            guard let change = closes[i].subtracting(closes[i - 1]),
                let r = change.divided(by: closes[i - 1], roundingToFractionDigits: returnDigits),
                let square = r.multiplied(by: r),
                let next = sum.adding(square.rounded(toFractionDigits: returnDigits))
            else { return nil }
            sum = next
        }
        // sum = M·10⁻¹⁸, so sqrt(sum)·100 = sqrt(M·10⁶)·10⁻¹⁰: the root of an integer gives the
        // result's mantissa at 10 digits directly.
        let m = sum.atFractionDigits(returnDigits).mantissa
        let (n, overflow) = UInt128(m).multipliedReportingOverflow(by: 1_000_000)
        guard !overflow else { return nil }
        let root = roundedSquareRoot(n)
        guard let mantissa = Int128(exactly: root) else { return nil }
        return WideDecimal(mantissa: mantissa, scale: UInt8(resultDigits), displayScale: UInt8(resultDigits))
    }

    /// (ask − bid) / mid × 10 000, rounded half-even to 4 fraction digits; computed as
    /// (ask − bid) × 20 000 / (ask + bid) so there is a single rounding. Negative when the book is crossed.
    /// - Returns: `nil` when bid or ask is not positive, or on overflow.
    public static func spreadBps(bid: WideDecimal, ask: WideDecimal) -> WideDecimal? {
        guard bid.isPositive, ask.isPositive,
            let width = ask.subtracting(bid), let sum = ask.adding(bid),
            let numerator = width.multiplied(by: WideDecimal(20_000))
        else { return nil }
        return numerator.divided(by: sum, roundingToFractionDigits: 4)
    }

    /// ⌊√n⌋ by Newton's method: start above the root, iterate x ← (x + n/x)/2 while it decreases.
    static func integerSquareRoot(_ n: UInt128) -> UInt128 {
        if n < 2 { return n }
        // 2^⌈bits/2⌉ ≥ √n.
        let bits = UInt128.bitWidth - n.leadingZeroBitCount
        var x = UInt128(1) << ((bits + 1) / 2)
        while true {
            let y = (x + n / x) / 2
            if y >= x { return x }
            x = y
        }
    }

    /// √n rounded to the nearest integer (never a tie: (q + ½)² is not an integer).
    static func roundedSquareRoot(_ n: UInt128) -> UInt128 {
        let q = integerSquareRoot(n)
        // n ≥ (q + ½)² ⇔ n − q² > q.
        return n - q * q > q ? q + 1 : q
    }
}
