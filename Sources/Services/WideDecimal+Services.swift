import MarketCore

/// Small helpers the services share for fixed-digit output and clamping.
extension WideDecimal {
    /// The value with exactly `digits` fraction digits: rounded half-even when longer, zero-padded
    /// when shorter (so `50` prints as `50.00`). Keeps the value unchanged if padding would overflow.
    func atFractionDigits(_ digits: Int) -> WideDecimal {
        if Int(scale) > digits { return rounded(toFractionDigits: digits) }
        let (m, overflow) = mantissa.multipliedReportingOverflow(by: Pow10.int128[digits - Int(scale)])
        return overflow ? self : WideDecimal(mantissa: m, scale: UInt8(digits), displayScale: UInt8(digits))
    }

    func clamped(_ low: WideDecimal, _ high: WideDecimal) -> WideDecimal { Swift.min(Swift.max(self, low), high) }

    /// Text with a leading `+` for positive values (`+10.00`, `-3.00`, `0.00`).
    var signedText: String { isPositive ? "+\(self)" : "\(self)" }
}
