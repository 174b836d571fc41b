import MarketCore
import Testing

@testable import Services



@Suite struct VolatilityTests {
    @Test func handComputedCase() throws {
        // r₁ = 101/100 − 1 = 0.01, r₂ = 100/101 − 1 = −1/101.
        // Σr² = 1/10⁴ + 1/10201, so vol % = 100·sqrt(Σr²) = sqrt(1 + 10⁴/10201) = sqrt(20201/10201)
        // = 1.40722992059113… → 1.4072299206 at 10 digits.
        let vol = try #require(Volatility.realizedPercent(closes: [d("100"), d("101"), d("100")]))
        #expect(vol.description == "1.4072299206")
        // Independent cross-check in Double (tests only).
        let reference = (0.01 * 0.01 + (1.0 / 101) * (1.0 / 101)).squareRoot() * 100
        #expect(abs(Double(vol.description)! - reference) < 1e-9)
    }

    @Test func matchesADoubleReferenceOverAnHour() throws {
        // 60 one-minute closes in cents, a deterministic zig-zag around 100.00.
        let cents = (0..<60).map { 10_000 + ($0 * 37) % 101 - 50 }
        let closes = cents.map { WideDecimal(mantissa: Int128($0), scale: 2, displayScale: 2) }
        let vol = try #require(Volatility.realizedPercent(closes: closes))
        var sum = 0.0
        for i in 1..<cents.count {
            let r = Double(cents[i]) / Double(cents[i - 1]) - 1
            sum += r * r
        }
        #expect(abs(Double(vol.description)! - sum.squareRoot() * 100) < 1e-8)
    }

    @Test func flatAndInvalidInputs() {
        #expect(Volatility.realizedPercent(closes: [d("5"), d("5"), d("5")]) == .zero)
        #expect(Volatility.realizedPercent(closes: [d("5")]) == nil)
        #expect(Volatility.realizedPercent(closes: []) == nil)
        #expect(Volatility.realizedPercent(closes: [d("5"), d("0"), d("5")]) == nil)
    }

    @Test func integerSquareRoot() {
        for n: UInt128 in [0, 1, 2, 3, 4, 15, 16, 17, 99, 100, 1 << 64, (1 << 64) - 1, 10_000_000_000_000_000_000_000] {
            let q = Volatility.integerSquareRoot(n)
            #expect(q * q <= n && (q + 1) * (q + 1) > n, "isqrt(\(n)) = \(q)")
        }
        #expect(Volatility.integerSquareRoot(.max) == UInt128(UInt64.max))
        // Rounded: √2 = 1.41 → 1, √3 = 1.73 → 2, √12 = 3.46 → 3, √13 = 3.61 → 4
        #expect(Volatility.roundedSquareRoot(2) == 1)
        #expect(Volatility.roundedSquareRoot(3) == 2)
        #expect(Volatility.roundedSquareRoot(12) == 3)
        #expect(Volatility.roundedSquareRoot(13) == 4)
    }

    @Test func spreadBps() {
        // (100.05 − 99.95) / 100 × 10⁴ = 10
        #expect(Volatility.spreadBps(bid: d("99.95"), ask: d("100.05"))?.description == "10.0000")
        // 0.01 / 100.005 × 10⁴ = 0.999950002… → 1.0000
        #expect(Volatility.spreadBps(bid: d("100"), ask: d("100.01"))?.description == "1.0000")
        // 1 / 2.5 × 10⁴ = 4000
        #expect(Volatility.spreadBps(bid: d("2"), ask: d("3")) == d("4000"))
        #expect(Volatility.spreadBps(bid: d("0"), ask: d("1")) == nil)
    }
}
