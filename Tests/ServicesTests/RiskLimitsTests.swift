import Bus
import Foundation
import MarketCore
@testable import Services
import Storage
import Synchronization
import Testing
import _TestSupport

/// Per-user risk limits and the daily-loss circuit breaker (docs/trading.md "Risk limits and the
/// circuit breaker"). Every limit is the first value refused: an order at the limit is refused, one
/// just under it passes. Expected values are worked out by hand in the comments.
@Suite(.serialized) struct RiskLimitsTests {
    static func options(_ risk: RiskLimits) -> ServiceOptions {
        var o = ServiceOptions()
        o.execution.limits.maxTradesPerWindow = 1000
        o.execution.risk = risk
        return o
    }

    static func limitBuy(_ qty: String, at price: String) -> OrderRequest {
        OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .limit, quantity: d(qty), limitPrice: d(price))
    }

    static func marketBuy(_ qty: String) -> OrderRequest {
        OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d(qty))
    }

    /// The failed checks' names; [] when the order was accepted.
    static func failed(_ o: ExecutionOutcome) -> [String] {
        switch o {
        case .accepted: return []
        case .rejected(let checks): return checks.filter { !$0.passed }.map(\.check)
        default: return ["(\(o))"]
        }
    }

    static func accepted(_ o: ExecutionOutcome) -> Bool { if case .accepted = o { true } else { false } }

    /// A book with mid exactly `mid`, spread 0.0002 (far under 50 bps), 100 BTC a side.
    static func bookAt(bid: String, ask: String) -> MarketEvent { book(bids: [(bid, "100")], asks: [(ask, "100")]) }

    @Test func maxOrderNotionalRefusesAtTheLimitAndPassesJustUnder() async throws {
        let h = Harness(options: Self.options(RiskLimits(maxOrderNotionalUSD: d("1000"))))
        try await h.user("ann", cash: "5000")
        h.feed(Self.bookAt(bid: "99.9", ask: "100.1"))
        // 10 × 100 = 1000 USD: the limit itself.
        let at = await h.execution.execute(user: "ann", request: Self.limitBuy("10", at: "100"))
        #expect(Self.failed(at) == ["max_notional"])
        // 9.99 × 100 = 999 USD.
        let under = await h.execution.execute(user: "ann", request: Self.limitBuy("9.99", at: "100"))
        #expect(Self.accepted(under), "\(under)")
    }

    @Test func maxOpenOrdersRefusesAtTheLimitAndPassesJustUnder() async throws {
        let h = Harness(options: Self.options(RiskLimits(maxOpenOrders: 2)))
        try await h.user("bo", cash: "5000")
        h.feed(Self.bookAt(bid: "99.9", ask: "100.1"))
        let first = await h.execution.execute(user: "bo", request: Self.limitBuy("0.5", at: "90"))
        // One open: 1 < 2 passes (just under).
        let second = await h.execution.execute(user: "bo", request: Self.limitBuy("0.5", at: "90"))
        #expect(Self.accepted(first) && Self.accepted(second))
        // Two open: the limit.
        let third = await h.execution.execute(user: "bo", request: Self.limitBuy("0.5", at: "90"))
        #expect(Self.failed(third) == ["max_open_orders"])
        // A market order does not rest: not counted against it.
        #expect(Self.accepted(await h.execution.execute(user: "bo", request: Self.marketBuy("0.2"))))
        guard case .accepted(let id, _, _, _, _) = first else { return }
        _ = await h.execution.cancel(user: "bo", orderID: id)
        #expect(Self.accepted(await h.execution.execute(user: "bo", request: Self.limitBuy("0.5", at: "90"))))
    }

    @Test func maxPositionPercentOfEquityRefusesAtTheLimitAndPassesJustUnder() async throws {
        let h = Harness(options: Self.options(RiskLimits(maxPositionPercent: d("50"))))
        try await h.user("cy", cash: "1000")
        h.feed(Self.bookAt(bid: "99.9", ask: "100.1"))
        // Equity 1000 USD; 5 BTC at the mid 100 = 500 USD = 50 %: the limit.
        let at = await h.execution.execute(user: "cy", request: Self.limitBuy("5", at: "100"))
        #expect(Self.failed(at) == ["max_position"])
        // 4.99 × 100 = 499 USD = 49.9 %.
        let under = await h.execution.execute(user: "cy", request: Self.limitBuy("4.99", at: "100"))
        #expect(Self.accepted(under), "\(under)")
    }

    /// Buys 10 BTC at 100.1: notional 1001, fee 1.001, cost basis 1002.001. At a mid M the day's
    /// loss is 1002.001 − 10 × M.
    static func boughtTen(_ h: Harness, _ user: String) async throws {
        try await h.user(user, cash: "2000")
        h.feed(Self.bookAt(bid: "99.9", ask: "100.1"))
        #expect(Self.accepted(await h.execution.execute(user: user, request: Self.marketBuy("10"))))
        #expect(h.execution.account(user)?.positions[InstrumentKey(venue: "binance", symbol: "BTC-USDT")]?.costBasis == d("1002.001"))
    }

    static let small = limitBuy("0.2", at: "90")

    @Test(.timeLimit(.minutes(1)))
    func breakerTripsAtTheExactLossRefusesManualAndAgentOrdersAndClearsAtTheNextUTCDay() async throws {
        let h = Harness(options: Self.options(RiskLimits(maxDailyLossUSD: d("50"))))
        let events = Mutex<[RiskEvent]>([])
        h.execution.risk.addObserver { e in events.withLock { $0.append(e) } }
        let channel = h.bus.subscribe([ChannelName(kind: .executions, scope: "tom")], policy: .dropOldest, capacity: 64)
        try await Self.boughtTen(h, "tom")

        // Mid 95.2002: loss 1002.001 − 952.002 = 49.999, just under.
        h.feed(Self.bookAt(bid: "95.2001", ask: "95.2003"))
        #expect(Self.accepted(await h.execution.execute(user: "tom", request: Self.small)))
        #expect(events.withLock { $0 }.isEmpty)
        // Mid 95.2001: loss 1002.001 − 952.001 = 50, the limit: tripped.
        h.feed(Self.bookAt(bid: "95.2000", ask: "95.2002"))
        let refused = await h.execution.execute(user: "tom", request: Self.small)
        #expect(Self.failed(refused) == ["daily_loss"])
        if case .rejected(let checks) = refused {
            #expect(checks.first { $0.check == "daily_loss" }?.detail.contains("circuit breaker tripped") == true)
        }
        let b = h.execution.risk.breaker("tom")
        #expect(b.isTripped(day: UTCDay.of(h.clock.now)) && b.loss == d("50"))
        // The buy's fill also evaluates the breaker in a task of its own; when that task is the one
        // that trips it, the order above is refused while its event is still being committed.
        #expect(await waitUntil(seconds: 10) { events.withLock { !$0.isEmpty } })
        let tripped = events.withLock { $0 }
        #expect(tripped.count == 1 && tripped.first?.kind == .tripped && tripped.first?.loss == d("50") && tripped.first?.limit == d("50"))
        // The user's private channel carries it (after the buy's execution).
        var types: [String] = []
        for try await m in channel {
            types.append(m.type)
            if m.type == "circuit_breaker" { break }
        }
        #expect(types == ["execution", "circuit_breaker"])
        channel.cancel()
        // The mood meter says so; the state keeps its own rules.
        #expect(h.suite.mood.current("tom")?.reading.reason.hasPrefix("circuit breaker tripped") == true)

        // The price recovers: still refused for the rest of the day, manual and agent orders alike.
        h.feed(Self.bookAt(bid: "99.9", ask: "100.1"))
        #expect(Self.failed(await h.execution.execute(user: "tom", request: Self.small)) == ["daily_loss"])
        _ = await h.suite.agents.enable(user: "tom", strategy: "rsi", venue: "binance", symbol: "BTC-USDT", quantity: d("0.2"), quoteAmount: nil)
        await h.suite.agents.handle(
            TradeSignal(
                strategy: "rsi", venue: "binance", symbol: "BTC-USDT", interval: "1m", side: .buy, price: d("100"), time: h.clock.now,
                values: [:], reason: "test"))
        let agent = try #require(h.suite.agents.agents(user: "tom").first)
        #expect(agent.rejected == 1 && agent.lastResult?.contains("circuit breaker tripped") == true, "\(agent)")

        // The clock starts at 08:00 UTC: 15 h 59 min 59 s later is still the same day.
        h.clock.advance(seconds: 57_599)
        #expect(Self.failed(await h.execution.execute(user: "tom", request: Self.small)) == ["daily_loss"])
        // 00:00 UTC: loss at mid 100 is 1002.001 − 1000 = 2.001 < 50.
        h.clock.advance(seconds: 1)
        #expect(Self.accepted(await h.execution.execute(user: "tom", request: Self.small)))
        await h.suite.risk.sweep()
        let all = events.withLock { $0 }
        #expect(all.count == 2 && all.last?.kind == .reset && all.last?.by == "new_day")
        #expect(h.suite.mood.current("tom")?.reading.reason.hasPrefix("circuit breaker tripped") == false)
    }

    @Test(.timeLimit(.minutes(1)))
    func adminResetAcceptsOrdersAgainAndTheBreakerTripsAgainOneLimitFurther() async throws {
        let h = Harness(options: Self.options(RiskLimits(maxDailyLossUSD: d("50"))))
        let events = Mutex<[RiskEvent]>([])
        h.execution.risk.addObserver { e in events.withLock { $0.append(e) } }
        try await Self.boughtTen(h, "uma")
        h.feed(Self.bookAt(bid: "95.2000", ask: "95.2002"))  // loss 50
        #expect(Self.failed(await h.execution.execute(user: "uma", request: Self.small)) == ["daily_loss"])
        // The trip may come from the buy's own evaluation task: its event first, then the reset.
        #expect(await waitUntil(seconds: 10) { events.withLock { !$0.isEmpty } })

        let after = try await h.suite.risk.reset(user: "uma")
        #expect(!after.isTripped(day: UTCDay.of(h.clock.now)) && after.resetLoss == d("50"))
        #expect(Self.accepted(await h.execution.execute(user: "uma", request: Self.small)))
        // Trips again at 50 + 50 = 100: mid 90.2002 → 1002.001 − 902.002 = 99.999 passes; 90.2001 → 100 refused.
        h.feed(Self.bookAt(bid: "90.2001", ask: "90.2003"))
        #expect(Self.accepted(await h.execution.execute(user: "uma", request: Self.small)))
        h.feed(Self.bookAt(bid: "90.2000", ask: "90.2002"))
        #expect(Self.failed(await h.execution.execute(user: "uma", request: Self.small)) == ["daily_loss"])
        #expect(await waitUntil(seconds: 10) { events.withLock { $0.count >= 3 } })
        #expect(events.withLock { $0.map { "\($0.kind.rawValue):\($0.by)" } } == ["tripped:daily_loss", "reset:admin", "tripped:daily_loss"])
        await #expect(throws: RiskService.AdminError.unknownUser) { try await h.suite.risk.reset(user: "nobody") }
    }

    @Test(.timeLimit(.minutes(3)), arguments: Backend.available)
    func aTrippedBreakerAndAdminLimitsSurviveARestart(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store1 = try await open()
            let a = Harness(options: Self.options(RiskLimits(maxDailyLossUSD: d("50"))), store: store1)
            try await a.suite.load()
            let journal1 = Task { [j = a.suite.journal] in await j.run() }
            try await Self.boughtTen(a, "vic")
            try await a.suite.risk.setLimits(user: "vic", RiskLimits(maxOpenOrders: 3))
            a.feed(Self.bookAt(bid: "95.2000", ask: "95.2002"))  // loss 50
            #expect(Self.failed(await a.execution.execute(user: "vic", request: Self.small)) == ["daily_loss"])
            #expect(await RestartTests.drained(a))
            journal1.cancel()  // crash
            await store1.close()

            let store2 = try await open()
            let b = Harness(options: Self.options(RiskLimits(maxDailyLossUSD: d("50"))), store: store2)
            try await b.suite.load()
            let journal2 = Task { [j = b.suite.journal] in await j.run() }
            #expect(b.execution.risk.isTripped("vic", at: b.clock.now))
            #expect(b.execution.risk.overrides("vic") == RiskLimits(maxOpenOrders: 3))
            #expect(b.execution.risk.limits("vic") == RiskLimits(maxOpenOrders: 3, maxDailyLossUSD: d("50")))
            // The price is back (loss 2.001): still refused, the trip was stored.
            b.feed(Self.bookAt(bid: "99.9", ask: "100.1"))
            #expect(Self.failed(await b.execution.execute(user: "vic", request: Self.small)) == ["daily_loss"])
            #expect(await RestartTests.drained(b))
            // The log holds every check of that order, passed or failed.
            // (All three orders were logged at the same test-clock instant: pick a refused one.)
            let rows = try await store2.preTradeLog(userID: "vic", limit: 10)
            #expect(rows.count == 3 && rows.filter(\.passed).count == 1)
            let logged = try #require(rows.first { !$0.passed })
            let checks = try #require(try JSONSerialization.jsonObject(with: Data(logged.checksJSON.utf8)) as? [[String: Any]])
            let byName = Dictionary(uniqueKeysWithValues: checks.map { ($0["check"] as? String ?? "?", $0["passed"] as? Bool) })
            #expect(byName["daily_loss"] == false && byName["spread"] == true && byName["max_open_orders"] == true, "\(checks)")
            #expect(!logged.passed)
            // An admin reset is stored too.
            try await b.suite.risk.reset(user: "vic")
            journal2.cancel()
            await store2.close()

            let store3 = try await open()
            let c = Harness(options: Self.options(RiskLimits(maxDailyLossUSD: d("50"))), store: store3)
            try await c.suite.load()
            #expect(!c.execution.risk.isTripped("vic", at: c.clock.now))
            #expect(c.execution.risk.breaker("vic").resetLoss == d("2.001"))
            await store3.close()
        }
    }
}
