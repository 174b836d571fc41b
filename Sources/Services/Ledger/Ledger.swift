public import MarketCore

/// The double-entry books of the paper wallet (issue 22, "Ledger"): accounts per user and for the
/// house, and an append-only list of transactions whose postings sum to zero per asset.
///
/// A balance is derived from postings (``derivedBalance(of:)``); ``balance(of:)`` reads the
/// materialized balances kept for speed, and ``reconcile()`` proves that both agree and that the
/// books add up. There is no API to change or remove a transaction: a correction is a new
/// `adjustment` transaction.
///
/// Posted to by `ExecutionService` (deposits, fills with their fees, reservations), stored with the
/// account change each transaction mirrors, and reconciled by ``LedgerMonitor``
/// (docs/trading.md, "The double-entry ledger").
public struct Ledger: Sendable {
    public private(set) var transactions: [LedgerTransaction] = []
    /// Balances kept up to date by ``append(_:)``; every account ever posted to has an entry.
    public internal(set) var materialized: [LedgerAccount: WideDecimal] = [:]
    private var ids: Set<String> = []

    public init() {}

    /// Test hook: books whose materialized balances are given, not computed (to prove that the
    /// reconciliation notices a corrupted balance).
    init(transactions: [LedgerTransaction], materialized: [LedgerAccount: WideDecimal]) {
        self.transactions = transactions
        self.materialized = materialized
        self.ids = Set(transactions.map(\.id))
    }

    /// Books rebuilt from stored transactions, each checked as ``append(_:)`` checks it.
    public init(replaying transactions: some Sequence<LedgerTransaction>) throws(LedgerPostingError) {
        for t in transactions { try append(t) }
    }

    /// The materialized balance (zero for an account never posted to).
    public func balance(of account: LedgerAccount) -> WideDecimal { materialized[account] ?? .zero }

    /// The balance computed from every posting to the account.
    public func derivedBalance(of account: LedgerAccount) -> LedgerSum {
        var sum = LedgerSum()
        for t in transactions {
            for p in t.postings where p.account == account { sum.add(p.amount) }
        }
        return sum
    }

    /// Whether a transaction with this id is in the books (an idempotency key, e.g. a deposit's hash).
    public func contains(transaction id: String) -> Bool { ids.contains(id) }

    /// All accounts with a materialized balance, sorted.
    public var accounts: [LedgerAccount] { materialized.keys.sorted() }

    /// Checks `transaction` and adds it with its postings' effect on the balances, or throws and
    /// changes nothing. Refused: no postings; a posting of zero or beyond the ledger's range
    /// (``Money``); a balance that would leave the range; postings of an asset that do not sum to
    /// zero; an empty or already used id; an empty asset or user id; a user account of a house kind
    /// or the reverse.
    public mutating func append(_ transaction: LedgerTransaction) throws(LedgerPostingError) {
        let updated = try check(transaction)
        for (account, value) in updated { materialized[account] = value }
        transactions.append(transaction)
        ids.insert(transaction.id)
    }

    /// The checks of ``append(_:)`` without changing anything: the balances the transaction would
    /// leave, per account it posts to.
    public func check(_ transaction: LedgerTransaction) throws(LedgerPostingError) -> [LedgerAccount: WideDecimal] {
        let id = transaction.id
        guard !id.isEmpty else { throw LedgerPostingError(.invalidAccount, "a transaction needs an id") }
        guard !ids.contains(id) else { throw LedgerPostingError(.duplicateID, "transaction \(id) is already in the ledger") }
        guard !transaction.postings.isEmpty else { throw LedgerPostingError(.empty, "transaction \(id) has no postings") }
        var perAsset: [String: LedgerSum] = [:]
        var updated: [LedgerAccount: WideDecimal] = [:]
        for p in transaction.postings {
            let a = p.account
            guard !a.asset.isEmpty else { throw LedgerPostingError(.invalidAccount, "transaction \(id): posting to \(a) has no asset") }
            if case .user(let user) = a.owner, user.isEmpty {
                throw LedgerPostingError(.invalidAccount, "transaction \(id): posting to \(a) has no user id")
            }
            guard a.kind.isUserKind == (a.owner != .house) else {
                throw LedgerPostingError(.invalidAccount, "transaction \(id): \(a.owner) cannot have a \(a.kind.rawValue) account")
            }
            let amount: WideDecimal
            do throws(LedgerError) {
                amount = try Money.checked(p.amount, "posting of \(p.amount) to \(a)")
            } catch {
                throw LedgerPostingError(.invalidAmount, "transaction \(id): \(error.message)")
            }
            guard !amount.isZero else { throw LedgerPostingError(.invalidAmount, "transaction \(id): posting of zero to \(a)") }
            perAsset[a.asset, default: LedgerSum()].add(amount)
            do throws(LedgerError) {
                updated[a] = try Money.add(updated[a] ?? balance(of: a), amount, "balance of \(a)")
            } catch {
                throw LedgerPostingError(.invalidAmount, "transaction \(id): \(error.message)")
            }
        }
        for (asset, sum) in perAsset.sorted(by: { $0.key < $1.key }) where !sum.isZero {
            throw LedgerPostingError(.unbalanced, "transaction \(id): postings of \(asset) sum to \(sum), not 0")
        }
        return updated
    }
}
