import Foundation
import MarketCore
import Services
import Storage
import Testing
import _TestSupport

/// Withdrawals on SQLite and PostgreSQL: concurrent requests never reserve more than the user
/// has, approve/reject happen once, and pending ones stay pending (and reserved) after a restart.
@Suite(.serialized) struct WithdrawalServiceTests {
    @Test(.timeLimit(.minutes(3)), arguments: Backend.available)
    func concurrentRequestsReserveOnlyWhatIsThereAndSurviveARestart(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store1 = try await open()
            let a = Harness(store: store1)
            try await a.suite.load()
            let journal1 = a.suite.journal
            let running1 = Task { await journal1.run() }
            try await a.user("wes", cash: "100")
            try await a.user("other", cash: "40")
            let ex = a.execution
            // 30 requests of 7.5 at once (225 in all): 100 / 7.5 → exactly 13 fit (97.5), 2.5 is left.
            let results = await withTaskGroup(of: Result<StoredWithdrawal, ExecutionService.WithdrawalError>.self) { g in
                for i in 0..<30 {
                    g.addTask {
                        do throws(ExecutionService.WithdrawalError) {
                            return .success(try await ex.requestWithdrawal(user: "wes", asset: "USDC", amount: d("7.5"), destination: "addr-\(i)"))
                        } catch { return .failure(error) }
                    }
                }
                var out: [Result<StoredWithdrawal, ExecutionService.WithdrawalError>] = []
                for await r in g { out.append(r) }
                return out
            }
            let accepted = results.compactMap { try? $0.get() }
            #expect(accepted.count == 13)
            #expect(Set(accepted.map(\.id)).count == 13)
            let refusals = results.compactMap { r -> ExecutionService.WithdrawalError? in
                if case .failure(let e) = r { return e }
                return nil
            }
            #expect(refusals.count == 17)
            #expect(refusals.allSatisfy { if case .insufficientFunds = $0 { true } else { false } })
            #expect(ex.account("wes")?.balances["USDC"] == d("100"))
            #expect(ex.account("wes")?.available("USDC") == d("2.5"))
            #expect(ex.account("wes")?.reserved["USDC"] == d("97.5"))
            #expect(ex.account("other")?.available("USDC") == d("40"))
            var books = ex.books.snapshot
            #expect(books.balance(of: .user("wes", .available, "USDC")) == d("2.5"))
            #expect(books.balance(of: .user("wes", .reserved, "USDC")) == d("97.5"))
            #expect(books.reconcile().ok)
            #expect(ex.ledgerDisagreements() == [])

            // Approve one (7.5 leaves the pool: pool was −140, now −132.5), reject one (back to available).
            let sorted = accepted.sorted { $0.destination < $1.destination }
            let approved = try await ex.decideWithdrawal(id: sorted[0].id, approve: true)
            #expect(approved.status == .approved)
            let rejected = try await ex.decideWithdrawal(id: sorted[1].id, approve: false)
            #expect(rejected.status == .rejected)
            for (id, approve) in [(sorted[0].id, true), (sorted[0].id, false), (sorted[1].id, true), (sorted[1].id, false)] {
                do throws(ExecutionService.WithdrawalError) {
                    _ = try await ex.decideWithdrawal(id: id, approve: approve)
                    Issue.record("decided twice: \(id)")
                } catch {
                    guard case .alreadyDecided = error else { Issue.record("\(error)"); continue }
                }
            }
            do throws(ExecutionService.WithdrawalError) {
                _ = try await ex.decideWithdrawal(id: "wd-none", approve: true)
                Issue.record("no such withdrawal approved")
            } catch { #expect(error == .notFound) }
            books = ex.books.snapshot
            #expect(books.balance(of: .house(.housePool, "USDC")) == d("-132.5"))
            #expect(books.balance(of: .user("wes", .available, "USDC")) == d("10"))
            #expect(books.balance(of: .user("wes", .reserved, "USDC")) == d("82.5"))
            #expect(ex.account("wes")?.balances["USDC"] == d("92.5"))
            #expect(books.reconcile().ok)
            #expect(ex.ledgerDisagreements() == [])
            #expect(await waitUntil(seconds: 20) { journal1.pending == 0 })
            running1.cancel()
            await store1.close()

            // Restart: 11 pending stay pending and reserved; the decided ones stay decided.
            let store2 = try await open()
            let stored = try await (store2 as! any WithdrawalStore).withdrawals()
            #expect(stored.count == 13)
            #expect(stored.filter { $0.status == .pending }.count == 11)
            #expect(stored.first { $0.id == sorted[0].id }?.status == .approved)
            #expect(stored.first { $0.id == sorted[1].id }?.status == .rejected)
            let b = Harness(store: store2)
            try await b.suite.load()
            let journal2 = b.suite.journal
            let running2 = Task { await journal2.run() }
            let ex2 = b.execution
            #expect(ex2.account("wes")?.balances["USDC"] == d("92.5"))
            #expect(ex2.account("wes")?.reserved["USDC"] == d("82.5"))
            #expect(ex2.account("wes")?.available("USDC") == d("10"))
            #expect(ex2.withdrawals(user: "wes").filter { $0.status == .pending }.count == 11)
            #expect(ex2.withdrawals(user: "other").isEmpty)
            #expect(ex2.books.reconcile().ok)
            #expect(ex2.ledgerDisagreements() == [])
            do throws(ExecutionService.WithdrawalError) {
                _ = try await ex2.decideWithdrawal(id: sorted[0].id, approve: true)
                Issue.record("approved twice across a restart")
            } catch { #expect(error == .alreadyDecided(.approved)) }
            // A pending one can still be decided after the restart, and a new request sees 10 available.
            _ = try await ex2.decideWithdrawal(id: sorted[2].id, approve: true)
            #expect(ex2.books.snapshot.balance(of: .house(.housePool, "USDC")) == d("-125"))
            do throws(ExecutionService.WithdrawalError) {
                _ = try await ex2.requestWithdrawal(user: "wes", asset: "USDC", amount: d("10.000000000000000001"), destination: "x")
                Issue.record("overdrew")
            } catch { #expect(error == .insufficientFunds(available: d("10"))) }
            _ = try await ex2.requestWithdrawal(user: "wes", asset: "USDC", amount: d("10"), destination: "x")
            #expect(ex2.account("wes")?.available("USDC") == d("0"))
            #expect(ex2.books.reconcile().ok)
            #expect(ex2.ledgerDisagreements() == [])
            #expect(await waitUntil(seconds: 20) { journal2.pending == 0 })
            running2.cancel()
            await store2.close()
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func concurrentDecisionsOnOneWithdrawalDecideItOnce() async throws {
        let h = Harness()
        try await h.user("kim", cash: "30")
        let ex = h.execution
        let w = try await ex.requestWithdrawal(user: "kim", asset: "USDC", amount: d("12.25"), destination: "iban")
        let outcomes = await withTaskGroup(of: String.self) { g in
            for i in 0..<10 {
                g.addTask {
                    do throws(ExecutionService.WithdrawalError) {
                        return try await ex.decideWithdrawal(id: w.id, approve: i % 2 == 0).status.rawValue
                    } catch { return error == .alreadyDecided(.approved) || error == .alreadyDecided(.rejected) ? "409" : "\(error)" }
                }
            }
            return await g.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == "409" }.count == 9, "\(outcomes)")
        let winner = try #require(outcomes.first { $0 != "409" })
        let books = ex.books.snapshot
        #expect(books.balance(of: .user("kim", .reserved, "USDC")).isZero)
        if winner == "approved" {
            // 30 − 12.25 left; the pool gave back 12.25: −30 + 12.25.
            #expect(ex.account("kim")?.balances["USDC"] == d("17.75"))
            #expect(books.balance(of: .house(.housePool, "USDC")) == d("-17.75"))
        } else {
            #expect(winner == "rejected")
            #expect(ex.account("kim")?.available("USDC") == d("30"))
            #expect(books.balance(of: .house(.housePool, "USDC")) == d("-30"))
        }
        #expect(books.reconcile().ok)
        #expect(ex.ledgerDisagreements() == [])
    }

    @Test func aWithdrawalKeepsItsRowThroughTheSpillFile() throws {
        let w = StoredWithdrawal(
            id: "wd-x-1", userID: "ann", asset: "USDC", amount: d("0.000000000000000001"), destination: "a \"quoted\" place\n",
            status: .approved, requested: UnixNanos(1_800_000_000_123_456_789), decided: UnixNanos(1_800_000_001_000_000_000))
        let pending = StoredWithdrawal(
            id: "wd-x-2", userID: "bob", asset: "BTC", amount: d("1.5"), destination: "x", status: .pending, requested: UnixNanos(7))
        let write = LedgerWrite(balances: [], time: UnixNanos(5), withdrawals: [w, pending])
        guard case .ledger(let back) = try JournalCoding.decode(JournalCoding.encode(.ledger(write))) else {
            Issue.record("not a ledger entry")
            return
        }
        #expect(back == write)
        #expect(back.withdrawals.last?.decided == nil)
    }

    @Test(.timeLimit(.minutes(1)))
    func aPendingWithdrawalsFundsCannotBeSpentOnAnOrder() async throws {
        let h = Harness()
        h.feed(book(bids: [("100.00", "10")], asks: [("100.01", "10")]))
        try await h.user("lee", cash: "100")
        let ex = h.execution
        let buy = OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("0.2"))
        let w = try await ex.requestWithdrawal(user: "lee", asset: "USDC", amount: d("90"), destination: "bank")
        // 0.2 × 100.01 = 20.002 plus 0.1 % fee: more than the 10 left available.
        guard case .rejected(let checks) = await ex.execute(user: "lee", request: buy) else { Issue.record("not rejected"); return }
        #expect(checks.filter { !$0.passed }.map(\.check) == ["balance"])
        _ = try await ex.decideWithdrawal(id: w.id, approve: false)
        guard case .accepted = await ex.execute(user: "lee", request: buy) else { Issue.record("not accepted"); return }
        // 100 − 20.002 − 0.020002.
        #expect(ex.account("lee")?.available("USDC") == d("79.977998"))
        // Bought BTC is a holding, not a withdrawable balance.
        do throws(ExecutionService.WithdrawalError) {
            _ = try await ex.requestWithdrawal(user: "lee", asset: "BTC", amount: d("0.1"), destination: "wallet")
            Issue.record("withdrew a holding")
        } catch { #expect(error == .insufficientFunds(available: d("0"))) }
        _ = try await ex.requestWithdrawal(user: "lee", asset: "USDC", amount: d("79.977998"), destination: "bank")
        #expect(ex.account("lee")?.available("USDC") == d("0"))
        #expect(ex.books.reconcile().ok)
        #expect(ex.ledgerDisagreements() == [])
    }
}
