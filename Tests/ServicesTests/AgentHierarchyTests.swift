import Foundation
import MarketCore
import Services
import Storage
import Testing
import _TestSupport

/// The agent hierarchy (issue 23): sub-accounts funded by ledger transfers, spawning at exact
/// thresholds of realized earnings (fees included), isolation of many users' agents, restart.
@Suite struct AgentHierarchyTests {
    static let btc = InstrumentKey(venue: "binance", symbol: "BTC-USDT")

    static func options(every: String = "50", funding: String = "20", maxGenerations: Int = 3) -> ServiceOptions {
        var o = ServiceOptions()
        o.execution.limits.maxTradesPerWindow = 10_000
        o.agents.spawnEvery = d(every)
        o.agents.spawnFunding = d(funding)
        o.agents.maxGenerations = maxGenerations
        return o
    }

    static func signal(_ side: Side, price: String, strategy: String = "ema_cross") -> TradeSignal {
        TradeSignal(
            strategy: strategy, venue: "binance", symbol: "BTC-USDT", interval: "1m", side: side, price: d(price),
            time: .seconds(1_800_000_000), values: [:], reason: "test")
    }

    /// Buy 1 BTC at 954.02 (cost 954.02 × 1.001 = 954.97402), then sell it at `sell` (proceeds
    /// sell × 0.999): at 1005.98 the realized P&L is 1004.97402 − 954.97402 = 50 exactly; at
    /// 1005.97 it is 1004.96403 − 954.97402 = 49.99001.
    static func roundTrip(_ h: Harness, _ agents: AgentService, sell: String) async {
        h.feed(book(bids: [("954.00", "10")], asks: [("954.02", "10")]))
        await agents.handle(signal(.buy, price: "954.02"))
        h.feed(book(bids: [(sell, "10")], asks: [("1006.00", "10")]))
        await agents.handle(signal(.sell, price: sell))
    }

    @Test(.timeLimit(.minutes(1))) func justBelowTheThresholdSpawnsNothing() async throws {
        let h = Harness(options: Self.options())
        try await h.user("ava", cash: "10000")
        let agents = h.suite.agents
        let a = try await agents.create(
            user: "ava", strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", quantity: d("1"), quoteAmount: nil, allocation: d("5000"))
        await Self.roundTrip(h, agents, sell: "1005.97")
        #expect(dec(h.execution.realizedPnL(a.accountKey)) == dec("49.99001"))
        #expect(agents.agents(user: "ava").map(\.id) == [a.id])
        #expect(agents.agent(a.id)?.spawned == 0)
        // 5000 − 954.97402 + 1004.96403.
        #expect(dec(h.execution.account(a.accountKey)!.balances["USDC"]!) == dec("5049.99001"))
        #expect(h.execution.books.reconcile().ok)
    }

    @Test(.timeLimit(.minutes(1))) func exactlyAtTheThresholdSpawnsAChildFundedFromTheParent() async throws {
        let h = Harness(options: Self.options())
        try await h.user("ava", cash: "10000")
        let agents = h.suite.agents
        let a = try await agents.create(
            user: "ava", strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", quantity: d("1"), quoteAmount: nil, allocation: d("5000"))
        // The allocation left the user's own balance by one balanced transfer.
        #expect(h.execution.account("ava")!.balances["USDC"] == d("5000"))
        await Self.roundTrip(h, agents, sell: "1005.98")
        #expect(dec(h.execution.realizedPnL(a.accountKey)) == dec("50"))
        let all = agents.agents(user: "ava")
        #expect(all.count == 2)
        let child = try #require(all.first { $0.id != a.id })
        #expect(child.parent == a.id && child.generation == 2 && child.allocation == d("20") && child.user == "ava")
        #expect(child.strategy == a.strategy && child.quantity == d("1"))
        #expect(agents.agent(a.id)?.spawned == 1)
        // Parent: 5000 − 954.97402 + 1004.97402 − 20 = 5030; child: 20; the user's own: 5000.
        #expect(dec(h.execution.account(a.accountKey)!.balances["USDC"]!) == dec("5030"))
        #expect(h.execution.account(child.accountKey)!.balances["USDC"] == d("20"))
        #expect(h.execution.account("ava")!.balances["USDC"] == d("5000"))
        // The funding posting: exactly 20 from the parent's sub-account to the child's, nothing else.
        let books = h.execution.books.snapshot
        let funding = try #require(books.transactions.last { $0.memo.contains("spawn") })
        #expect(funding.kind == .transfer)
        #expect(
            Set(funding.postings) == [
                LedgerPosting(.user("ava/\(a.id)", .available, "USDC"), d("-20")), LedgerPosting(.user("ava/\(child.id)", .available, "USDC"), d("20")),
            ])
        #expect(books.balance(of: .user("ava/\(child.id)", .available, "USDC")) == d("20"))
        let r = books.reconcile()
        #expect(r.ok, "\(r)")
        #expect(h.execution.ledgerDisagreements().isEmpty)
        // Fees are in: the house earned 0.95402 + 1.00598 = 1.96.
        #expect(books.balance(of: .house(.houseFees, "USDC")) == d("1.96"))
        // Another round trip does not reach 100: no second child.
        _ = await agents.spawnIfEarned(a.id)
        #expect(agents.agents(user: "ava").count == 2)
    }

    /// Sub-accounts are ledger accounts like any user's: the reconciliation counts them, so a
    /// stored posting that changed only a child's balance shows as drift of exactly that amount.
    @Test(.timeLimit(.minutes(1))) func theReconciliationCountsSubAccounts() async throws {
        let h = Harness(options: Self.options())
        try await h.user("ava", cash: "10000")
        let agents = h.suite.agents
        let a = try await agents.create(
            user: "ava", strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", quantity: d("1"), quoteAmount: nil, allocation: d("5000"))
        await Self.roundTrip(h, agents, sell: "1005.98")
        let child = try #require(agents.agents(user: "ava").first { $0.parent == a.id })
        var txs = h.execution.books.snapshot.transactions
        #expect(h.execution.books.snapshot.reconcile().ok)
        txs.append(
            LedgerTransaction(
                id: "forged", time: .seconds(1_800_000_100), kind: .adjustment,
                postings: [LedgerPosting(.user("ava/\(child.id)", .available, "USDC"), d("7"))]))
        let r = Ledger(restoring: txs).reconcile()
        #expect(!r.ok)
        #expect(r.asset("USDC")?.total == LedgerSum(d("7")))
        #expect(r.asset("USDC")?.fundingDrift == LedgerSum(d("7")))
    }

    @Test(.timeLimit(.minutes(1))) func theLastGenerationDoesNotSpawnAndFundingMayEqualTheThreshold() async throws {
        let h = Harness(options: Self.options(maxGenerations: 1))
        try await h.user("bo", cash: "10000")
        let agents = h.suite.agents
        let a = try await agents.create(
            user: "bo", strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", quantity: d("1"), quoteAmount: nil, allocation: d("5000"))
        await Self.roundTrip(h, agents, sell: "1005.98")
        #expect(agents.agents(user: "bo").count == 1 && agents.agent(a.id)?.spawned == 0)

        // Funding equal to the threshold: the whole 50 earned moves to the child.
        let h2 = Harness(options: Self.options(every: "50", funding: "50"))
        try await h2.user("cy", cash: "10000")
        let b = try await h2.suite.agents.create(
            user: "cy", strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", quantity: d("1"), quoteAmount: nil, allocation: d("960"))
        await Self.roundTrip(h2, h2.suite.agents, sell: "1005.98")
        // 960 − 954.97402 + 1004.97402 = 1010 ≥ 50: funded.
        #expect(h2.suite.agents.agents(user: "cy").count == 2)
        #expect(dec(h2.execution.account(b.accountKey)!.balances["USDC"]!) == dec("960"))
    }

    /// Earned the threshold but holds less than the funding: no child, no sub-account, the claim
    /// given back (a later, richer parent may still spawn for it).
    @Test(.timeLimit(.minutes(1))) func aSpawnThatCannotBeFundedOpensNothing() async throws {
        let h = Harness(options: Self.options(every: "50", funding: "1010.01"))
        try await h.user("ed", cash: "10000")
        let agents = h.suite.agents
        let a = try await agents.create(
            user: "ed", strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", quantity: d("1"), quoteAmount: nil, allocation: d("960"))
        await Self.roundTrip(h, agents, sell: "1005.98")
        // 960 − 954.97402 + 1004.97402 = 1010 available, 0.01 short of the funding.
        #expect(dec(h.execution.account(a.accountKey)!.balances["USDC"]!) == dec("1010"))
        #expect(agents.agents(user: "ed").map(\.id) == [a.id])
        #expect(agents.agent(a.id)?.spawned == 0)
        #expect(h.execution.userIDs == ["ed", a.accountKey])
        #expect(h.execution.books.reconcile().ok)
    }

    /// 30 creations of 7.5 at once against 100 available: exactly ⌊100 / 7.5⌋ = 13 agents, and only
    /// their 13 sub-accounts are opened (the check and the open are one step, so a creation refused
    /// because the others took the money leaves no empty sub-account behind).
    @Test(.timeLimit(.minutes(1))) func concurrentCreationsOpenOnlyTheFundedSubAccounts() async throws {
        let h = Harness(options: Self.options())
        try await h.user("fi", cash: "100")
        let agents = h.suite.agents
        let created = await withTaskGroup(of: Agent?.self) { group in
            for _ in 0..<30 {
                group.addTask {
                    try? await agents.create(
                        user: "fi", strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", quantity: d("0.1"), quoteAmount: nil,
                        allocation: d("7.5"))
                }
            }
            var all: [Agent] = []
            for await a in group { if let a { all.append(a) } }
            return all
        }
        #expect(created.count == 13)
        #expect(Set(h.execution.userIDs) == Set(["fi"] + created.map(\.accountKey)))
        #expect(h.execution.account("fi")!.balances["USDC"] == d("2.5"))
        #expect(h.execution.books.reconcile().ok)
        #expect(h.execution.ledgerDisagreements().isEmpty)
    }

    @Test(.timeLimit(.minutes(1))) func allocationNeedsTheUsersAvailableMoneyAndDeletingReturnsEverything() async throws {
        let h = Harness(options: Self.options())
        try await h.user("di", cash: "100")
        let agents = h.suite.agents
        await #expect(throws: AgentError.self) {
            _ = try await agents.create(
                user: "di", strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", quantity: d("0.1"), quoteAmount: nil, allocation: d("100.01"))
        }
        #expect(agents.agents(user: "di").isEmpty)
        #expect(h.execution.account("di")!.balances["USDC"] == d("100"))
        // The refusal opened no sub-account (no empty row for the store either).
        #expect(h.execution.userIDs == ["di"])
        let a = try await agents.create(
            user: "di", strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", quantity: d("0.1"), quoteAmount: nil, allocation: d("60"))
        h.feed(book(bids: [("100.00", "10")], asks: [("100.01", "10")]))
        await agents.handle(Self.signal(.buy, price: "100.01"))
        // The agent spent 0.1 × 100.01 × 1.001 = 10.011001 of its 60; the user's 40 are untouched.
        #expect(dec(h.execution.account(a.accountKey)!.balances["USDC"]!) == dec("49.988999"))
        #expect(h.execution.account("di")!.balances["USDC"] == d("40"))
        // An order bigger than the allocation is refused even though the user has more in total.
        let big = await h.execution.execute(
            user: "di", request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("0.6"), agent: a.id))
        guard case .rejected = big else {
            Issue.record("\(big)")
            return
        }
        // Deleting returns the cash and the 0.1 BTC to the user.
        _ = try await agents.disable(user: "di", id: a.id)
        let di = h.execution.account("di")!
        #expect(dec(di.balances["USDC"]!) == dec("89.988999"))
        #expect(di.positions[Self.btc]?.qty == d("0.1"))
        #expect(h.execution.account(a.accountKey)!.balances["USDC"]?.isZero ?? true)
        #expect(h.execution.books.reconcile().ok)
        #expect(h.execution.ledgerDisagreements().isEmpty)
    }

    @Test(.timeLimit(.minutes(1))) func manyUsersAgentsTradingOneInstrumentConcurrentlyKeepEachUsersBooksToTheirOwnFills() async throws {
        let h = Harness(options: Self.options(every: "1000000"))
        h.feed(book(bids: [("100.00", "1000000")], asks: [("100.01", "1000000")]))
        let users = (0..<8).map { "u\($0)" }
        var agentOf: [String: Agent] = [:]
        for u in users {
            try await h.user(u, cash: "2000")
            agentOf[u] = try await h.suite.agents.create(
                user: u, strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", quantity: d("0.11"), quoteAmount: nil, allocation: d("1000"))
        }
        let table = agentOf
        // Per user: 100 agent buys (only ⌊1000 / 11.0121011⌋ = 90 fit the allocation), 20 buys of
        // the user's own, and 10 attempts on another user's agent id (no such sub-account of theirs).
        await withTaskGroup(of: Void.self) { group in
            for (i, u) in users.enumerated() {
                let mine = table[u]!.id
                let other = table[users[(i + 1) % users.count]]!.id
                for n in 0..<130 {
                    group.addTask {
                        let agent: String? = n < 100 ? mine : n < 120 ? nil : other
                        _ = await h.execution.execute(
                            user: u,
                            request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("0.11"), agent: agent))
                    }
                }
            }
        }
        let books = h.execution.books.snapshot
        for u in users {
            let key = table[u]!.accountKey
            let sub = try #require(h.execution.account(key))
            let own = try #require(h.execution.account(u))
            #expect(sub.fills.count == 90 && own.fills.count == 20)
            #expect(sub.fills.allSatisfy { $0.user == key } && own.fills.allSatisfy { $0.user == u })
            #expect(dec(sub.balances["USDC"]!) == dec("1000") - 90 * dec("11.0121011"))
            #expect(dec(own.balances["USDC"]!) == dec("1000") - 20 * dec("11.0121011"))
            for (k, a) in [(key, sub), (u, own)] {
                let spent = a.fills.reduce(Decimal(0)) { $0 + dec($1.notional) + dec($1.fee) }
                let held = a.fills.reduce(Decimal(0)) { $0 + dec($1.qty) }
                #expect(dec(books.balance(of: .user(k, .available, "USDC"))) == dec("1000") - spent)
                #expect(dec(books.balance(of: .user(k, .holding, "BTC"))) == held)
            }
        }
        let r = books.reconcile()
        #expect(r.ok, "\(r)")
        #expect(h.execution.ledgerDisagreements().isEmpty)
    }
}

@Suite(.serialized) struct AgentHierarchyRestartTests {
    @Test(.timeLimit(.minutes(2)), arguments: Backend.available)
    func theHierarchyAndItsSubAccountsComeBackAfterARestart(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store1 = try await open()
            let a = Harness(options: AgentHierarchyTests.options(), store: store1)
            try await a.suite.load()
            let journal1 = a.suite.journal
            let j1 = Task { await journal1.run() }
            try await a.user("eve", cash: "10000")
            let parent = try await a.suite.agents.create(
                user: "eve", strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", quantity: d("1"), quoteAmount: nil, allocation: d("5000"))
            await AgentHierarchyTests.roundTrip(a, a.suite.agents, sell: "1005.98")
            let child = try #require(a.suite.agents.agents(user: "eve").first { $0.parent == parent.id })
            #expect(await waitUntil(seconds: 20) { a.suite.journal.pending == 0 })
            j1.cancel()
            await store1.close()

            let store2 = try await open()
            let b = Harness(options: AgentHierarchyTests.options(), store: store2)
            try await b.suite.load()
            let journal2 = b.suite.journal
            let j2 = Task { await journal2.run() }
            let agents = b.suite.agents.agents(user: "eve")
            #expect(agents.map(\.id).sorted() == [parent.id, child.id].sorted())
            let p = try #require(b.suite.agents.agent(parent.id))
            let c = try #require(b.suite.agents.agent(child.id))
            #expect(p.generation == 1 && p.parent == nil && p.allocation == d("5000") && p.spawned == 1)
            #expect(c.generation == 2 && c.parent == parent.id && c.allocation == d("20") && c.spawned == 0)
            #expect(dec(b.execution.account(p.accountKey)!.balances["USDC"]!) == dec("5030"))
            #expect(b.execution.account(c.accountKey)!.balances["USDC"] == d("20"))
            #expect(dec(b.execution.realizedPnL(p.accountKey)) == dec("50"))
            #expect(b.execution.books.reconcile().ok)
            #expect(b.execution.ledgerDisagreements().isEmpty)
            // New ids continue after the stored ones; deleting the child returns its 20.
            _ = try await b.suite.agents.disable(user: "eve", id: c.id)
            #expect(b.execution.account("eve")!.balances["USDC"] == d("5020"))
            let next = try await b.suite.agents.create(
                user: "eve", strategy: "ema_cross", venue: "binance", symbol: "BTC-USDT", quantity: d("1"), quoteAmount: nil, allocation: d("10"))
            #expect(![parent.id, child.id].contains(next.id))
            #expect(b.execution.books.reconcile().ok)
            #expect(await waitUntil(seconds: 20) { b.suite.journal.pending == 0 })
            b.suite.journal.finish()
            await j2.value
            await store2.close()
        }
    }
}
