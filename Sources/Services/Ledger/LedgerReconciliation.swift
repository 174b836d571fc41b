/// The result of checking the books (``Ledger/reconcile()``), per asset.
///
/// For an asset, with balances taken from the materialized values:
/// - **double entry**: `total` = Σ every account's balance = 0.
/// - **funding**: `held` = Σ users' `available` + `reserved` + `holding` + `house_fees` + `suspense`
///   (users' accounts include agents' sub-accounts, owner `user:<user>/<agent>`: docs/strategies.md)
///   must equal `deposits − withdrawals + paperPnL`, where
///   - `deposits − withdrawals` = −Σ of the `house_pool` postings made by `deposit` and `withdrawal`
///     transactions (the money that came into and left the pooled wallet), and
///   - `paperPnL` = −(balance of `paper_counterparty`): what the users gained from the paper market
///     in that asset (a buy of 1 BTC for 100 USDC is −100 USDC and +1 BTC of paper P&L).
///   `fundingDrift` = held − (deposits − withdrawals + paperPnL). It is non-zero when the pool moved
///   in anything but a deposit or withdrawal, or when a balance is off.
/// - **materialization**: each account's materialized balance equals the sum of its postings;
///   accounts where it does not are listed in `mismatched`.
public struct LedgerReconciliation: Sendable, CustomStringConvertible {
    public struct AccountMismatch: Sendable, Hashable, CustomStringConvertible {
        public var account: LedgerAccount
        public var materialized: LedgerSum
        public var postings: LedgerSum
        /// materialized − postings.
        public var difference: LedgerSum { materialized - postings }
        public var description: String { "\(account) is \(materialized), postings say \(postings)" }
    }

    public struct Asset: Sendable, CustomStringConvertible {
        public var asset: String
        public var total = LedgerSum()
        public var held = LedgerSum()
        public var deposits = LedgerSum()
        public var withdrawals = LedgerSum()
        public var paperPnL = LedgerSum()
        public var mismatched: [AccountMismatch] = []

        /// held − (deposits − withdrawals + paperPnL).
        public var fundingDrift: LedgerSum { held - (deposits - withdrawals + paperPnL) }
        public var ok: Bool { total.isZero && fundingDrift.isZero && mismatched.isEmpty }

        public var description: String {
            if ok { return "\(asset) ok" }
            var parts: [String] = []
            if !total.isZero { parts.append("balances sum to \(total), not 0") }
            if !fundingDrift.isZero { parts.append("funding drift \(fundingDrift)") }
            if !mismatched.isEmpty {
                parts.append("\(mismatched.count) account(s) off: " + mismatched.map(\.description).joined(separator: ", "))
            }
            return "\(asset) " + parts.joined(separator: "; ")
        }
    }

    /// Sorted by asset.
    public var assets: [Asset]
    public var accounts: Int
    public var transactions: Int

    public var ok: Bool { assets.allSatisfy(\.ok) }

    public func asset(_ name: String) -> Asset? { assets.first { $0.asset == name } }

    /// One line for `/api/v1/health`: `ok: 2 assets, 9 accounts, 120 transactions balance` or
    /// `DRIFT: USDC funding drift 7; …`.
    public var description: String {
        if ok { return "ok: \(assets.count) assets, \(accounts) accounts, \(transactions) transactions balance" }
        return "DRIFT: " + assets.filter { !$0.ok }.map(\.description).joined(separator: " | ")
    }
}

extension Ledger {
    /// Checks the books (``LedgerReconciliation``) in one pass over the postings.
    public func reconcile() -> LedgerReconciliation {
        var derived: [LedgerAccount: LedgerSum] = [:]
        var flows: [String: (deposits: LedgerSum, withdrawals: LedgerSum)] = [:]
        for t in transactions {
            for p in t.postings {
                derived[p.account, default: LedgerSum()].add(p.amount)
                guard p.account.kind == .housePool else { continue }
                switch t.kind {
                case .deposit: flows[p.asset, default: (LedgerSum(), LedgerSum())].deposits.add(LedgerSum(p.amount).negated)
                case .withdrawal: flows[p.asset, default: (LedgerSum(), LedgerSum())].withdrawals.add(p.amount)
                default: break
                }
            }
        }
        var assets: [String: LedgerReconciliation.Asset] = [:]
        for account in Set(materialized.keys).union(derived.keys).sorted() {
            let value = LedgerSum(balance(of: account))
            var a = assets[account.asset] ?? LedgerReconciliation.Asset(asset: account.asset)
            a.total.add(value)
            switch account.kind {
            case .available, .reserved, .holding, .houseFees, .suspense: a.held.add(value)
            case .paperCounterparty: a.paperPnL.add(value.negated)
            case .housePool: break
            }
            let posted = derived[account] ?? LedgerSum()
            if posted != value {
                a.mismatched.append(LedgerReconciliation.AccountMismatch(account: account, materialized: value, postings: posted))
            }
            assets[account.asset] = a
        }
        for (asset, flow) in flows {
            assets[asset]?.deposits = flow.deposits
            assets[asset]?.withdrawals = flow.withdrawals
        }
        return LedgerReconciliation(
            assets: assets.values.sorted { $0.asset < $1.asset }, accounts: materialized.count, transactions: transactions.count)
    }
}
