import Foundation
import MarketCore
import Services
import Storage
import Testing
import _TestSupport

/// The per-user daily withdrawal limit (`services.withdrawal_daily_limit_usd`), on SQLite and
/// PostgreSQL: concurrent requests fill it to the exact cent and not one unit of 10^-18 more; a
/// rejected request frees its room, an approved one does not; each user has their own; the next
/// UTC day starts empty; a restart still counts the day's requests.
@Suite(.serialized) struct WithdrawalLimitTests {
    static func options() -> ServiceOptions {
        var o = ServiceOptions()
        o.execution.withdrawalDailyLimitUSD = d("100")
        return o
    }

    static func request(_ ex: ExecutionService, _ user: String, _ amount: String, times: Int) async
        -> (accepted: [StoredWithdrawal], refused: [ExecutionService.WithdrawalError])
    {
        await withTaskGroup(of: Result<StoredWithdrawal, ExecutionService.WithdrawalError>.self) { g in
            for i in 0..<times {
                g.addTask {
                    do throws(ExecutionService.WithdrawalError) {
                        return .success(try await ex.requestWithdrawal(user: user, asset: "USDC", amount: d(amount), destination: "addr-\(i)"))
                    } catch { return .failure(error) }
                }
            }
            var accepted: [StoredWithdrawal] = []
            var refused: [ExecutionService.WithdrawalError] = []
            for await r in g {
                switch r {
                case .success(let w): accepted.append(w)
                case .failure(let e): refused.append(e)
                }
            }
            return (accepted, refused)
        }
    }

    @Test(.timeLimit(.minutes(3)), arguments: Backend.available)
    func theDailyLimitHoldsAtTheExactBoundaryUnderConcurrency(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store1 = try await open()
            let a = Harness(options: Self.options(), store: store1)
            try await a.suite.load()
            let journal1 = a.suite.journal
            let running1 = Task { await journal1.run() }
            try await a.user("wes", cash: "1000")
            try await a.user("other", cash: "150")
            let ex = a.execution

            // 30 requests of 7.5 at once against a limit of 100: 13 fit (97.5), 17 are refused.
            let first = await Self.request(ex, "wes", "7.5", times: 30)
            #expect(first.accepted.count == 13)
            #expect(first.refused.count == 17)
            #expect(first.refused.allSatisfy { $0 == .dailyLimit(limit: d("100"), usedToday: d("97.5"), requested: d("7.5")) }, "\(first.refused)")
            // Exactly up to the limit: 2.5 fits; then not 10^-18 more.
            _ = try await ex.requestWithdrawal(user: "wes", asset: "USDC", amount: d("2.5"), destination: "edge")
            do throws(ExecutionService.WithdrawalError) {
                _ = try await ex.requestWithdrawal(user: "wes", asset: "USDC", amount: d("0.000000000000000001"), destination: "over")
                Issue.record("over the daily limit")
            } catch { #expect(error == .dailyLimit(limit: d("100"), usedToday: d("100"), requested: d("0.000000000000000001"))) }
            // Refused requests reserved nothing: 1000 − 100 available.
            #expect(ex.account("wes")?.available("USDC") == d("900"))
            // An approved request still counts; a rejected one frees its room (7.5, exactly).
            let sorted = first.accepted.sorted { $0.destination < $1.destination }
            _ = try await ex.decideWithdrawal(id: sorted[0].id, approve: true)
            _ = try await ex.decideWithdrawal(id: sorted[1].id, approve: false)
            let again = await Self.request(ex, "wes", "2.5", times: 4)
            #expect(again.accepted.count == 3 && again.refused.count == 1, "\(again.refused)")
            // Another user has a limit of their own.
            _ = try await ex.requestWithdrawal(user: "other", asset: "USDC", amount: d("100"), destination: "own")
            #expect(ex.books.reconcile().ok)
            #expect(ex.ledgerDisagreements() == [])
            #expect(await waitUntil(seconds: 20) { journal1.pending == 0 })
            running1.cancel()
            await store1.close()

            // Restart on the same day: the day's requests still count.
            let store2 = try await open()
            let b = Harness(options: Self.options(), store: store2)
            try await b.suite.load()
            let journal2 = b.suite.journal
            let running2 = Task { await journal2.run() }
            let ex2 = b.execution
            do throws(ExecutionService.WithdrawalError) {
                _ = try await ex2.requestWithdrawal(user: "wes", asset: "USDC", amount: d("0.01"), destination: "after restart")
                Issue.record("the limit forgot the day's requests across a restart")
            } catch { #expect(error == .dailyLimit(limit: d("100"), usedToday: d("100"), requested: d("0.01"))) }

            // The next UTC day: 41 requests of 2.5 at once, exactly 40 fit (100).
            b.clock.advance(seconds: 86_400)
            let nextDay = await Self.request(ex2, "wes", "2.5", times: 41)
            #expect(nextDay.accepted.count == 40)
            #expect(nextDay.refused == [.dailyLimit(limit: d("100"), usedToday: d("100"), requested: d("2.5"))])
            #expect(ex2.books.reconcile().ok)
            #expect(ex2.ledgerDisagreements() == [])
            #expect(await waitUntil(seconds: 20) { journal2.pending == 0 })
            running2.cancel()
            await store2.close()
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func withoutALimitOnlyTheBalanceBounds() async throws {
        let h = Harness()
        try await h.user("kim", cash: "500")
        let r = await Self.request(h.execution, "kim", "100", times: 6)
        #expect(r.accepted.count == 5)
        #expect(r.refused == [.insufficientFunds(available: d("0"))])
    }
}
