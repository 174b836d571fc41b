import Logging
public import MarketCore
import Metrics
public import Storage
import Synchronization

/// A user's performance-fee state in one settlement asset (docs/trading.md "Performance fee").
public struct PerformanceMark: Sendable, Hashable {
    /// Realized P&L of every sale so far, net of trading fees.
    public var realized: WideDecimal = .zero
    /// The highest `realized` the fee has been charged up to (zero until the first profit).
    public var highWaterMark: WideDecimal = .zero
    public var feesPaid: WideDecimal = .zero

    public init(realized: WideDecimal = .zero, highWaterMark: WideDecimal = .zero, feesPaid: WideDecimal = .zero) {
        self.realized = realized
        self.highWaterMark = highWaterMark
        self.feesPaid = feesPaid
    }

    /// The fee on a sale's realized `pnl`: `rate` × the part of the new realized total above the
    /// high-water mark (half-even, 18 digits), and the mark moved up to that total. A loss lowers
    /// the total and charges nothing; profit that only wins a loss back charges nothing either.
    public func charging(_ pnl: WideDecimal, rate: WideDecimal) throws(LedgerError) -> (fee: WideDecimal, mark: PerformanceMark) {
        var m = self
        m.realized = try Money.add(realized, pnl, "realized P&L")
        guard m.realized > highWaterMark else { return (.zero, m) }
        let above = try Money.subtract(m.realized, highWaterMark, "profit above the high-water mark")
        let fee = try Money.fee(above, rate: rate, "performance fee")
        m.highWaterMark = m.realized
        m.feesPaid = try Money.add(feesPaid, fee, "performance fees")
        return (fee, m)
    }
}

/// What one sale owes beyond its trading fee: the performance fee, the royalties paid out of it,
/// and the accounts they change. Built before anything is posted, so posting cannot half-happen.
struct PerformanceCharge {
    var fee: WideDecimal
    var mark: StoredPerformanceMark
    /// Creators' accounts with their royalties added (not the payer's).
    var credited: [String: Account] = [:]
    var transactions: [LedgerTransaction] = []
}

extension ExecutionService {
    /// Charges a sale's performance fee to `a` (the payer's working copy, under the lock) and
    /// prepares the royalties to the creators of the ancestors of the strategy the order came from
    /// (``RoyaltyPolicy``). nil for a buy. Royalties go to creators with an account other than the
    /// payer (a creator is not paid on their own fees); a generation skipped so stays with the house.
    func chargePerformance(_ fill: inout PaperFill, settle: String, account a: inout Account, accounts: [String: Account]) throws(LedgerError)
        -> PerformanceCharge?
    {
        guard let pnl = fill.realizedPnL else { return nil }
        let (fee, mark) = try (a.performance[settle] ?? PerformanceMark()).charging(pnl, rate: options.performanceFeeRate)
        a.performance[settle] = mark
        var charge = PerformanceCharge(
            fee: fee,
            mark: StoredPerformanceMark(
                userID: a.user.id, asset: settle, realized: mark.realized, highWaterMark: mark.highWaterMark, feesPaid: mark.feesPaid,
                updated: fill.time))
        guard fee.isPositive else { return charge }
        fill.performanceFee = fee
        try a.add(settle, fee.negated)
        charge.transactions.append(
            LedgerTransaction(
                id: "perf-\(fill.fillID)", time: fill.time, kind: .fee,
                memo: "performance fee \(options.performanceFeeRate) of realized profit above the high-water mark, now \(mark.highWaterMark) \(settle)",
                postings: [LedgerPosting(.user(a.user.id, .available, settle), fee.negated), LedgerPosting(.house(.houseFees, settle), fee)]))
        guard let strategy = Self.strategyID(source: fill.source), let lineage = lineage.withLock({ $0 }) else { return charge }
        // An agent's sub-account pays for its owner: the owner is not paid on their own agents' fees.
        let payer = SubAccount.owner(of: a.user.id)
        let paid = lineage(strategy).prefix(options.royalties.generations).filter { $0 != payer && accounts[$0] != nil }
        guard
            let royalty = try options.royalties.transaction(
                id: "royalty-\(fill.fillID)", time: fill.time, asset: settle, fee: fee, ancestorCreators: Array(paid))
        else { return charge }
        for p in royalty.postings {
            guard case .user(let creator) = p.account.owner, var c = charge.credited[creator] ?? accounts[creator] else { continue }
            try c.add(settle, p.amount)
            charge.credited[creator] = c
        }
        charge.transactions.append(royalty)
        Counter(label: "services_royalties_total").increment()
        return charge
    }

    /// The strategy of an agent's order: its `source` is `<agent id>:<strategy>`.
    static func strategyID(source: String?) -> String? {
        guard let source, let colon = source.firstIndex(of: ":") else { return nil }
        let id = source[source.index(after: colon)...]
        return id.isEmpty ? nil : String(id)
    }

    /// Appends transactions already built and balanced to the books (a refusal is a defect).
    func post(prepared: [LedgerTransaction]) throws(LedgerError) -> [StoredLedgerTransaction] {
        var out: [StoredLedgerTransaction] = []
        for tx in prepared {
            do { try books.append(tx) } catch { throw LedgerError(.ledgerInvariant, "the ledger refused \(tx.id): \(error)") }
            out.append(tx.stored)
        }
        return out
    }

    /// Where royalties go: for a strategy id, the creators of its ancestors, nearest first (the
    /// strategy registry's lineage). Without it no royalties are paid.
    public func setLineage(_ f: @escaping @Sendable (String) -> [String]) { lineage.withLock { $0 = f } }

    /// A user's performance-fee marks by settlement asset.
    public func performanceMarks(user: String) -> [String: PerformanceMark] { state.withLock { $0.accounts[user]?.performance ?? [:] } }
}
