import Foundation
import MarketCore
@testable import Services
import Storage
import Testing
import _TestSupport

/// The performance fee (20 % of realized profit above the user's high-water mark) and the
/// royalties it pays to the creators of a derived strategy's ancestors. Every expected amount is
/// worked out by hand in the comments (taker fee 0.1 %, performance fee 20 %, royalty 5 % for 3
/// generations) and compared as Foundation `Decimal`s.
@Suite(.serialized) struct PerformanceFeeTests {
    static func options() -> ServiceOptions {
        var o = ServiceOptions()
        o.execution.limits.maxTradesPerWindow = 100_000
        o.execution.performanceFeeRate = d("0.2")
        return o
    }

    static func order(_ side: Side, qty: String, source: String? = nil) -> OrderRequest {
        OrderRequest(venue: "binance", symbol: "BTC-USDT", side: side, type: .market, quantity: d(qty), source: source)
    }

    /// A sale's fill (the order must fill at once).
    static func sell(_ ex: ExecutionService, _ qty: String, source: String? = nil) async throws -> PaperFill {
        let out = await ex.execute(user: "tess", request: order(.sell, qty: qty, source: source))
        guard case .accepted(_, let fills, _, _, _) = out, let f = fills.first else { throw TestFailure("sell refused: \(out)") }
        return f
    }

    struct TestFailure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    static func usdc(_ ex: ExecutionService, _ user: String) -> Decimal { dec(ex.account(user)?.balances["USDC"] ?? .zero) }

    /// Creators of a derived strategy's four ancestors; only the nearest three are paid.
    static let lineage: @Sendable (String) -> [String] = { id in id == "stg_child" ? ["carol", "alice", "bob", "dave"] : [] }

    @Test func feeOnlyAboveTheHighWaterMarkAndRoyaltiesToThreeGenerations() async throws {
        let h = Harness(options: Self.options())
        let ex = h.execution
        ex.setLineage(Self.lineage)
        try await h.user("tess", cash: "10000")
        for c in ["carol", "alice", "bob", "dave"] { _ = try await ex.createUser(id: c, name: c) }

        // Buy 10 at 100.00: notional 1000, fee 1, cost basis 1001.
        h.feed(book(bids: [("99.99", "50")], asks: [("100.00", "50")]))
        guard case .accepted = await ex.execute(user: "tess", request: Self.order(.buy, qty: "10")) else { Issue.record("buy"); return }

        // An agent of stg_child sells 5 at 110: proceeds 550 − 0.55 = 549.45, basis 1001 × 5/10 = 500.5,
        // profit 48.95, all above the mark 0: fee 0.2 × 48.95 = 9.79. Royalties 0.05 × 9.79 = 0.4895 each
        // to carol, alice and bob (dave is the fourth generation: nothing).
        h.feed(book(bids: [("110.00", "50")], asks: [("110.01", "50")], at: 1_800_000_001_000))
        let first = try await Self.sell(ex, "5", source: "agent-1:stg_child")
        #expect(first.realizedPnL.map(dec) == dec("48.95"))
        #expect(first.performanceFee.map(dec) == dec("9.79"))
        for c in ["carol", "alice", "bob"] { #expect(Self.usdc(ex, c) == dec("0.4895"), "\(c)") }
        #expect(Self.usdc(ex, "dave") == 0)

        // Sell 2 at 90: proceeds 180 − 0.18 = 179.82, basis 500.5 × 2/5 = 200.2, a loss of 20.38;
        // realized 28.57 is under the mark 48.95: no fee.
        h.feed(book(bids: [("90.00", "50")], asks: [("90.01", "50")], at: 1_800_000_002_000))
        let loss = try await Self.sell(ex, "2", source: "agent-1:stg_child")
        #expect(loss.realizedPnL.map(dec) == dec("-20.38"))
        #expect(loss.performanceFee == nil)

        // Sell the last 3 at 120 (no strategy): proceeds 360 − 0.36 = 359.64, basis 300.3, profit 59.34;
        // realized 87.91, of which 87.91 − 48.95 = 38.96 is above the mark: fee 7.792, no royalties.
        h.feed(book(bids: [("120.00", "50")], asks: [("120.01", "50")], at: 1_800_000_003_000))
        let last = try await Self.sell(ex, "3")
        #expect(last.realizedPnL.map(dec) == dec("59.34"))
        #expect(last.performanceFee.map(dec) == dec("7.792"))

        // 10000 − 1001 + 549.45 − 9.79 + 179.82 + 359.64 − 7.792
        #expect(Self.usdc(ex, "tess") == dec("10070.328"))
        let mark = try #require(ex.performanceMarks(user: "tess")["USDC"])
        #expect(dec(mark.realized) == dec("87.91"))
        #expect(dec(mark.highWaterMark) == dec("87.91"))
        #expect(dec(mark.feesPaid) == dec("17.582"))

        let books = ex.books.snapshot
        // Trading fees 1 + 0.55 + 0.18 + 0.36, performance fees 17.582, less royalties 3 × 0.4895.
        #expect(dec(books.balance(of: .house(.houseFees, "USDC"))) == dec("19.672") - dec("1.4685"))
        #expect(books.transactions.filter { $0.id.hasPrefix("perf-") }.map(\.kind) == [.fee, .fee])
        #expect(books.transactions.filter { $0.id.hasPrefix("royalty-") }.count == 1)
        #expect(books.reconcile().ok)
        #expect(ex.ledgerDisagreements() == [])
    }

    @Test func theCreatorIsNotPaidOnTheirOwnFeeAndARateOfZeroChargesNothing() async throws {
        var o = Self.options()
        let h = Harness(options: o)
        h.execution.setLineage { _ in ["tess", "alice"] }
        try await h.user("tess", cash: "1000")
        _ = try await h.execution.createUser(id: "alice", name: "alice")
        h.feed(book(bids: [("99.99", "50")], asks: [("100.00", "50")]))
        _ = await h.execution.execute(user: "tess", request: Self.order(.buy, qty: "1"))
        h.feed(book(bids: [("110.00", "50")], asks: [("110.01", "50")], at: 1_800_000_001_000))
        // Proceeds 110 − 0.11 = 109.89, basis 100.1: profit 9.79, fee 1.958; alice gets 0.0979, tess nothing.
        let f = try await Self.sell(h.execution, "1", source: "a:stg_x")
        #expect(f.performanceFee.map(dec) == dec("1.958"))
        #expect(Self.usdc(h.execution, "alice") == dec("0.0979"))
        #expect(Self.usdc(h.execution, "tess") == dec("1000") - dec("100.1") + dec("109.89") - dec("1.958"))

        o.execution.performanceFeeRate = .zero
        let free = Harness(options: o)
        try await free.user("tess", cash: "1000")
        free.feed(book(bids: [("99.99", "50")], asks: [("100.00", "50")]))
        _ = await free.execution.execute(user: "tess", request: Self.order(.buy, qty: "1"))
        free.feed(book(bids: [("110.00", "50")], asks: [("110.01", "50")], at: 1_800_000_001_000))
        let g = try await Self.sell(free.execution, "1")
        #expect(g.performanceFee == nil)
        #expect(Self.usdc(free.execution, "tess") == dec("1000") - dec("100.1") + dec("109.89"))
        #expect(dec(free.execution.performanceMarks(user: "tess")["USDC"]?.highWaterMark ?? .zero) == dec("9.79"))
    }

    /// The mark survives a restart: after one, profit that only wins back a loss charges nothing,
    /// and the royalties paid before are still in the creators' balances.
    @Test(.timeLimit(.minutes(2)), arguments: Backend.available)
    func theHighWaterMarkSurvivesARestart(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store1 = try await open()
            let a = Harness(options: Self.options(), store: store1)
            try await a.suite.load()
            let journal1 = a.suite.journal
            let running1 = Task { await journal1.run() }
            a.execution.setLineage(Self.lineage)
            try await a.user("tess", cash: "10000")
            for c in ["carol", "alice", "bob"] { _ = try await a.execution.createUser(id: c, name: c) }
            a.feed(book(bids: [("99.99", "50")], asks: [("100.00", "50")]))
            _ = await a.execution.execute(user: "tess", request: Self.order(.buy, qty: "10"))
            a.feed(book(bids: [("110.00", "50")], asks: [("110.01", "50")], at: 1_800_000_001_000))
            let first = try await Self.sell(a.execution, "5", source: "agent-1:stg_child")
            #expect(first.performanceFee.map(dec) == dec("9.79"))
            a.feed(book(bids: [("90.00", "50")], asks: [("90.01", "50")], at: 1_800_000_002_000))
            _ = try await Self.sell(a.execution, "2")
            #expect(await waitUntil(seconds: 20) { journal1.pending == 0 })
            running1.cancel()
            await store1.close()

            let store2 = try await open()
            let b = Harness(options: Self.options(), store: store2)
            try await b.suite.load()
            let journal2 = b.suite.journal
            let running2 = Task { await journal2.run() }
            let mark = try #require(b.execution.performanceMarks(user: "tess")["USDC"])
            #expect(dec(mark.realized) == dec("28.57"))
            #expect(dec(mark.highWaterMark) == dec("48.95"))
            #expect(dec(mark.feesPaid) == dec("9.79"))
            #expect(Self.usdc(b.execution, "alice") == dec("0.4895"))
            // Sell 1 at 105: proceeds 105 − 0.105 = 104.895, basis 100.1: profit 4.795; realized 33.365
            // is still under 48.95: no fee (a restart that forgot the mark would charge 0.959).
            b.feed(book(bids: [("105.00", "50")], asks: [("105.01", "50")], at: 1_800_000_003_000))
            let after = try await Self.sell(b.execution, "1")
            #expect(after.performanceFee == nil)
            // Sell 2 at 120: proceeds 239.76, basis 200.2: profit 39.56; realized 72.925, fee 0.2 × 23.975 = 4.795.
            b.feed(book(bids: [("120.00", "50")], asks: [("120.01", "50")], at: 1_800_000_004_000))
            let fee = try await Self.sell(b.execution, "2")
            #expect(fee.performanceFee.map(dec) == dec("4.795"))
            #expect(b.execution.books.reconcile().ok)
            #expect(b.execution.ledgerDisagreements() == [])
            #expect(await waitUntil(seconds: 20) { journal2.pending == 0 })
            running2.cancel()
            await store2.close()
        }
    }
}
