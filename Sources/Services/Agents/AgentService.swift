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
    /// The hierarchy (docs/strategies.md "Agent hierarchy"): nil parent and generation 1 for a top agent.
    public var parent: String?
    public var generation = 1
    /// What its sub-account was funded with; nil: the agent trades its user's own balance.
    public var allocation: WideDecimal?
    /// Children spawned so far; the next spawn is at (spawned + 1) × ``AgentOptions/spawnEvery``.
    public var spawned = 0

    /// The account its orders run on: its sub-account when it has an allocation.
    public var accountKey: String { allocation == nil ? user : SubAccount.key(user: user, agent: id) }

    var stored: StoredAgent {
        StoredAgent(
            id: id, userID: user, strategy: strategy, venue: venue, symbol: symbol, quantity: quantity, quoteAmount: quoteAmount,
            created: created, orders: orders, rejected: rejected, lastResult: lastResult, parentID: parent, generation: generation,
            allocation: allocation, spawned: spawned)
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
        w.key("generation"); w.int(Int64(generation))
        w.key("parent")
        if let parent { w.string(parent) } else { w.null() }
        w.key("allocation")
        if let allocation { w.decimal(allocation) } else { w.null() }
        w.key("spawned"); w.int(Int64(spawned))
        w.endObject()
    }
}

extension Agent {
    init(stored a: StoredAgent) {
        self.init(
            id: a.id, user: a.userID, strategy: a.strategy, venue: a.venue, symbol: a.symbol, quantity: a.quantity,
            quoteAmount: a.quoteAmount, created: a.created, orders: a.orders, rejected: a.rejected, lastResult: a.lastResult,
            parent: a.parentID, generation: a.generation, allocation: a.allocation, spawned: a.spawned)
    }
}

/// Spawning (issue 23): when an agent's realized earnings (Σ of its positions' realized P&L, fees
/// included) reach (spawned + 1) × `spawnEvery`, it spawns a child of generation + 1 for the same
/// user and strategy, funded with exactly `spawnFunding` moved from its own sub-account. Agents of
/// generation `maxGenerations` do not spawn.
public struct AgentOptions: Sendable, Hashable {
    /// Nil: agents never spawn.
    public var spawnEvery: WideDecimal? = WideDecimal(50)
    /// At most `spawnEvery`, so what children take never exceeds what the parent realized.
    public var spawnFunding = WideDecimal(25)
    public var maxGenerations = 3
    public init() {}
}

/// Why an agent could not be created or deleted.
public enum AgentError: Error, Sendable, Hashable, CustomStringConvertible {
    case unknownUser
    case notFound
    case invalid(FieldError)
    case refused(LedgerError)

    public var description: String {
        switch self {
        case .unknownUser: "unknown user"
        case .notFound: "no such agent"
        case .invalid(let e): "\(e.field): \(e.message)"
        case .refused(let e): "\(e)"
        }
    }

    init(_ e: ExecutionService.UserError) {
        switch e {
        case .unknown, .exists: self = .unknownUser
        case .invalid(let f): self = .invalid(f)
        case .refused(let l): self = .refused(l)
        }
    }
}

/// Runs the agents: consumes `signals.*.*` from the bus and sends each matching agent's order
/// through the ``ExecutionService`` as its user (the same checks and balance rules as a person);
/// an agent with an allocation trades on its own sub-account only (``SubAccount``) and spawns
/// children from its earnings (``AgentOptions``). Agents are stored through the account journal
/// (enabled, counters, hierarchy, disabled) and loaded back at start-up, so they keep acting after
/// a restart.
public final class AgentService: Sendable {
    private struct State {
        var agents: [String: Agent] = [:]
        var next = 1
    }

    let execution: ExecutionService
    private let state = Mutex(State())
    private let logger: Logger
    public let options: AgentOptions

    public init(execution: ExecutionService, logger: Logger, options: AgentOptions = .init()) {
        self.execution = execution
        self.logger = logger
        self.options = options
    }

    /// Loads the stored agents; new ids continue after the highest stored one (or sub-account, so
    /// a deleted agent's id and sub-account are never reused).
    public func load(from store: any AccountStore) async throws {
        let stored = try await store.agents()
        let keys = execution.userIDs.filter(SubAccount.isSubAccount)
        state.withLock { s in
            func bump(_ id: Substring) {
                if id.hasPrefix("agent-"), let n = Int(id.dropFirst("agent-".count)) { s.next = max(s.next, n + 1) }
            }
            for a in stored {
                s.agents[a.id] = Agent(stored: a)
                bump(Substring(a.id))
            }
            for k in keys { if let slash = k.firstIndex(of: "/") { bump(k[k.index(after: slash)...]) } }
        }
    }

    /// Enables an agent on its user's own balance; stored before it returns (bounded wait).
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

    /// Creates a top (generation 1) agent with its own sub-account, funded with `allocation` of the
    /// cash asset by a `transfer` from the user's available balance; refused (nothing kept) when
    /// the user has less available.
    public func create(
        user: String, strategy: String, venue: String, symbol: String, quantity: WideDecimal?, quoteAmount: WideDecimal?,
        allocation: WideDecimal
    ) async throws(AgentError) -> Agent {
        guard allocation.isPositive else { throw .invalid(FieldError(field: "allocation", message: "must be positive")) }
        guard execution.account(user) != nil, !SubAccount.isSubAccount(user) else { throw .unknownUser }
        let id = state.withLock { s in
            defer { s.next += 1 }
            return "agent-\(s.next)"
        }
        do {
            // Opened and funded in one step: a refusal (not enough money) opens no sub-account.
            try await execution.transfer(
                user: user, from: nil, to: id, asset: execution.options.cashAsset, amount: allocation, memo: "allocation of \(id)",
                opening: true)
        } catch {
            throw AgentError(error)
        }
        let agent = Agent(
            id: id, user: user, strategy: strategy, venue: venue, symbol: symbol, quantity: quantity, quoteAmount: quoteAmount,
            created: execution.now, allocation: allocation)
        let entry = state.withLock { s in
            s.agents[id] = agent
            return execution.journal.append(.agent(agent.stored))
        }
        _ = await execution.journal.waitStored(entry)
        return agent
    }

    public func agents(user: String) -> [Agent] {
        state.withLock { s in s.agents.values.filter { $0.user == user } }.sorted { $0.created < $1.created || ($0.created == $1.created && $0.id < $1.id) }
    }

    public func agent(_ id: String) -> Agent? { state.withLock { $0.agents[id] } }

    /// Disables one of `user`'s agents; nil when it has none of that id. An agent with a
    /// sub-account first returns everything in it to the user (refused while it has open orders).
    public func disable(user: String, id: String) async throws(AgentError) -> Agent? {
        guard let a = agent(id), a.user == user else { return nil }
        if a.allocation != nil {
            do { try await execution.closeSubAccount(user: user, agent: id) } catch { throw AgentError(error) }
        }
        let removed = state.withLock { s -> (Agent, Int)? in
            guard let a = s.agents[id], a.user == user else { return nil }
            s.agents[id] = nil
            // Its children keep their parent link (and their own sub-accounts).
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
                quoteAmount: agent.quoteAmount, source: "\(agent.id):\(signal.strategy)", agent: agent.allocation == nil ? nil : agent.id)
            if signal.side == .sell {
                // Sell what the agent's account (its sub-account, or its user's) holds, up to the order size.
                let held = execution.account(agent.accountKey)?.positions[InstrumentKey(venue: agent.venue, symbol: agent.symbol)]?.available ?? .zero
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
                if agent.allocation != nil, !fills.isEmpty { await spawnIfEarned(agent.id) }
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

    /// Spawns a child for each threshold the agent's realized earnings have reached and it has not
    /// spawned for yet (``AgentOptions``). Each threshold is claimed under the lock first, so two
    /// concurrent fills never spawn twice for one threshold; a refused funding gives the claim back.
    /// Returns the children spawned.
    @discardableResult
    public func spawnIfEarned(_ id: String) async -> [Agent] {
        guard let step = options.spawnEvery, step.isPositive else { return [] }
        var children: [Agent] = []
        while true {
            guard let current = agent(id), current.allocation != nil, current.generation < options.maxGenerations else { break }
            let realized = execution.realizedPnL(current.accountKey)
            let claim = state.withLock { s -> (parent: Agent, child: String)? in
                guard var a = s.agents[id] else { return nil }
                guard let threshold = step.multiplied(by: WideDecimal(a.spawned + 1)), realized >= threshold else { return nil }
                a.spawned += 1
                s.agents[id] = a
                defer { s.next += 1 }
                return (a, "agent-\(s.next)")
            }
            guard let (parent, childID) = claim else { break }
            do {
                try await execution.transfer(
                    user: parent.user, from: parent.id, to: childID, asset: execution.options.cashAsset, amount: options.spawnFunding,
                    memo: "spawn: \(childID) funded from \(parent.id)'s earnings", opening: true)
            } catch {
                state.withLock { s in s.agents[id]?.spawned -= 1 }
                record(id, rejected: false, "spawn not funded: \(error)", countsOrder: false)
                Counter(label: "services_agent_spawns_total", dimensions: [("result", "refused")]).increment()
                break
            }
            let child = Agent(
                id: childID, user: parent.user, strategy: parent.strategy, venue: parent.venue, symbol: parent.symbol,
                quantity: parent.quantity, quoteAmount: parent.quoteAmount, created: execution.now, parent: parent.id,
                generation: parent.generation + 1, allocation: options.spawnFunding)
            let entry = state.withLock { s -> Int in
                s.agents[childID] = child
                if let p = s.agents[id] { execution.journal.append(.agent(p.stored)) }
                return execution.journal.append(.agent(child.stored))
            }
            _ = await execution.journal.waitStored(entry)
            Counter(label: "services_agent_spawns_total", dimensions: [("result", "spawned")]).increment()
            logger.info("agent spawned", metadata: ["parent": "\(id)", "child": "\(childID)", "user": "\(parent.user)"])
            children.append(child)
        }
        return children
    }

    private func record(_ id: String, rejected: Bool, _ result: String, countsOrder: Bool = true) {
        state.withLock { s in
            guard var a = s.agents[id] else { return }
            if countsOrder { a.orders += 1 }
            if rejected { a.rejected += 1 }
            a.lastResult = result
            s.agents[id] = a
            execution.journal.append(.agent(a.stored))
        }
        if countsOrder { Counter(label: "services_agent_orders_total", dimensions: [("result", rejected ? "rejected" : "accepted")]).increment() }
    }

    /// Consumes signals from the bus until the task is cancelled.
    public func run(bus: MarketBus) async {
        let sub = bus.subscribe([ChannelName(kind: .signals, scope: ChannelName.wildcard, symbol: ChannelName.wildcard)], policy: .dropOldest, capacity: 4096)
        defer { sub.cancel() }
        do {
            for try await message in sub {
                guard case .signal(let signal)? = message.service else { continue }
                await handle(signal)
            }
        } catch {
            logger.error("agent signal subscription ended", metadata: ["error": "\(error)"])
        }
    }
}
