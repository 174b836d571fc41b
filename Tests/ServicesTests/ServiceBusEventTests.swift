import Bus
import MarketCore
import Services
import Testing
import _TestSupport

/// The services talk over the bus in values (issue 18 §2): an agent acts on a `TradeSignal` it
/// reads from `signals.*.*`, and its fill reaches an `executions.<owner>` subscriber as a `PaperFill`.
@Suite struct ServiceBusEventTests {
    @Test(.timeLimit(.minutes(1))) func anAgentTradesOnATypedSignalAndItsFillArrivesTyped() async throws {
        let h = Harness(options: AgentHierarchyTests.options())
        try await h.user("ava", cash: "10000")
        let agents = h.suite.agents
        let a = try await agents.create(
            user: "ava", strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", quantity: d("1"), quoteAmount: nil, allocation: d("5000"))
        h.feed(book(bids: [("954.00", "10")], asks: [("954.02", "10")]))
        let fills = h.bus.subscribe([ChannelName(kind: .executions, scope: "ava")])
        let sinks = h.bus.stats.sinks
        let consumer = Task { await agents.run(bus: h.bus) }
        defer { consumer.cancel() }
        #expect(await waitUntil { h.bus.stats.sinks > sinks }, "the agents subscribe to the signals")

        let signal = TradeSignal(
            strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", interval: "1m", side: .buy, price: d("954.02"),
            time: .seconds(1_800_000_000), values: ["fast": d("954.1")], reason: "test")
        h.bus.publish(.signal(signal), channel: ChannelName(kind: .signals, scope: "ema_cross", symbol: "BTC-USDT"))

        var it = fills.makeAsyncIterator()
        let m = try #require(try await it.next())
        fills.cancel()
        #expect(m.json == nil, "a service event is a value, not bytes")
        guard case .execution(let fill)? = m.service else {
            Issue.record("expected an execution, got \(m.payload)")
            return
        }
        // The sub-account's fill, on its owner's channel: 1 BTC at the ask, 954.02.
        #expect(fill.user == a.accountKey && fill.user != "ava")
        #expect(fill.instrument == AgentHierarchyTests.btc && fill.side == .buy && fill.orderType == .market)
        #expect(dec(fill.qty) == dec("1") && dec(fill.price) == dec("954.02"))
        #expect(h.execution.account(a.accountKey)?.positions[AgentHierarchyTests.btc]?.qty == fill.qty)
    }
}
