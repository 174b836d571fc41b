public import Bus
import Logging
public import MarketCore
import Metrics
import NIOCore
public import Storage
import Synchronization

/// A user's agent: places paper orders from one strategy's signals on one instrument, sized per
/// order, with that user's own balance (DESIGN.md "Services": the per-user isolated agent).
public struct Agent: Sendable, Hashable {
    public var id: String
    public var user: String
    public var strategy: String
    public var venue: String
    public var symbol: String
    /// Per-order size: base quantity, or quote amount to spend (buys) / to receive (sells).
    public var quantity: WideDecimal?
    public var quoteAmount: WideDecimal?
    public var created: UnixNanos
    public var orders = 0
    public var rejected = 0
    public var lastResult: String?

    var stored: StoredAgent {
        StoredAgent(
            id: id, userID: user, strategy: strategy, venue: venue, symbol: symbol, quantity: quantity, quoteAmount: quoteAmount,
            created: created, orders: orders, rejected: rejected, lastResult: lastResult)
    }

    public func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.string(id)
        w.key("user"); w.string(user)
        w.key("strategy"); w.string(strategy)
        w.key("venue"); w.string(venue)
        w.key("symbol"); w.string(symbol)
        if let quantity { w.key("quantity"); w.decimal(quantity) }
        if let quoteAmount { w.key("quote_amount"); w.decimal(quoteAmount) }
        w.key("created"); w.time(created, fractionDigits: 3)
        w.key("orders"); w.int(Int64(orders))
        w.key("rejected"); w.int(Int64(rejected))
        w.key("last_result")
        if let lastResult { w.string(lastResult) } else { w.null() }
        w.endObject()
    }
}

extension Agent {
    init(stored a: StoredAgent) {
        self.init(
            id: a.id, user: a.userID, strategy: a.strategy, venue: a.venue, symbol: a.symbol, quantity: a.quantity,
            quoteAmount: a.quoteAmount, created: a.created, orders: a.orders, rejected: a.rejected, lastResult: a.lastResult)
    }
}

/// Runs the agents: consumes `signals.*.*` from the bus and sends each matching agent's order
/// through the ``ExecutionService`` as its user (the same checks and balance rules as a person).
/// Agents are stored through the account journal (enabled, counters, disabled) and loaded back at
/// start-up, so they keep acting after a restart.
public final class AgentService: Sendable {
    private struct State {
        var agents: [String: Agent] = [:]
        var next = 1
    }

    private let execution: ExecutionService
    private let state = Mutex(State())
    private let logger: Logger

    public init(execution: ExecutionService, logger: Logger) {
        self.execution = execution
        self.logger = logger
    }

    /// Loads the stored agents; new ids continue after the highest stored one.
    public func load(from store: any AccountStore) async throws {
        let stored = try await store.agents()
        state.withLock { s in
            for a in stored {
                s.agents[a.id] = Agent(stored: a)
                if let n = Int(a.id.dropFirst("agent-".count)), a.id.hasPrefix("agent-") { s.next = max(s.next, n + 1) }
            }
        }
    }

    /// Enables an agent; stored before it returns (bounded wait).
    public func enable(user: String, strategy: String, venue: String, symbol: String, quantity: WideDecimal?, quoteAmount: WideDecimal?) async -> Agent {
        let (agent, entry) = state.withLock { s in
            let agent = Agent(
                id: "agent-\(s.next)", user: user, strategy: strategy, venue: venue, symbol: symbol, quantity: quantity,
                quoteAmount: quoteAmount, created: execution.now)
            s.next += 1
            s.agents[agent.id] = agent
            return (agent, execution.journal.append(.agent(agent.stored)))
        }
        _ = await execution.journal.waitStored(entry)
        return agent
    }

    public func agents(user: String) -> [Agent] {
        state.withLock { s in s.agents.values.filter { $0.user == user } }.sorted { $0.created < $1.created || ($0.created == $1.created && $0.id < $1.id) }
    }

    /// Disables one of `user`'s agents; nil when it has none of that id.
    public func disable(user: String, id: String) async -> Agent? {
        let removed = state.withLock { s -> (Agent, Int)? in
            guard let a = s.agents[id], a.user == user else { return nil }
            s.agents[id] = nil
            return (a, execution.journal.append(.agentRemoved(id)))
        }
        guard let (agent, entry) = removed else { return nil }
        _ = await execution.journal.waitStored(entry)
        return agent
    }

    /// Acts on one signal: every matching agent places its order (in agent order).
    public func handle(_ signal: TradeSignal) async {
        let matching = state.withLock { s in
            s.agents.values.filter { $0.strategy == signal.strategy && $0.venue == signal.venue && $0.symbol == signal.symbol }
                .sorted { $0.id < $1.id }
        }
        for agent in matching {
            var request = OrderRequest(
                venue: agent.venue, symbol: agent.symbol, side: signal.side, type: .market, quantity: agent.quantity,
                quoteAmount: agent.quoteAmount, source: "\(agent.id):\(signal.strategy)")
            if signal.side == .sell {
                // Sell what the agent's user holds, up to the order size.
                let held = execution.account(agent.user)?.positions[InstrumentKey(venue: agent.venue, symbol: agent.symbol)]?.available ?? .zero
                guard held.isPositive else {
                    record(agent.id, rejected: true, "sell signal skipped: nothing held")
                    continue
                }
                if let q = agent.quantity { request.quantity = min(q, held) }
                if agent.quoteAmount != nil {
                    request.quoteAmount = nil
                    request.quantity = held
                    if let amount = agent.quoteAmount, signal.price.isPositive,
                        let q = try? FillPlanner.floorQuotient(amount, signal.price, digits: Int(held.scale)), q < held
                    {
                        request.quantity = q
                    }
                }
            }
            let outcome = await execution.execute(user: agent.user, request: request)
            switch outcome {
            case .accepted(let id, let fills, _, _, _):
                record(agent.id, rejected: false, "order \(id): \(fills.count) fill(s)")
            case .rejected(let checks):
                let failed = checks.filter { !$0.passed }.map(\.detail).joined(separator: "; ")
                record(agent.id, rejected: true, "rejected: \(failed)")
                logger.info("agent order rejected", metadata: ["agent": "\(agent.id)", "user": "\(agent.user)", "why": "\(failed)"])
            case .unknownUser:
                record(agent.id, rejected: true, "user no longer exists")
            case .invalid(let e):
                record(agent.id, rejected: true, "invalid order: \(e)")
            case .refused(let e):
                record(agent.id, rejected: true, "refused: \(e)")
            }
        }
    }

    private func record(_ id: String, rejected: Bool, _ result: String) {
        state.withLock { s in
            guard var a = s.agents[id] else { return }
            a.orders += 1
            if rejected { a.rejected += 1 }
            a.lastResult = result
            s.agents[id] = a
            execution.journal.append(.agent(a.stored))
        }
        Counter(label: "services_agent_orders_total", dimensions: [("result", rejected ? "rejected" : "accepted")]).increment()
    }

    /// Consumes signals from the bus until the task is cancelled.
    public func run(bus: MarketBus) async {
        let sub = bus.subscribe([ChannelName(kind: .signals, scope: ChannelName.wildcard, symbol: ChannelName.wildcard)], policy: .dropOldest, capacity: 4096)
        defer { sub.cancel() }
        do {
            for try await message in sub {
                guard message.type == "signal", let json = message.json, let frame = JSONFields(Array(json.readableBytesView)),
                    case .nested(let dataText)? = frame["data"], let data = JSONFields(Array(dataText.utf8)),
                    let signal = TradeSignal(data: data)
                else { continue }
                await handle(signal)
            }
        } catch {
            logger.error("agent signal subscription ended", metadata: ["error": "\(error)"])
        }
    }
}
