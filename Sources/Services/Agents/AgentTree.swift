public import MarketCore

/// A user's agents as their hierarchy (`GET /api/v1/agents/tree`): each agent with its
/// sub-account's figures and its children, and the user's whole portfolio (their own account plus
/// every sub-account).
public struct AgentTree: Sendable {
    public struct OpenTrade: Sendable, Hashable {
        public var venue: String
        public var symbol: String
        public var qty: WideDecimal
        public var averagePrice: WideDecimal
    }

    public struct Node: Sendable {
        public var agent: Agent
        /// Cash available in its sub-account (nil: it trades its user's balance).
        public var balance: WideDecimal?
        /// Realized P&L of its sub-account, fees included (nil without a sub-account).
        public var earned: WideDecimal?
        /// earned / allocation × 100, two digits, half-even.
        public var earnedPercent: WideDecimal?
        public var openTrades: [OpenTrade]
        public var children: [Node]
    }

    public var user: String
    public var asset: String
    public var agents: [Node]
    /// The user's own cash balance, outside every agent.
    public var unallocated: WideDecimal
    /// Cash in the user's account and every sub-account.
    public var totalCash: WideDecimal
    /// totalCash + every holding at its instrument's mid (holdings without a mid are left out).
    public var totalValue: WideDecimal

    public func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("user"); w.string(user)
        w.key("asset"); w.string(asset)
        w.key("agents")
        w.beginArray()
        for n in agents { Self.write(n, into: &w) }
        w.endArray()
        w.key("portfolio")
        w.beginObject()
        w.key("unallocated"); w.decimal(unallocated)
        w.key("cash"); w.decimal(totalCash)
        w.key("value"); w.decimal(totalValue)
        w.endObject()
        w.endObject()
    }

    static func write(_ n: Node, into w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.string(n.agent.id)
        w.key("strategy"); w.string(n.agent.strategy)
        w.key("venue"); w.string(n.agent.venue)
        w.key("symbol"); w.string(n.agent.symbol)
        w.key("generation"); w.int(Int64(n.agent.generation))
        w.key("parent")
        if let p = n.agent.parent { w.string(p) } else { w.null() }
        w.key("status"); w.string("active")
        w.key("allocation")
        if let a = n.agent.allocation { w.decimal(a) } else { w.null() }
        w.key("balance")
        if let b = n.balance { w.decimal(b) } else { w.null() }
        w.key("earned")
        if let e = n.earned { w.decimal(e) } else { w.null() }
        w.key("earned_pct")
        if let e = n.earnedPercent { w.decimal(e) } else { w.null() }
        w.key("orders"); w.int(Int64(n.agent.orders))
        w.key("spawned"); w.int(Int64(n.agent.spawned))
        w.key("open_trades")
        w.beginArray()
        for t in n.openTrades {
            w.beginObject()
            w.key("venue"); w.string(t.venue)
            w.key("symbol"); w.string(t.symbol)
            w.key("qty"); w.decimal(t.qty)
            w.key("avg_price"); w.decimal(t.averagePrice)
            w.endObject()
        }
        w.endArray()
        w.key("children")
        w.beginArray()
        for c in n.children { write(c, into: &w) }
        w.endArray()
        w.endObject()
    }
}

extension AgentService {
    /// `user`'s agents as a tree; an agent whose parent was deleted is shown as a root.
    public func tree(user: String) -> AgentTree {
        let cash = execution.options.cashAsset
        let all = agents(user: user)
        let ids = Set(all.map(\.id))
        func node(_ a: Agent) -> AgentTree.Node {
            var n = AgentTree.Node(agent: a, balance: nil, earned: nil, earnedPercent: nil, openTrades: [], children: [])
            if let allocation = a.allocation, let account = execution.account(a.accountKey) {
                n.balance = account.available(cash).trimmed
                let earned = execution.realizedPnL(a.accountKey)
                n.earned = earned.trimmed
                n.earnedPercent = Money.mulDiv(earned, WideDecimal(100), allocation, digits: 2, .halfEven)?.trimmed
                n.openTrades = account.positions.sorted { $0.key < $1.key }.compactMap { k, p in
                    p.qty.isPositive ? AgentTree.OpenTrade(venue: k.venue, symbol: k.symbol, qty: p.qty, averagePrice: p.averagePrice) : nil
                }
            }
            n.children = all.filter { $0.parent == a.id }.map(node)
            return n
        }
        let roots = all.filter { $0.parent == nil || !ids.contains($0.parent!) }.map(node)
        var unallocated = WideDecimal.zero
        var totalCash = WideDecimal.zero
        var totalValue = WideDecimal.zero
        for key in execution.accountKeys(of: user) {
            guard let account = execution.account(key) else { continue }
            let c = account.balances[cash] ?? .zero
            if key == user { unallocated = c }
            totalCash = totalCash.adding(c) ?? totalCash
            totalValue = totalValue.adding(c) ?? totalValue
            for (k, p) in account.positions where p.qty.isPositive {
                if let mid = execution.market.mid(k), let v = p.qty.multiplied(by: mid) { totalValue = totalValue.adding(v) ?? totalValue }
            }
        }
        return AgentTree(
            user: user, asset: cash, agents: roots, unallocated: unallocated.trimmed, totalCash: totalCash.trimmed, totalValue: totalValue.trimmed)
    }
}
