import Foundation
import MarketCore
import Services
import Storage
import Testing
import _TestSupport

/// Resting limit orders, their reservations and agents are stored, and come back when the
/// services start again on the same database after a crash (no flush, no clean stop); an order
/// that filled before the crash does not fill again.
@Suite(.serialized) struct RestartTests {
    static func options() -> ServiceOptions {
        var o = ServiceOptions()
        o.execution.limits.maxTradesPerWindow = 1000
        return o
    }

    /// Services on `store`, loaded, with their journal running (the task is returned so the test
    /// can abandon it, as a crash would).
    static func start(_ store: any AccountStore) async throws -> (Harness, Task<Void, Never>) {
        let h = Harness(options: options(), store: store)
        try await h.suite.load()
        let journal = h.suite.journal
        return (h, Task { await journal.run() })
    }

    static func trade(price: String, qty: String, second: Int64) -> MarketEvent {
        .trade(
            Trade(
                instrument: Sample.btc, id: .number(second), price: FixedDecimal(price)!, quantity: FixedDecimal(qty)!, side: .sell,
                eventTime: .seconds(1_800_000_000 + second), receiveTime: .seconds(1_800_000_000 + second), count: 1, stream: .raw))
    }

    static func drained(_ h: Harness) async -> Bool { await waitUntil(seconds: 20) { h.suite.journal.pending == 0 } }

    @Test(.timeLimit(.minutes(2)), arguments: Backend.available)
    func restingOrdersAndAgentsComeBackAfterACrashAndAFilledOrderDoesNotFillAgain(_ backend: Backend) async throws {
        let key = InstrumentKey(venue: "binance", symbol: "BTC-USDT")
        try await backend.withDatabase { open in
            // Run 1: a funded user rests a limit buy below the market and enables an agent.
            let store1 = try await open()
            let (a, journal1) = try await Self.start(store1)
            try await a.user("rita", cash: "1000")
            a.feed(book(bids: [("99.95", "5")], asks: [("100.00", "5")]))
            let placed = await a.execution.execute(
                user: "rita",
                request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .limit, quantity: d("0.5"), limitPrice: d("98.5")))
            guard case .accepted(let orderID, let fills, let resting?, _, let stored) = placed else {
                Issue.record("\(placed)")
                return
            }
            #expect(fills.isEmpty && resting.remaining == d("0.5") && stored)
            let agent = await a.suite.agents.enable(
                user: "rita", strategy: "rsi", venue: "binance", symbol: "BTC-USDT", quantity: d("0.1"), quoteAmount: nil)
            #expect(await Self.drained(a))
            journal1.cancel()  // crash: nothing more is written
            await store1.close()

            // Run 2: the order, its reservation (0.5 × 98.5 × 1.001 = 49.29925) and the agent are back.
            let store2 = try await open()
            let (b, journal2) = try await Self.start(store2)
            let orders = b.execution.restingOrders(user: "rita")
            #expect(orders.map(\.id) == [orderID])
            #expect(orders.first?.remaining == d("0.5") && orders.first?.limitPrice == d("98.5") && orders.first?.side == .buy)
            let account = try #require(b.execution.account("rita"))
            #expect(account.reserved["USDC"] == d("49.29925"))
            #expect(account.available("USDC") == d("950.70075"))
            let agents = b.suite.agents.agents(user: "rita")
            #expect(agents.map(\.id) == [agent.id])
            #expect(agents.first?.strategy == "rsi" && agents.first?.quantity == d("0.1") && agents.first?.symbol == "BTC-USDT")

            // A trade through the limit fills the order, once, at its own price.
            b.feed(book(bids: [("99.95", "5")], asks: [("100.00", "5")]))
            b.feed(Self.trade(price: "98.0", qty: "1", second: 5))
            #expect(b.execution.account("rita")?.fills.count == 1)
            #expect(b.execution.restingOrders(user: "rita").isEmpty)
            #expect(await Self.drained(b))
            journal2.cancel()  // crash right after the fill was stored
            await store2.close()

            // Run 3: nothing rests, the fill is stored once, the money is where it was; the same
            // trade again fills nothing.
            let store3 = try await open()
            let (c, journal3) = try await Self.start(store3)
            #expect(c.execution.restingOrders(user: "rita").isEmpty)
            let after = try #require(c.execution.account("rita"))
            #expect(after.reserved["USDC"] == nil)
            #expect(after.balances["USDC"] == d("950.70075"))
            #expect(after.positions[key]?.qty == d("0.5"))
            #expect(try await store3.paperFills(userID: "rita", since: nil, limit: 10).map(\.orderID) == [orderID])
            c.feed(book(bids: [("99.95", "5")], asks: [("100.00", "5")]))
            c.feed(Self.trade(price: "98.0", qty: "1", second: 5))
            #expect(c.execution.account("rita")?.fills.count == 1, "only the stored fill, none new")
            #expect(await Self.drained(c))
            c.suite.journal.finish()
            await journal3.value
            await store3.close()
        }
    }
}
