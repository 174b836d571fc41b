import MarketCore
import Testing

@testable import Services

private func amt(_ text: String) -> WideDecimal { WideDecimal.parse(text)! }
private func sum(_ text: String) -> LedgerSum { LedgerSum(amt(text)) }
private func at(_ s: Int64) -> UnixNanos { .seconds(1_800_000_000 + s) }

private let pool = LedgerAccount.house(.housePool, "USDC")
private let fees = LedgerAccount.house(.houseFees, "USDC")
private let paperUSDC = LedgerAccount.house(.paperCounterparty, "USDC")
private let paperBTC = LedgerAccount.house(.paperCounterparty, "BTC")
private let aliceUSDC = LedgerAccount.user("alice", .available, "USDC")
private let aliceBTC = LedgerAccount.user("alice", .holding, "BTC")

/// Alice deposits 1000 USDC, the house keeps a 5 % deposit fee (50).
private let deposit = LedgerTransaction(
    id: "dep-1", time: at(0), kind: .deposit, memo: "deposit 1000 USDC, 5% fee",
    postings: [LedgerPosting(pool, amt("-1000")), LedgerPosting(aliceUSDC, amt("950")), LedgerPosting(fees, amt("50"))])

/// Alice buys 0.01 BTC at 60000 (600 USDC) from the paper market, and pays a 0.1 % fee (0.6).
private let buy = LedgerTransaction(
    id: "fill-1", time: at(1), kind: .fill, memo: "buy 0.01 BTC @ 60000",
    postings: [
        LedgerPosting(aliceUSDC, amt("-600")), LedgerPosting(paperUSDC, amt("600")),
        LedgerPosting(paperBTC, amt("-0.01")), LedgerPosting(aliceBTC, amt("0.01")),
    ])
private let buyFee = LedgerTransaction(
    id: "fee-1", time: at(1), kind: .fee, memo: "taker fee of fill-1",
    postings: [LedgerPosting(aliceUSDC, amt("-0.6")), LedgerPosting(fees, amt("0.6"))])

@Suite struct DoubleEntryLedgerTests {
    @Test func aDepositWithAFeeCreditsTheUserTheHouseAndThePool() throws {
        var ledger = Ledger()
        try ledger.append(deposit)
        #expect(ledger.balance(of: aliceUSDC) == amt("950"))
        #expect(ledger.balance(of: fees) == amt("50"))
        // The pool holds the 1000 deposited; in the signed books that is −1000.
        #expect(ledger.balance(of: pool) == amt("-1000"))
        #expect(ledger.derivedBalance(of: aliceUSDC) == sum("950"))

        let report = ledger.reconcile()
        #expect(report.ok, "\(report)")
        let usdc = try #require(report.asset("USDC"))
        #expect(usdc.total == .zero)
        #expect(usdc.deposits == sum("1000"))
        #expect(usdc.held == sum("1000"))  // 950 + 50
        #expect(usdc.paperPnL == .zero)
        #expect(report.description == "ok: 1 assets, 3 accounts, 1 transactions balance")
    }

    @Test func aBuyFillMovesUSDCToThePaperMarketAndBTCToTheUser() throws {
        var ledger = Ledger()
        for t in [deposit, buy, buyFee] { try ledger.append(t) }
        #expect(ledger.balance(of: aliceUSDC) == amt("349.4"))  // 950 − 600 − 0.6
        #expect(ledger.balance(of: aliceBTC) == amt("0.01"))
        #expect(ledger.balance(of: paperUSDC) == amt("600"))
        #expect(ledger.balance(of: paperBTC) == amt("-0.01"))
        #expect(ledger.balance(of: fees) == amt("50.6"))
        #expect(ledger.balance(of: pool) == amt("-1000"))

        let report = ledger.reconcile()
        #expect(report.ok, "\(report)")
        let usdc = try #require(report.asset("USDC"))
        // Users and house hold 349.4 + 50.6 = 400 = 1000 deposited − 600 paid to the paper market.
        #expect(usdc.held == sum("400"))
        #expect(usdc.paperPnL == sum("-600"))
        let btc = try #require(report.asset("BTC"))
        #expect(btc.held == sum("0.01"))
        #expect(btc.paperPnL == sum("0.01"))
        #expect(btc.deposits == .zero)
    }

    @Test func aSellAtAProfitAndAWithdrawalKeepTheBooksBalanced() throws {
        var ledger = Ledger()
        for t in [deposit, buy, buyFee] { try ledger.append(t) }
        // Sells the 0.01 BTC at 61000 (610 USDC, no fee here), then withdraws 959.4.
        try ledger.append(
            LedgerTransaction(
                id: "fill-2", time: at(2), kind: .fill,
                postings: [
                    LedgerPosting(aliceBTC, amt("-0.01")), LedgerPosting(paperBTC, amt("0.01")),
                    LedgerPosting(paperUSDC, amt("-610")), LedgerPosting(aliceUSDC, amt("610")),
                ]))
        #expect(ledger.balance(of: aliceUSDC) == amt("959.4"))  // 349.4 + 610
        #expect(ledger.balance(of: paperUSDC) == amt("-10"))  // the users won 10 from the paper market
        try ledger.append(
            LedgerTransaction(
                id: "wd-1", time: at(3), kind: .withdrawal,
                postings: [LedgerPosting(aliceUSDC, amt("-959.4")), LedgerPosting(pool, amt("959.4"))]))
        #expect(ledger.balance(of: aliceUSDC) == .zero)
        #expect(ledger.balance(of: pool) == amt("-40.6"))  // 1000 in, 959.4 out

        let report = ledger.reconcile()
        #expect(report.ok, "\(report)")
        let usdc = try #require(report.asset("USDC"))
        // 50.6 of fees = 1000 − 959.4 + 10.
        #expect(usdc.held == sum("50.6"))
        #expect(usdc.deposits == sum("1000"))
        #expect(usdc.withdrawals == sum("959.4"))
        #expect(usdc.paperPnL == sum("10"))
        #expect(try #require(report.asset("BTC")).held == .zero)
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var name: String
        var code: LedgerPostingError.Code
        var postings: [LedgerPosting]
        init(_ name: String, _ code: LedgerPostingError.Code, _ postings: [LedgerPosting]) {
            self.name = name
            self.code = code
            self.postings = postings
        }
        var testDescription: String { name }
    }

    static let bad: [Bad] = [
        Bad("unbalanced", .unbalanced, [LedgerPosting(pool, amt("-1000")), LedgerPosting(aliceUSDC, amt("999"))]),
        Bad("two assets", .unbalanced, [LedgerPosting(aliceUSDC, amt("-1")), LedgerPosting(aliceBTC, amt("1"))]),
        Bad("empty", .empty, []),
        Bad("zero", .invalidAmount, [LedgerPosting(pool, amt("0")), LedgerPosting(aliceUSDC, amt("0"))]),
        Bad("10^20", .invalidAmount, [LedgerPosting(pool, amt("-100000000000000000000")), LedgerPosting(aliceUSDC, amt("100000000000000000000"))]),
        Bad(
            "19 fraction digits", .invalidAmount,
            [LedgerPosting(pool, amt("-0.0000000000000000001")), LedgerPosting(aliceUSDC, amt("0.0000000000000000001"))]
        ),
        Bad("house kind for a user", .invalidAccount, [LedgerPosting(pool, amt("-1")), LedgerPosting(.user("alice", .houseFees, "USDC"), amt("1"))]),
        Bad("user kind for the house", .invalidAccount, [LedgerPosting(pool, amt("-1")), LedgerPosting(.house(.available, "USDC"), amt("1"))]),
        Bad("no asset", .invalidAccount, [LedgerPosting(.house(.housePool, ""), amt("-1")), LedgerPosting(.user("alice", .available, ""), amt("1"))]),
        Bad("no user", .invalidAccount, [LedgerPosting(pool, amt("-1")), LedgerPosting(.user("", .available, "USDC"), amt("1"))]),
    ]

    /// Each refused transaction leaves the ledger exactly as it was.
    @Test(arguments: bad)
    func aBadTransactionIsRefusedAndChangesNothing(_ bad: Bad) throws {
        let (name, code, postings) = (bad.name, bad.code, bad.postings)
        var ledger = Ledger()
        try ledger.append(deposit)
        let before = ledger
        let error = #expect(throws: LedgerPostingError.self, "\(name)") {
            try ledger.append(LedgerTransaction(id: "bad", time: at(5), kind: .adjustment, postings: postings))
        }
        #expect(error?.code == code, "\(name): \(String(describing: error))")
        #expect(ledger.transactions == before.transactions)
        #expect(ledger.materialized == before.materialized)
        #expect(ledger.reconcile().ok)
    }

    @Test func aTransactionThatWouldTakeABalancePastTheRangeIsRefused() throws {
        var ledger = Ledger()
        let big = LedgerTransaction(
            id: "big-1", time: at(0), kind: .deposit,
            postings: [LedgerPosting(pool, amt("-60000000000000000000")), LedgerPosting(aliceUSDC, amt("60000000000000000000"))])
        try ledger.append(big)
        var again = big
        again.id = "big-2"
        // The pool would reach −1.2 × 10^20 and Alice 1.2 × 10^20: outside the range.
        let error = #expect(throws: LedgerPostingError.self) { try ledger.append(again) }
        #expect(error?.code == .invalidAmount)
        #expect(ledger.transactions.count == 1)
        #expect(ledger.balance(of: aliceUSDC) == amt("60000000000000000000"))
    }

    @Test func aTransactionIDIsUsedOnce() throws {
        var ledger = Ledger()
        try ledger.append(deposit)
        let error = #expect(throws: LedgerPostingError.self) { try ledger.append(deposit) }
        #expect(error?.code == .duplicateID)
        #expect(ledger.balance(of: aliceUSDC) == amt("950"))
    }

    @Test func aCorruptedMaterializedBalanceIsReportedWithItsAccountAndAmount() throws {
        var good = Ledger()
        for t in [deposit, buy, buyFee] { try good.append(t) }
        var corrupted = good.materialized
        corrupted[aliceUSDC] = amt("356.4")  // 7 more than the postings give (349.4)
        let ledger = Ledger(transactions: good.transactions, materialized: corrupted)

        let report = ledger.reconcile()
        #expect(!report.ok)
        let usdc = try #require(report.asset("USDC"))
        #expect(!usdc.ok)
        #expect(usdc.mismatched.count == 1)
        let m = try #require(usdc.mismatched.first)
        #expect(m.account == aliceUSDC)
        #expect(m.materialized == sum("356.4"))
        #expect(m.postings == sum("349.4"))
        #expect(m.difference == sum("7"))
        #expect(usdc.total == sum("7"))
        #expect(usdc.fundingDrift == sum("7"))
        #expect(try #require(report.asset("BTC")).ok)
        #expect(
            report.description
                == "DRIFT: USDC balances sum to 7, not 0; funding drift 7; 1 account(s) off: user:alice/available/USDC is 356.4, postings say 349.4")
    }

    @Test func aBalanceWithNoPostingsAtAllIsReported() throws {
        var good = Ledger()
        try good.append(deposit)
        var corrupted = good.materialized
        let bob = LedgerAccount.user("bob", .available, "USDC")
        corrupted[bob] = amt("-0.5")
        let report = Ledger(transactions: good.transactions, materialized: corrupted).reconcile()
        let usdc = try #require(report.asset("USDC"))
        #expect(usdc.mismatched.map(\.account) == [bob])
        #expect(usdc.mismatched.first?.difference == sum("-0.5"))
        #expect(usdc.total == sum("-0.5"))
    }

    @Test func thePoolMovedByAnythingButADepositOrWithdrawalIsFundingDrift() throws {
        var ledger = Ledger()
        try ledger.append(deposit)
        // Balanced, so double entry holds, but 20 left the pool without a withdrawal.
        try ledger.append(
            LedgerTransaction(
                id: "adj-1", time: at(1), kind: .adjustment, memo: "wrong",
                postings: [LedgerPosting(pool, amt("-20")), LedgerPosting(aliceUSDC, amt("20"))]))
        let usdc = try #require(ledger.reconcile().asset("USDC"))
        #expect(usdc.total == .zero)
        #expect(usdc.mismatched.isEmpty)
        #expect(usdc.fundingDrift == sum("20"))
        #expect(!usdc.ok)
    }

    @Test func replayingTheTransactionsGivesTheSameBalances() throws {
        var ledger = Ledger()
        for t in [deposit, buy, buyFee] { try ledger.append(t) }
        let replayed = try Ledger(replaying: ledger.transactions)
        #expect(replayed.materialized == ledger.materialized)
        #expect(replayed.reconcile().ok)
    }

    @Test func ledgerSumsAreExactFarBeyondOneBalance() {
        var s = LedgerSum()
        // 10 000 × (10^20 − 10^-18) = 10^24 − 10^-14: far more than an Int128 mantissa at 18 digits holds.
        let top = amt("99999999999999999999.999999999999999999")
        for _ in 0..<10_000 { s.add(top) }
        #expect(s.description == "999999999999999999999999.99999999999999")  // 24 nines . 14 nines
        #expect(s.wide == nil)
        for _ in 0..<10_000 { s.add(top.negated) }
        #expect(s.isZero)
        #expect(sum("-7.5").description == "-7.5")
        #expect((sum("0.25") - sum("1")).description == "-0.75")
        #expect(sum("-0.000000000000000001").description == "-0.000000000000000001")
    }

    /// 16 tasks × 500 deposits of 1 USDC, 5 % fee, all for one user, through the shared wrapper.
    @Test(.timeLimit(.minutes(1))) func concurrentDepositsAreAllCounted() async throws {
        let shared = SharedLedger()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<16 {
                group.addTask {
                    for i in 0..<500 {
                        try? shared.append(
                            LedgerTransaction(
                                id: "d-\(task)-\(i)", time: at(Int64(i)), kind: .deposit,
                                postings: [LedgerPosting(pool, amt("-1")), LedgerPosting(aliceUSDC, amt("0.95")), LedgerPosting(fees, amt("0.05"))]))
                    }
                }
            }
        }
        #expect(shared.balance(of: aliceUSDC) == amt("7600"))  // 8000 × 0.95
        #expect(shared.balance(of: fees) == amt("400"))  // 8000 × 0.05
        #expect(shared.balance(of: pool) == amt("-8000"))
        #expect(shared.snapshot.transactions.count == 8000)
        #expect(shared.reconcile().ok)
    }
}
