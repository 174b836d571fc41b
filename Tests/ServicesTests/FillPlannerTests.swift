import MarketCore
import Services
import Testing

@Suite struct FillPlannerTests {
    private func levels(_ l: [(String, String)]) -> [BookLevel] {
        l.map { BookLevel(price: FixedDecimal($0.0)!, quantity: FixedDecimal($0.1)!) }
    }

    @Test func aQuantityWalksLevelsUntilFilled() throws {
        let p = try FillPlanner.plan(levels: levels([("0.05001", "10")]), side: .buy, quantity: d("1"), quoteAmount: nil)
        #expect(p.complete && p.qty == d("1") && p.notional == d("0.05001"))
    }
}
