import Foundation
import MarketCore
@testable import Services
import Storage
import Testing
import _TestSupport

/// Trading posts through the double-entry ledger: deposits, fills (with their fee), reservations
/// of resting orders and their release, each one balanced transaction stored with the account
/// change it mirrors; the books reconcile and agree with the accounts, also after a restart.
@Suite(.serialized) struct LedgerPostingTests {
    static let key = InstrumentKey(venue: "binance", symbol: "BTC-USDT")

    static func options() -> ServiceOptions {
        var o = ServiceOptions()
        o.execution.limits.maxTradesPerWindow = 100_000
        return o
    }

    static func order(_ side: Side, _ type: OrderType, qty: String, limit: String? = nil) -> OrderRequest {
        OrderRequest(venue: "binance", symbol: "BTC-USDT", side: side, type: type, quantity: d(qty), limitPrice: limit.map(d))
    }

    static func balance(_ h: Harness, _ a: LedgerAccount) -> Decimal { dec(h.execution.books.balance(of: a)) }

    @Test func eachOperationPostsOneBalancedTransactionWithTheExpectedBalances() async throws {
        let h = Harness(options: Self.options())
        try await h.user("ann", cash: "1000")
        h.feed(book(bids: [("99.95", "5")], asks: [("100.00", "5")]))
        let usdc = "USDC"

        // Market buy of 2 at 100.00: notional 200, fee 0.1 % = 0.2.
        let buy = await h.execution.execute(user: "ann", request: Self.order(.buy, .market, qty: "2"))
        guard case .accepted = buy else { Issue.record("\(buy)"); return }
        // Limit buy of 1 at 99 rests: reserves 99 × 1 × 1.001 = 99.099.
        let restingBuy = await h.execution.execute(user: "ann", request: Self.order(.buy, .limit, qty: "1", limit: "99"))
        guard case .accepted(let buyID, let f1, _?, _, _) = restingBuy, f1.isEmpty else { Issue.record("\(restingBuy)"); return }
        #expect(Self.balance(h, .user("ann", .available, usdc)) == dec("1000") - dec("200.2") - dec("99.099"))
        #expect(Self.balance(h, .user("ann", .reserved, usdc)) == dec("99.099"))
        // Limit sell of 0.5 at 101 rests: 0.5 BTC moves from holding to reserved.
        let restingSell = await h.execution.execute(user: "ann", request: Self.order(.sell, .limit, qty: "0.5", limit: "101"))
        guard case .accepted(_, let f2, _?, _, _) = restingSell, f2.isEmpty else { Issue.record("\(restingSell)"); return }
        #expect(Self.balance(h, .user("ann", .holding, "BTC")) == dec("1.5"))
        #expect(Self.balance(h, .user("ann", .reserved, "BTC")) == dec("0.5"))
        // Cancel the buy: the 99.099 come back.
        #expect(await h.execution.cancel(user: "ann", orderID: buyID) != nil)
        // A book whose bid 101.5 crosses the sell: 0.5 × 101.5 = 50.75, fee 0.05075.
        h.feed(book(bids: [("101.50", "5")], asks: [("101.60", "5")], at: 1_800_000_001_000))

        let expected: [(LedgerAccount, String)] = [
            (.user("ann", .available, usdc), "850.49925"),  // 1000 − 200.2 + 50.75 − 0.05075
            (.user("ann", .holding, "BTC"), "1.5"),
            (.house(.housePool, usdc), "-1000"),
            (.house(.houseFees, usdc), "0.25075"),  // 0.2 + 0.05075
            (.house(.paperCounterparty, usdc), "149.25"),  // 200 − 50.75
            (.house(.paperCounterparty, "BTC"), "-1.5"),
        ]
        for (account, value) in expected { #expect(Self.balance(h, account) == dec(value), "\(account)") }
        let books = h.execution.books.snapshot
        #expect(books.balance(of: .user("ann", .reserved, usdc)).isZero)
        #expect(books.balance(of: .user("ann", .reserved, "BTC")).isZero)
        #expect(books.accounts.filter { !books.balance(of: $0).isZero }.count == expected.count)
        // deposit, fill, reserve (buy), reserve (sell), release, fill.
        #expect(books.transactions.map(\.kind) == [.deposit, .fill, .transfer, .transfer, .transfer, .fill])
        for t in books.transactions {
            var perAsset: [String: Decimal] = [:]
            for p in t.postings { perAsset[p.asset, default: 0] += dec(p.amount) }
            #expect(perAsset.values.allSatisfy { $0 == 0 }, "\(t.id)")
        }
        #expect(books.reconcile().ok)
        #expect(h.execution.ledgerDisagreements() == [])
    }

    /// A deterministic generator, so a failure can be replayed.
    typealias Mix = SeededGenerator

    /// Random interleaved deposits, market and limit orders, cancels and moving books from several
    /// users at once; then the books reconcile, agree with every account, and match totals the
    /// test computes from the fills; after a restart on the same database they come back the same.
    @Test(.timeLimit(.minutes(3)), arguments: Backend.available)
    func randomOperationsKeepTheBooksAndTheAccountsInAgreementAcrossARestart(_ backend: Backend) async throws {
        let users = ["u1", "u2", "u3", "u4"]
        try await backend.withDatabase { open in
            let store1 = try await open()
            let h = Harness(options: Self.options(), store: store1)
            try await h.suite.load()
            let journal = h.suite.journal
            let running = Task { await journal.run() }
            var deposited = Decimal(0)
            for u in users {
                try await h.user(u, cash: "5000")
                deposited += dec("5000")
            }
            h.feed(book(bids: [("100.00", "50")], asks: [("100.05", "50")]))
            for round in 0..<6 {
                // Each user's operations run in parallel with the others'.
                let extra = await withTaskGroup(of: Decimal.self) { group in
                    for (n, u) in users.enumerated() {
                        group.addTask {
                            var rng = Mix(seed: UInt64(round * 100 + n + 1))
                            var deposits = Decimal(0)
                            for _ in 0..<12 {
                                let qty = ["0.1", "0.2", "0.35", "1"].randomElement(using: &rng)!
                                switch Int.random(in: 0..<6, using: &rng) {
                                case 0:
                                    _ = try? await h.execution.deposit(user: u, asset: "USDC", amount: d("250.5"))
                                    deposits += dec("250.5")
                                case 1: _ = await h.execution.execute(user: u, request: Self.order(.buy, .market, qty: qty))
                                case 2: _ = await h.execution.execute(user: u, request: Self.order(.sell, .market, qty: qty))
                                case 3:
                                    let limit = ["99.50", "99.90", "100.10"].randomElement(using: &rng)!
                                    _ = await h.execution.execute(user: u, request: Self.order(.buy, .limit, qty: qty, limit: limit))
                                case 4:
                                    let limit = ["100.00", "100.20", "100.60"].randomElement(using: &rng)!
                                    _ = await h.execution.execute(user: u, request: Self.order(.sell, .limit, qty: qty, limit: limit))
                                default:
                                    if let o = h.execution.restingOrders(user: u).randomElement(using: &rng) {
                                        _ = await h.execution.cancel(user: u, orderID: o.id)
                                    }
                                }
                            }
                            return deposits
                        }
                    }
                    return await group.reduce(Decimal(0), +)
                }
                deposited += extra
                // The market moves: resting orders on either side fill.
                let mid = [Decimal(string: "99.7")!, Decimal(string: "100.3")!, Decimal(100)][round % 3]
                let bid = "\(mid - Decimal(string: "0.05")!)", ask = "\(mid)"
                h.feed(book(bids: [(bid, "50")], asks: [(ask, "50")], at: 1_800_000_010_000 + Int64(round) * 1000))
            }

            let books = h.execution.books.snapshot
            #expect(books.reconcile().ok, "\(books.reconcile())")
            #expect(h.execution.ledgerDisagreements() == [])
            // Totals the test computes from the fills themselves.
            var fees = Decimal(0), counterUSDC = Decimal(0), counterBTC = Decimal(0), fillCount = 0
            for u in users {
                for f in h.execution.account(u)!.fills {
                    fillCount += 1
                    fees += dec(f.fee)
                    let sign: Decimal = f.side == .buy ? 1 : -1
                    counterUSDC += sign * dec(f.notional)
                    counterBTC -= sign * dec(f.qty)
                }
            }
            #expect(fillCount > 20, "the random run should trade")
            #expect(dec(books.balance(of: .house(.houseFees, "USDC"))) == fees)
            #expect(dec(books.balance(of: .house(.paperCounterparty, "USDC"))) == counterUSDC)
            #expect(dec(books.balance(of: .house(.paperCounterparty, "BTC"))) == counterBTC)
            #expect(dec(books.balance(of: .house(.housePool, "USDC"))) == -deposited)
            #expect(await waitUntil(seconds: 30) { journal.pending == 0 })
            running.cancel()
            await store1.close()

            // Restart: the stored books are the same books, and still agree with the stored accounts.
            let store2 = try await open()
            let again = Harness(options: Self.options(), store: store2)
            try await again.suite.load()
            let reloaded = again.execution.books.snapshot
            #expect(reloaded.transactions.map(\.id) == books.transactions.map(\.id))
            for a in Set(books.accounts).union(reloaded.accounts) {
                #expect(dec(reloaded.balance(of: a)) == dec(books.balance(of: a)), "\(a)")
            }
            #expect(reloaded.reconcile().ok)
            #expect(again.execution.ledgerDisagreements() == [])
            await store2.close()
        }
    }

    /// Accounts stored before the ledger existed get one opening transaction at start-up; a user
    /// who has postings is never "corrected" (a forged posting stays visible as a disagreement).
    @Test(.timeLimit(.minutes(1)), arguments: Backend.available)
    func accountsStoredBeforeTheLedgerGetAnOpeningBalance(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store = try await open()
            let t = UnixNanos.seconds(1_800_000_000)
            #expect(try await store.createUser(StoredUser(id: "old", name: "old", createdAt: t)))
            try await store.commit(
                LedgerWrite(
                    balances: [StoredBalance(userID: "old", asset: "USDC", amount: d("123.45"))],
                    positions: [StoredPosition(userID: "old", venue: "binance", symbol: "BTC-USDT", qty: d("0.3"), avgPrice: d("100"), realizedPnL: .zero)],
                    time: t))
            let h = Harness(options: Self.options(), store: store)
            try await h.suite.load()
            let books = h.execution.books.snapshot
            #expect(books.transactions.map(\.id) == ["opening-old"])
            #expect(dec(books.balance(of: .user("old", .available, "USDC"))) == dec("123.45"))
            #expect(dec(books.balance(of: .user("old", .holding, "BTC"))) == dec("0.3"))
            #expect(dec(books.balance(of: .house(.housePool, "USDC"))) == dec("-123.45"))
            #expect(dec(books.balance(of: .house(.paperCounterparty, "BTC"))) == dec("-0.3"))
            #expect(books.reconcile().ok)
            #expect(h.execution.ledgerDisagreements() == [])
            // A second start posts nothing more (the journal stores the opening transaction first).
            let journal = h.suite.journal
            let running = Task { await journal.run() }
            #expect(await waitUntil(seconds: 20) { journal.pending == 0 })
            running.cancel()
            let again = Harness(options: Self.options(), store: store)
            try await again.suite.load()
            #expect(again.execution.books.snapshot.transactions.map(\.id) == ["opening-old"])
            await store.close()
        }
    }

    /// A journal entry retried after a commit whose answer was lost stores its ledger transaction
    /// once (skipped by id), while a direct append of a stored id is still refused.
    @Test(.timeLimit(.minutes(1)), arguments: Backend.available)
    func aRetriedCommitStoresItsLedgerTransactionOnce(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store = try await open()
            let t = UnixNanos.seconds(1_800_000_000)
            _ = try await store.createUser(StoredUser(id: "rex", name: "rex", createdAt: t))
            let tx = LedgerTransaction(
                id: "deposit-x-1", time: t, kind: .deposit, memo: "paper deposit",
                postings: [LedgerPosting(.house(.housePool, "USDC"), d("-12.5")), LedgerPosting(.user("rex", .available, "USDC"), d("12.5"))])
            let write = LedgerWrite(balances: [StoredBalance(userID: "rex", asset: "USDC", amount: d("12.5"))], time: t, ledger: [tx.stored])
            try await store.commit(write)
            try await store.commit(write)
            let ledgerStore = store as! any LedgerStore
            let stored = try await ledgerStore.ledgerTransactions()
            #expect(stored.map(\.id) == ["deposit-x-1"])
            #expect(stored.first?.postings.count == 2)
            await #expect(throws: (any Error).self) { try await ledgerStore.appendLedgerTransaction(tx.stored) }
            await store.close()
        }
    }

    /// On a running gateway the monitor reconciles the books the services post to (not a copy
    /// loaded once), and says so while they are not loaded yet.
    @Test(.timeLimit(.minutes(1)))
    func theMonitorReconcilesTheBooksTheServicesPostTo() async throws {
        let dir = try makeTempDirectory("ledger-live")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteStore(path: dir + "/g.sqlite", logger: quiet)
        _ = try await store.migrate()
        let h = Harness(options: Self.options(), store: store)
        let suite = h.suite
        let monitor = LedgerMonitor(store: store, logger: quiet, live: { suite.loaded ? suite.execution.books : nil })
        #expect(await monitor.check() == nil)
        #expect(monitor.healthLine == "not loaded yet")
        try await suite.load()
        let journal = suite.journal
        let running = Task { await journal.run() }
        try await h.user("zoe", cash: "42")
        // The pool and zoe's available USDC, one deposit.
        #expect(await monitor.check()?.ok == true)
        #expect(monitor.healthLine == "ok: 1 assets, 2 accounts, 1 transactions balance")
        running.cancel()
        await store.close()
    }

    @Test func aJournalEntryKeepsItsLedgerTransactionThroughTheSpillFile() throws {
        let tx = StoredLedgerTransaction(
            id: "fill-x-1", time: UnixNanos(1_800_000_000_123_456_789), kind: "fill", memo: "order x",
            postings: [
                StoredLedgerPosting(userID: "ann", accountKind: "available", asset: "USDC", amount: d("-100.1")),
                StoredLedgerPosting(userID: nil, accountKind: "house_fees", asset: "USDC", amount: d("0.1")),
                StoredLedgerPosting(userID: nil, accountKind: "paper_counterparty", asset: "USDC", amount: d("100")),
            ])
        let write = LedgerWrite(balances: [], time: UnixNanos(5), ledger: [tx])
        guard case .ledger(let back) = try JournalCoding.decode(JournalCoding.encode(.ledger(write))) else {
            Issue.record("not a ledger entry")
            return
        }
        #expect(back == write)
        // An entry spilled before the ledger existed has no `ledger` key: none.
        let old = #"{"kind":"ledger","time_ns":"5","balances":[],"positions":[],"fills":[],"orders":[],"closed_orders":[]}"#
        guard case .ledger(let o) = try JournalCoding.decode(old) else { Issue.record("not a ledger entry"); return }
        #expect(o.ledger.isEmpty)
    }
}
