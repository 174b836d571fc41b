import Foundation
import MarketCore
import Services
import Storage
import Testing
import _TestSupport

/// Ops assigning a suspense deposit to a user, on SQLite and PostgreSQL: the money moves out of
/// suspense once (concurrent assignments and a restart included), less the deposit fee, as one
/// balanced transaction, and the books still reconcile.
@Suite(.serialized) struct SuspenseAssignmentTests {
    @Test(.timeLimit(.minutes(3)), arguments: Backend.available)
    func aSuspenseDepositIsAssignedExactlyOnceAcrossConcurrencyAndARestart(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store1 = try await open()
            let a = Harness(store: store1)
            try await a.suite.load()
            let journal1 = a.suite.journal
            let running1 = Task { await journal1.run() }
            try await a.user("ann", cash: "10")
            try await a.user("bob", cash: "5")
            let deposits = a.suite.deposits
            // No intent has this reference: 40 USDC goes to suspense; a body that is not JSON has no money.
            let unmatched = Array(#"{"tx_hash":"0xfeed01","reference":"dep_nobody","asset":"USDC","amount":"40"}"#.utf8)
            guard case .suspense(let key, _) = try await deposits.receive(body: unmatched) else { Issue.record("not held"); return }
            #expect(key == "0xfeed01")
            guard case .suspense(let junkKey, _) = try await deposits.receive(body: Array("no json".utf8)) else { Issue.record("not held"); return }
            #expect(a.execution.books.balance(of: .house(.suspense, "USDC")) == d("40"))

            // 12 concurrent assignments, to ann and to bob: exactly one wins.
            let results = await withTaskGroup(of: Result<DepositService.Assignment, DepositService.AssignError>.self) { g in
                for i in 0..<12 {
                    g.addTask {
                        do throws(DepositService.AssignError) {
                            return .success(try await deposits.assign(key: key, to: i % 2 == 0 ? "ann" : "bob"))
                        } catch { return .failure(error) }
                    }
                }
                var out: [Result<DepositService.Assignment, DepositService.AssignError>] = []
                for await r in g { out.append(r) }
                return out
            }
            let won = results.compactMap { try? $0.get() }
            #expect(won.count == 1)
            let winner = try #require(won.first)
            let loser = winner.user == "ann" ? "bob" : "ann"
            let refusals = results.compactMap { r -> DepositService.AssignError? in
                if case .failure(let e) = r { return e }
                return nil
            }
            #expect(refusals.count == 11)
            #expect(refusals.allSatisfy { if case .alreadyAssigned(let earlier) = $0 { earlier?.user == winner.user } else { false } }, "\(refusals)")
            // 40 less the 5 % fee: 38 to the user, 2 to the house.
            #expect(winner.amount == d("40") && winner.fee == d("2") && winner.credited == d("38") && winner.stored)
            let cash = ["ann": d("10"), "bob": d("5")]
            #expect(a.execution.account(winner.user)?.balances["USDC"] == cash[winner.user]!.adding(d("38")))
            #expect(a.execution.account(loser)?.balances["USDC"] == cash[loser])
            var books = a.execution.books.snapshot
            #expect(books.balance(of: .house(.suspense, "USDC")) == .zero)
            #expect(books.balance(of: .house(.houseFees, "USDC")) == d("2"))
            // The pool moved when the money arrived (10 + 5 + 40), not when it was assigned.
            #expect(books.balance(of: .house(.housePool, "USDC")) == d("-55"))
            let tx = try #require(books.transactions.first { $0.id == "suspense-assign-0xfeed01" })
            #expect(tx.postings.count == 3)
            #expect(books.reconcile().ok, "\(books.reconcile())")
            #expect(a.execution.ledgerDisagreements() == [])

            // Nothing to assign, or no such deposit or user.
            do throws(DepositService.AssignError) {
                _ = try await deposits.assign(key: junkKey, to: "ann")
                Issue.record("a deposit without an amount was assigned")
            } catch { if case .notAssignable = error {} else { Issue.record("\(error)") } }
            do throws(DepositService.AssignError) {
                _ = try await deposits.assign(key: "0xnone", to: "ann")
                Issue.record("an unknown deposit was assigned")
            } catch { #expect(error == .notFound) }
            let second = Array(#"{"tx_hash":"0xfeed02","reference":"dep_nobody","asset":"USDC","amount":"1.5"}"#.utf8)
            _ = try await deposits.receive(body: second)
            do throws(DepositService.AssignError) {
                _ = try await deposits.assign(key: "0xfeed02", to: "nobody")
                Issue.record("assigned to an unknown user")
            } catch { #expect(error == .unknownUser) }
            #expect(await waitUntil(seconds: 20) { journal1.pending == 0 })
            running1.cancel()
            await store1.close()

            // Restart: the assignment is remembered from the ledger, and refused again.
            let store2 = try await open()
            let ids = try await (store2 as! any LedgerStore).ledgerTransactions().map(\.id)
            #expect(ids.filter { $0 == "suspense-assign-0xfeed01" }.count == 1)
            let b = Harness(store: store2)
            try await b.suite.load()
            let journal2 = b.suite.journal
            let running2 = Task { await journal2.run() }
            #expect(b.suite.deposits.assignment("0xfeed01")?.user == winner.user)
            #expect(b.suite.deposits.assignment("0xfeed01")?.credited == d("38"))
            do throws(DepositService.AssignError) {
                _ = try await b.suite.deposits.assign(key: "0xfeed01", to: loser)
                Issue.record("assigned twice across a restart")
            } catch {
                guard case .alreadyAssigned(let earlier) = error else { Issue.record("\(error)"); return }
                #expect(earlier?.user == winner.user)
            }
            #expect(b.execution.account(winner.user)?.balances["USDC"] == cash[winner.user]!.adding(d("38")))
            // The other one still can be: 1.5 less 0.075.
            let later = try await b.suite.deposits.assign(key: "0xfeed02", to: loser)
            #expect(later.credited == d("1.425"))
            books = b.execution.books.snapshot
            #expect(books.balance(of: .house(.suspense, "USDC")) == .zero)
            #expect(books.balance(of: .house(.houseFees, "USDC")) == d("2.075"))
            #expect(books.reconcile().ok)
            #expect(b.execution.ledgerDisagreements() == [])
            #expect(await waitUntil(seconds: 20) { journal2.pending == 0 })
            running2.cancel()
            await store2.close()
        }
    }
}
