public import MarketCore
import Metrics
public import Storage
import Synchronization

/// Withdrawals (issue 22, docs/trading.md "Withdrawals"): a request reserves the funds at once
/// (`available` → `reserved`), under the accounts' lock, so concurrent requests can never
/// reserve more than the user has; an admin then approves it (`reserved` → the pool: the money
/// leaves the pooled wallet) or rejects it (`reserved` → `available`), once.
extension ExecutionService {
    public enum WithdrawalError: Error, Sendable, Hashable {
        case invalid(FieldError)
        case unknownUser
        /// The user's available balance of the asset is less than the amount.
        case insufficientFunds(available: WideDecimal)
        case notFound
        /// Approved or rejected already: its status.
        case alreadyDecided(StoredWithdrawal.Status)
        case refused(LedgerError)
        /// The request would take the UTC day's withdrawals (pending and approved, in USD) over
        /// ``ExecutionOptions/withdrawalDailyLimitUSD``: what the day had, and the limit.
        case dailyLimit(limit: WideDecimal, usedToday: WideDecimal, requested: WideDecimal)
        /// A daily limit is set and the asset has no USD price to count it by.
        case unpriced(String)
    }

    /// `amount` of `asset` in USD for the daily withdrawal limit: 1:1 for the cash asset and the
    /// USD-like assets, else at the mid of an `<asset>-<USD-like>` book the market has (the first
    /// by venue and symbol); nil when there is none.
    func withdrawalUSD(_ asset: String, _ amount: WideDecimal) -> WideDecimal? {
        let usd = options.limits.usdQuotes
        if asset == options.cashAsset || usd.contains(asset) { return amount }
        let books = market.knownInstruments.filter { k in k.baseAndQuote.map { $0.base == asset && usd.contains($0.quote) } ?? false }
        for k in books.sorted(by: { ($0.venue, $0.symbol) < ($1.venue, $1.symbol) }) {
            if let mid = market.mid(k), let v = amount.multiplied(by: mid) { return v }
        }
        return nil
    }

    /// The daily limit's check for a new request (caller holds the lock): throws when it does not fit.
    private func checkDailyLimit(_ s: State, user: String, asset: String, amount: WideDecimal, at t: UnixNanos) throws(WithdrawalError) {
        guard let limit = options.withdrawalDailyLimitUSD else { return }
        guard let value = withdrawalUSD(asset, amount) else {
            Counter(label: "services_withdrawals_total", dimensions: [("result", "unpriced")]).increment()
            throw .unpriced("\(asset) has no USD price to count against the daily withdrawal limit")
        }
        let day = UTCDay.of(t)
        var used = WideDecimal.zero
        for w in s.withdrawals.values where w.userID == user && w.status != .rejected && UTCDay.of(w.requested) == day {
            guard let v = withdrawalUSD(w.asset, w.amount) else {
                Counter(label: "services_withdrawals_total", dimensions: [("result", "unpriced")]).increment()
                throw .unpriced("an earlier withdrawal today (\(w.asset)) has no USD price to count against the daily limit")
            }
            used = used.adding(v) ?? used
        }
        guard let after = used.adding(value), after <= limit else {
            Counter(label: "services_withdrawals_total", dimensions: [("result", "daily_limit")]).increment()
            throw .dailyLimit(limit: limit, usedToday: used.trimmed, requested: value.trimmed)
        }
    }

    /// Reserves `amount` of `asset` for a withdrawal to `destination`; stored (with its ledger
    /// transaction, in one database transaction) before it returns, bounded as every journal wait.
    public func requestWithdrawal(user: String, asset: String, amount: WideDecimal, destination: String) async throws(WithdrawalError)
        -> StoredWithdrawal
    {
        if let problem = assetProblem(asset) { throw .invalid(problem) }
        guard amount.isPositive else { throw .invalid(FieldError(field: "amount", message: "must be a positive decimal string")) }
        do { _ = try Money.checked(amount, "amount \(amount)") } catch { throw .refused(error) }
        let t = now
        let (w, entry) = try state.withLock { s throws(WithdrawalError) -> (StoredWithdrawal, Int) in
            guard var a = s.accounts[user] else { throw .unknownUser }
            let free = a.available(asset)
            guard amount <= free else { throw .insufficientFunds(available: free) }
            try checkDailyLimit(s, user: user, asset: asset, amount: amount, at: t)
            let id = "wd-\(idPrefix)-\(s.nextWithdrawal)"
            let w = StoredWithdrawal(
                id: id, userID: user, asset: asset, amount: amount.trimmed, destination: destination, status: .pending, requested: t)
            let posted: StoredLedgerTransaction?
            do throws(LedgerError) {
                try a.reserve(asset, amount)
                if let problem = a.invariantViolation() { throw LedgerError(.ledgerInvariant, problem) }
                posted = try post(.transfer, id: "withdrawal-reserve-\(id)", memo: "withdrawal \(id) requested", time: t) {
                    b throws(LedgerError) in
                    try b.add(.user(user, .available, asset), amount.negated)
                    try b.add(.user(user, .reserved, asset), amount)
                }
            } catch { throw .refused(error) }
            s.nextWithdrawal += 1
            s.accounts[user] = a
            s.withdrawals[id] = w
            let write = LedgerWrite(balances: [], time: t, ledger: posted.map { [$0] } ?? [], withdrawals: [w])
            return (w, journal.append(.ledger(write)))
        }
        Counter(label: "services_withdrawals_total", dimensions: [("result", "requested")]).increment()
        _ = await journal.waitStored(entry)
        return w
    }

    /// Approves (the reserved funds leave the pool: `reserved` −a, pool +a, kind `withdrawal`) or
    /// rejects (`reserved` → `available`) a pending withdrawal. A second decision is refused.
    public func decideWithdrawal(id: String, approve: Bool) async throws(WithdrawalError) -> StoredWithdrawal {
        let t = now
        let (w, entry) = try state.withLock { s throws(WithdrawalError) -> (StoredWithdrawal, Int) in
            guard var w = s.withdrawals[id] else { throw .notFound }
            guard w.status == .pending else { throw .alreadyDecided(w.status) }
            guard var a = s.accounts[w.userID] else { throw .unknownUser }
            let user = w.userID
            let asset = w.asset
            let amount = w.amount
            let posted: StoredLedgerTransaction?
            do throws(LedgerError) {
                try a.reserve(asset, amount.negated)
                if approve { try a.add(asset, amount.negated) }
                if let problem = a.invariantViolation() { throw LedgerError(.ledgerInvariant, problem) }
                if approve {
                    posted = try post(.withdrawal, id: "withdrawal-\(id)", memo: "withdrawal \(id) to \(w.destination)", time: t) {
                        b throws(LedgerError) in
                        try b.add(.user(user, .reserved, asset), amount.negated)
                        try b.add(.house(.housePool, asset), amount)
                    }
                } else {
                    posted = try post(.transfer, id: "withdrawal-release-\(id)", memo: "withdrawal \(id) rejected", time: t) {
                        b throws(LedgerError) in
                        try b.add(.user(user, .reserved, asset), amount.negated)
                        try b.add(.user(user, .available, asset), amount)
                    }
                }
            } catch { throw .refused(error) }
            w.status = approve ? .approved : .rejected
            w.decided = t
            s.accounts[user] = a
            s.withdrawals[id] = w
            let balances = approve ? [StoredBalance(userID: user, asset: asset, amount: a.balances[asset] ?? .zero)] : []
            let write = LedgerWrite(balances: balances, time: t, ledger: posted.map { [$0] } ?? [], withdrawals: [w])
            return (w, journal.append(.ledger(write)))
        }
        Counter(label: "services_withdrawals_total", dimensions: [("result", approve ? "approved" : "rejected")]).increment()
        _ = await journal.waitStored(entry)
        return w
    }

    /// A user's withdrawals (or everyone's, `user` nil), oldest first.
    public func withdrawals(user: String?) -> [StoredWithdrawal] {
        state.withLock { s in s.withdrawals.values.filter { user == nil || $0.userID == user } }
            .sorted { ($0.requested, $0.id) < ($1.requested, $1.id) }
    }

    /// One user's ledger balances, each summed from the postings, and whether they reconcile:
    /// every one equals its materialized balance and what the user's account says
    /// (``Account/ledgerBalances``).
    public func ledgerBalances(user: String) -> (balances: [(account: LedgerAccount, amount: WideDecimal)], reconciled: Bool)? {
        state.withLock { s in
            guard let a = s.accounts[user] else { return nil }
            let books = self.books.snapshot
            var derived: [LedgerAccount: LedgerSum] = [:]
            for t in books.transactions {
                for p in t.postings where p.account.owner == .user(user) { derived[p.account, default: LedgerSum()].add(p.amount) }
            }
            let expected = a.ledgerBalances
            var reconciled = true
            var out: [(account: LedgerAccount, amount: WideDecimal)] = []
            for account in Set(derived.keys).union(expected.keys).union(books.materialized.keys.filter { $0.owner == .user(user) }).sorted() {
                let sum = derived[account] ?? LedgerSum()
                guard let v = sum.wide else {
                    reconciled = false
                    continue
                }
                if !(v.subtracting(books.balance(of: account))?.isZero ?? false) { reconciled = false }
                if !(v.subtracting(expected[account] ?? .zero)?.isZero ?? false) { reconciled = false }
                if !v.isZero { out.append((account, v)) }
            }
            return (out, reconciled)
        }
    }
}
