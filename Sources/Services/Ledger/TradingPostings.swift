public import MarketCore
import Storage

/// The postings of the paper-trading operations (docs/trading.md "How trading posts to the
/// ledger"). Amounts are netted per account and zero legs dropped, so one operation is one
/// balanced ``LedgerTransaction``.
///
/// How an ``Account`` maps to ledger accounts (the test-checked agreement,
/// ``ExecutionService/ledgerDisagreements()``):
/// - `available/A` = balance of A − reserved A (cash-like balances: deposits, settlement assets);
/// - `reserved/A`  = reserved A (resting buys) + Σ reserved quantity of positions whose base is A;
/// - `holding/A`   = Σ (quantity − reserved quantity) of positions whose base is A.
struct PostingBuilder {
    private var accounts: [LedgerAccount] = []
    private var sums: [LedgerAccount: WideDecimal] = [:]

    mutating func add(_ account: LedgerAccount, _ amount: WideDecimal) throws(LedgerError) {
        if sums[account] == nil { accounts.append(account) }
        sums[account] = try Money.add(sums[account] ?? .zero, amount, "posting to \(account)")
    }

    var postings: [LedgerPosting] {
        accounts.compactMap { a in
            let v = sums[a] ?? .zero
            return v.isZero ? nil : LedgerPosting(a, v.trimmed)
        }
    }

    /// A user's deposit credited from the pool (the pooled wallet grew by `amount`).
    mutating func deposit(user: String, asset: String, amount: WideDecimal) throws(LedgerError) {
        try add(.house(.housePool, asset), amount.negated)
        try add(.user(user, .available, asset), amount)
    }

    /// Moves `amount` of what an order holds back into (`sign` 1) or out of (−1) `reserved`: quote
    /// funds from `available` for a buy, base quantity from `holding` for a sell.
    mutating func hold(user: String, side: Side, asset: String, amount: WideDecimal, sign: Int) throws(LedgerError) {
        let v = sign > 0 ? amount : amount.negated
        try add(.user(user, side == .buy ? .available : .holding, asset), v.negated)
        try add(.user(user, .reserved, asset), v)
    }

    /// A fill against the paper market: the user pays (buy) or receives (sell) the notional to or
    /// from the counterparty and pays the fee to the house fee account; the base quantity moves the
    /// other way.
    mutating func fill(user: String, side: Side, settle: String, base: String, qty: WideDecimal, notional: WideDecimal, fee: WideDecimal)
        throws(LedgerError)
    {
        let cash = LedgerAccount.user(user, .available, settle)
        let holding = LedgerAccount.user(user, .holding, base)
        switch side {
        case .buy:
            try add(cash, try Money.add(notional, fee, "cost").negated)
            try add(.house(.paperCounterparty, settle), notional)
            try add(holding, qty)
            try add(.house(.paperCounterparty, base), qty.negated)
        case .sell:
            try add(cash, try Money.subtract(notional, fee, "proceeds"))
            try add(.house(.paperCounterparty, settle), notional.negated)
            try add(holding, qty.negated)
            try add(.house(.paperCounterparty, base), qty)
        }
        // The fee is inside the user's cash leg (cost or proceeds); the house earns it.
        try add(.house(.houseFees, settle), fee)
    }
}

extension Account {
    /// This account as ledger balances (the mapping of ``PostingBuilder``), zero ones left out.
    public var ledgerBalances: [LedgerAccount: WideDecimal] {
        var out: [LedgerAccount: WideDecimal] = [:]
        func add(_ kind: LedgerAccountKind, _ asset: String, _ v: WideDecimal) {
            let a = LedgerAccount.user(user.id, kind, asset)
            out[a] = (out[a] ?? .zero).adding(v) ?? .zero
        }
        for asset in balances.keys { add(.available, asset, available(asset)) }
        for (asset, r) in reserved { add(.reserved, asset, r) }
        for (key, p) in positions {
            guard let base = key.baseAndQuote?.base else { continue }
            add(.reserved, base, p.reserved)
            add(.holding, base, p.available)
        }
        return out.filter { !$0.value.isZero }.mapValues(\.trimmed)
    }
}
