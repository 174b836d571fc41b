import Foundation
import MarketCore
import Services
import Testing
import _TestSupport

@Suite struct IsolationTests {
    @Test func twoUsersTradingConcurrentlyEndWithTheirOwnFillsOnly() async throws {
        var options = ServiceOptions()
        options.execution.limits.maxTradesPerWindow = 10_000
        let h = Harness(options: options)
        h.feed(book(bids: [("100.00", "1000000")], asks: [("100.01", "1000000")]))
        try await h.user("amy", cash: "5000")
        try await h.user("ben", cash: "500")
        // 60 buys of 0.11 at 100.01 per user from parallel tasks, 0.11 × 100.01 × 1.001 = 11.0121011
        // USDC each: amy can afford them all, ben only ⌊500 / 11.0121011⌋ = 45; the rest are refused.
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<120 {
                let user = i % 2 == 0 ? "amy" : "ben"
                group.addTask {
                    _ = await h.execution.execute(
                        user: user, request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("0.11")))
                }
            }
        }
        for (user, start) in [("amy", dec("5000")), ("ben", dec("500"))] {
            let a = try #require(h.execution.account(user))
            #expect(a.fills.allSatisfy { $0.user == user })
            let spent = a.fills.reduce(Decimal(0)) { $0 + dec($1.notional) + dec($1.fee) }
            #expect(dec(a.balances["USDC"]!) == start - spent)
            #expect(!a.balances["USDC"]!.isNegative)
            let held = a.fills.reduce(Decimal(0)) { $0 + dec($1.qty) }
            #expect(dec(a.positions[InstrumentKey(venue: "binance", symbol: "BTC-USDT")]!.qty) == held)
        }
        #expect(h.execution.account("amy")!.fills.count == 60)
        let ben = h.execution.account("ben")!
        #expect(ben.fills.count == 45)
        #expect(dec(ben.balances["USDC"]!) == dec("500") - 45 * dec("11.0121011"))
    }

    @Test func concurrentOrdersNeverOverdrawAnAccount() async throws {
        var options = ServiceOptions()
        options.execution.limits.maxTradesPerWindow = 10_000
        let h = Harness(options: options)
        h.feed(book(bids: [("100.00", "1000000")], asks: [("100.01", "1000000")]))
        try await h.user("cat", cash: "100")
        try await h.user("dan", cash: "100000")
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<80 {
                let user = i % 2 == 0 ? "cat" : "dan"
                group.addTask {
                    _ = await h.execution.execute(
                        user: user, request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("0.11")))
                }
            }
        }
        // 100 / 11.0121011 → 9 orders fit (99.1089099), the 10th would overdraw.
        let cat = h.execution.account("cat")!
        #expect(cat.fills.count == 9)
        #expect(dec(cat.balances["USDC"]!) == dec("100") - 9 * dec("11.0121011"))
        // dan is untouched by cat's refusals.
        #expect(h.execution.account("dan")!.fills.count == 40)
    }
}
