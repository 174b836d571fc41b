import MarketCore
import Testing

@Suite struct WideDecimalArithmeticTests {
    private func d(_ s: String) -> WideDecimal { WideDecimal.parse(s)! }

    @Test func productsAreExact() {
        #expect(d("61837.63").multiplied(by: d("0.00123"))!.description == "76.0602849")
        #expect(d("-2.5").multiplied(by: d("4"))! == d("-10"))
    }

    @Test func productsPastThirtySixDigitsRoundHalfEven() {
        // 0.(18 zeros)5 × 0.(17 zeros)1 = 5e-37 → rounds to 0 at 36 digits (half-even, even neighbour 0)
        let a = d("0.0000000000000000005")
        let b = d("0.000000000000000001")
        #expect(a.multiplied(by: b)! == .zero)
        let c = d("0.0000000000000000015")
        #expect(c.multiplied(by: b)!.description == "0.000000000000000000000000000000000002")
    }

    @Test func roundingIsHalfEven() {
        #expect(d("2.345").rounded(toFractionDigits: 2).description == "2.34")
        #expect(d("2.355").rounded(toFractionDigits: 2).description == "2.36")
        #expect(d("-2.355").rounded(toFractionDigits: 2).description == "-2.36")
        #expect(d("2.3451").rounded(toFractionDigits: 2).description == "2.35")
        #expect(d("2.3").rounded(toFractionDigits: 2).description == "2.3")
    }

    @Test func signsAndTrimming() {
        #expect(d("-1.50").magnitude.description == "1.50")
        #expect(d("-1.50").isNegative && !d("-1.50").isPositive)
        #expect(d("12.5000").trimmed.description == "12.5")
        #expect(d("100").trimmed.description == "100")
    }
}
