import BigInt
import MarketCore
import PropertyBased
import Services
import Testing

/// Decimal text over the whole range a request can carry: zero, tiny, ordinary, huge (past 10^20
/// and past Int128), up to 30 fraction digits, sometimes negative.
let decimalText = zip(Gen<UInt8>.value(in: 0...9).array(of: 1...40), Gen.int(in: 0...30), Gen.bool(0.15))
    .map { (t: ([UInt8], Int, Bool)) -> String in
        var digits = t.0.map { String($0) }.joined()
        let fraction = min(t.1, digits.count)
        if fraction > 0 { digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -fraction)) }
        if digits.hasPrefix(".") { digits = "0" + digits }
        return (t.2 ? "-" : "") + digits
    }

/// WideDecimal for text that parses into one (38 significant digits); nil for the rest.
func wide(_ s: String) -> WideDecimal? { WideDecimal.parse(s) }

@Suite struct MoneyPropertyTests {
    @Test func checkedMultiplyIsExactOrRefusedExactlyWhenTheProductLeavesTheRange() async {
        await propertyCheck(count: 3000, input: decimalText, decimalText) { a, b in
            guard let x = wide(a), let y = wide(b) else { return }
            let exact = Exact(a) * Exact(b)
            do throws(LedgerError) {
                let p = try Money.multiply(x, y, "product")
                #expect(exact.fitsLedger, "\(a) × \(b) accepted as \(p), beyond the range")
                #expect(Exact(p) == exact, "\(a) × \(b) = \(exact), got \(p)")
            } catch {
                #expect(!exact.fitsLedger, "\(a) × \(b) = \(exact) fits the ledger but was refused: \(error)")
                #expect(error.code == .amountOverflow)
            }
        }
    }

    @Test func checkedSumsAreExactOrRefusedExactlyWhenTheyLeaveTheRange() async {
        await propertyCheck(count: 3000, input: decimalText, decimalText) { a, b in
            guard let x = wide(a), let y = wide(b), Exact(a).fitsLedger, Exact(b).fitsLedger else { return }
            for (result, exact) in [(try? Money.add(x, y, "sum"), Exact(a) + Exact(b)), (try? Money.subtract(x, y, "difference"), Exact(a) - Exact(b))] {
                if let result {
                    #expect(exact.fitsLedger && Exact(result) == exact, "\(a), \(b): \(exact) vs \(result)")
                } else {
                    #expect(!exact.fitsLedger, "\(a), \(b): \(exact) fits but was refused")
                }
            }
        }
    }

    @Test func mulDivRoundsLikeAnIndependentBigIntComputation() async {
        await propertyCheck(count: 3000, input: decimalText, decimalText, decimalText, Gen.int(in: 0...20)) { a, b, c, digits in
            guard let x = wide(a), let y = wide(b), let z = wide(c), !z.isZero else { return }
            let down = Exact.mulDivTowardZero(Exact(a), Exact(b), Exact(c), digits: digits)
            let half = Exact.mulDivHalfEven(Exact(a), Exact(b), Exact(c), digits: digits)
            let int128 = Exact(BigInt(Int128.max.description)!, 0)
            for (rounding, expected) in [(Money.Rounding.towardZero, down), (.halfEven, half)] {
                let got = Money.mulDiv(x, y, z, digits: digits, rounding)
                let fits = Exact(expected.m < 0 ? -expected.m : expected.m, 0) <= int128
                if let got {
                    #expect(Exact(got) == expected, "\(a) × \(b) ÷ \(c) at \(digits) (\(rounding)): \(expected), got \(got)")
                } else {
                    #expect(!fits, "\(a) × \(b) ÷ \(c) at \(digits) (\(rounding)) = \(expected) fits an Int128 but gave nil")
                }
            }
        }
    }

    @Test func theFeeIsTheNotionalTimesTheRateRoundedHalfEvenTo18Digits() async {
        await propertyCheck(count: 2000, input: decimalText) { a in
            guard let x = wide(a), Exact(a).fitsLedger else { return }
            let rate = WideDecimal.parse("0.001")!
            let exact = (Exact(a) * Exact("0.001")).roundedHalfEven(18)
            let fee = try? Money.fee(x, rate: rate)
            #expect(fee.map { Exact($0) == exact } == true, "fee of \(a): \(exact), got \(fee.map { "\($0)" } ?? "refused")")
        }
    }
}
