import BigInt
import MarketCore
import PropertyBased
import Testing

@testable import Services

/// Thousands of random operations from many users, posted concurrently through ``SharedLedger``:
/// each is accepted or refused exactly as an independent BigInt model of the rules says, a refused
/// one changes nothing, and at the end the checker finds no drift, every balance equals the BigInt
/// sum of its postings, the deposit and withdrawal totals equal the BigInt sums of the accepted
/// ones, and books replayed from the transactions (a restart) are the same.
@Suite struct DoubleEntryLedgerPropertyTests {
    static let users = 12

    /// 0 deposit (5 % fee), 1 withdrawal, 2 buy fill, 3 sell fill, 4 transfer to another user,
    /// 5 reserve, 6 unmatched deposit to suspense, 7 unbalanced adjustment (always refused).
    struct Op: Sendable, CustomStringConvertible {
        var kind: Int
        var user: Int
        var other: Int
        var amount: String
        var price: String
        var description: String { "\(kind) u\(user)→u\(other) \(amount) @ \(price)" }
    }

    /// Ordinary amounts most of the time; sometimes any decimal text (huge, over-precise, negative).
    static let amount = zip(Gen.int(in: 0...14), Gen.int(in: 1...5_000_000), Gen.int(in: 0...8), decimalText).map {
        (t: (Int, Int, Int, String)) -> String in
        guard t.0 > 0 else { return t.3 }
        var digits = String(t.1)
        if t.2 > 0 {
            if digits.count <= t.2 { digits = String(repeating: "0", count: t.2 - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -t.2))
        }
        return digits
    }
    static let price = zip(Gen.int(in: 1_000...90_000), Gen.int(in: 0...99)).map { (t: (Int, Int)) in "\(t.0).\(t.1)" }
    static let op = zip(Gen.int(in: 0...7), Gen.int(in: 0...(users - 1)), Gen.int(in: 0...(users - 1)), amount, price)
        .map { (t: (Int, Int, Int, String, String)) in Op(kind: t.0, user: t.1, other: t.2, amount: t.3, price: t.4) }

    static let pool = LedgerAccount.house(.housePool, "USDC")
    static let fees = LedgerAccount.house(.houseFees, "USDC")
    static let suspense = LedgerAccount.house(.suspense, "USDC")
    static func cash(_ u: Int) -> LedgerAccount { .user("u\(u)", .available, "USDC") }
    static func reserved(_ u: Int) -> LedgerAccount { .user("u\(u)", .reserved, "USDC") }
    static func btc(_ u: Int) -> LedgerAccount { .user("u\(u)", .holding, "BTC") }

    /// The postings an operation wants, given the books as they are (nil: nothing to do, e.g. not
    /// enough money for a withdrawal, which the services would refuse before the ledger).
    static func postings(_ op: Op, _ ledger: Ledger) -> (LedgerTransactionKind, [(LedgerAccount, Exact)])? {
        let a = Exact(op.amount)
        let u = op.user
        func has(_ account: LedgerAccount, _ x: Exact) -> Bool { !(Exact(ledger.balance(of: account)) < x) }
        switch op.kind {
        case 0:
            let fee = (a * Exact("0.05")).roundedHalfEven(18)
            return (.deposit, [(pool, Exact.zero - a), (cash(u), a - fee), (fees, fee)].filter { $0.1 != .zero || $0.0 == pool })
        case 1:
            guard has(cash(u), a) else { return nil }
            return (.withdrawal, [(cash(u), Exact.zero - a), (pool, a)])
        case 2, 3:
            let qty = a
            let notional = qty * Exact(op.price)
            let buy = op.kind == 2
            guard buy ? has(cash(u), notional) : has(btc(u), qty) else { return nil }
            let s: Exact = buy ? Exact("1") : Exact("-1")
            return (
                .fill,
                [
                    (cash(u), Exact.zero - s * notional), (.house(.paperCounterparty, "USDC"), s * notional),
                    (.house(.paperCounterparty, "BTC"), Exact.zero - s * qty), (btc(u), s * qty),
                ]
            )
        case 4:
            guard op.user != op.other, has(cash(u), a) else { return nil }
            return (op.other % 2 == 0 ? .transfer : .royalty, [(cash(u), Exact.zero - a), (cash(op.other), a)])
        case 5:
            guard has(cash(u), a) else { return nil }
            return (.transfer, [(cash(u), Exact.zero - a), (reserved(u), a)])
        case 6:
            return (.deposit, [(pool, Exact.zero - a), (suspense, a)])
        default:
            return (.adjustment, [(cash(u), a), (fees, Exact.zero - a + Exact("0.000001"))])
        }
    }

    /// The model's verdict: accepted iff every amount is non-zero and within the range, every new
    /// balance is within the range, and each asset's postings sum to zero.
    static func acceptable(_ legs: [(LedgerAccount, Exact)], _ ledger: Ledger) -> Bool {
        var balances: [LedgerAccount: Exact] = [:]
        var perAsset: [String: Exact] = [:]
        for (account, x) in legs {
            guard x != .zero, x.fitsLedger else { return false }
            let b = (balances[account] ?? Exact(ledger.balance(of: account))) + x
            guard b.fitsLedger else { return false }
            balances[account] = b
            perAsset[account.asset] = (perAsset[account.asset] ?? .zero) + x
        }
        return !legs.isEmpty && perAsset.values.allSatisfy { $0 == .zero }
    }

    enum Outcome: Sendable, Equatable { case skipped, accepted(String), refused }

    /// Builds, predicts and posts one operation under the lock, checking the verdict and that a
    /// refusal changed nothing. Returns what happened (an accepted one with its text for the log).
    static func perform(_ op: Op, id: String, on shared: SharedLedger) -> Outcome {
        shared.withLedger { (ledger: inout Ledger) -> Outcome in
            // Amounts that do not even parse as a WideDecimal cannot be written in a posting.
            guard op.kind == 7 || WideDecimal.parse(op.amount) != nil, let (kind, legs) = postings(op, ledger) else { return .skipped }
            var wide: [LedgerPosting] = []
            for (account, x) in legs {
                guard let w = WideDecimal.parse(x.description) else { return .skipped }
                wide.append(LedgerPosting(account, w))
            }
            let expected = acceptable(legs, ledger)
            let before = (ledger.transactions.count, ledger.materialized)
            do throws(LedgerPostingError) {
                try ledger.append(LedgerTransaction(id: id, time: .seconds(1_800_000_000), kind: kind, memo: "\(op)", postings: wide))
                #expect(expected, "\(op) was accepted; the model refuses it")
                return .accepted(id)
            } catch {
                #expect(!expected, "\(op) was refused (\(error)); the model accepts it")
                #expect(ledger.transactions.count == before.0 && ledger.materialized == before.1, "\(op): a refusal changed the books")
                return .refused
            }
        }
    }

    /// Checks the books against the BigInt sums of their own postings and of the accepted flows.
    static func audit(_ ledger: Ledger) {
        let report = ledger.reconcile()
        #expect(report.ok, "\(report)")
        var sums: [LedgerAccount: Exact] = [:]
        var deposits: [String: Exact] = [:]
        var withdrawals: [String: Exact] = [:]
        for t in ledger.transactions {
            for p in t.postings {
                let x = Exact(p.amount)
                sums[p.account] = (sums[p.account] ?? .zero) + x
                if p.account.kind == .housePool && t.kind == .deposit { deposits[p.asset] = (deposits[p.asset] ?? .zero) - x }
                if p.account.kind == .housePool && t.kind == .withdrawal { withdrawals[p.asset] = (withdrawals[p.asset] ?? .zero) + x }
            }
        }
        #expect(Set(sums.keys) == Set(ledger.materialized.keys))
        var perAsset: [String: Exact] = [:]
        for (account, x) in sums {
            #expect(Exact(ledger.balance(of: account)) == x, "\(account): \(ledger.balance(of: account)) vs postings \(x)")
            perAsset[account.asset] = (perAsset[account.asset] ?? .zero) + x
        }
        #expect(perAsset.values.allSatisfy { $0 == .zero })
        for a in report.assets {
            #expect(Exact(a.deposits.description) == deposits[a.asset] ?? .zero, "\(a.asset) deposits")
            #expect(Exact(a.withdrawals.description) == withdrawals[a.asset] ?? .zero, "\(a.asset) withdrawals")
        }
    }

    @Test(.timeLimit(.minutes(5))) func randomConcurrentOperationsNeverDrift() async throws {
        var runs = 0
        var c = (accepted: 0, refused: 0, skipped: 0)
        await propertyCheck(count: 12, input: Self.op.array(of: 200...600)) { ops in
            runs += 1
            let r = runs
            let shared = SharedLedger()
            // Four restarts: each segment is posted by 6 concurrent tasks, then the books are
            // rebuilt from their transactions, as a restart would, and posting goes on.
            var books = shared
            let segments = 4
            for segment in 0..<segments {
                let part = Array(ops[(ops.count * segment / segments)..<(ops.count * (segment + 1) / segments)])
                let target = books
                let outcomes = await withTaskGroup(of: [Outcome].self) { group in
                    for task in 0..<6 {
                        group.addTask {
                            var out: [Outcome] = []
                            for (i, op) in part.enumerated() where i % 6 == task {
                                out.append(Self.perform(op, id: "r\(r)-s\(segment)-\(i)", on: target))
                            }
                            return out
                        }
                    }
                    var all: [Outcome] = []
                    for await o in group { all += o }
                    return all
                }
                for o in outcomes {
                    switch o {
                    case .accepted: c.accepted += 1
                    case .refused: c.refused += 1
                    case .skipped: c.skipped += 1
                    }
                }
                let snapshot = target.snapshot
                Self.audit(snapshot)
                let restarted = try Ledger(replaying: snapshot.transactions)
                #expect(restarted.materialized == snapshot.materialized)
                books = SharedLedger(restarted)
            }
            Self.audit(books.snapshot)
        }
        // Enough of each to mean something (thousands of operations in all).
        #expect(c.accepted + c.refused + c.skipped > 2_000, "\(c)")
        #expect(c.accepted > 1_000, "\(c)")
        #expect(c.refused > 100, "\(c)")
    }
}
