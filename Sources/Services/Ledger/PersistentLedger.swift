public import MarketCore
public import Storage

extension LedgerTransaction {
    /// The rows of migration 0011 (`user_id` NULL for a house account).
    public var stored: StoredLedgerTransaction {
        StoredLedgerTransaction(
            id: id, time: time, kind: kind.rawValue, memo: memo,
            postings: postings.map {
                StoredLedgerPosting(userID: $0.account.owner.userID, accountKind: $0.account.kind.rawValue, asset: $0.asset, amount: $0.amount)
            })
    }

    /// A stored transaction read back; an unknown kind is a clear error (not a silent skip).
    public init(stored s: StoredLedgerTransaction) throws(LedgerPostingError) {
        guard let kind = LedgerTransactionKind(rawValue: s.kind) else {
            throw LedgerPostingError(.invalidAccount, "stored transaction \(s.id) has an unknown kind \(s.kind)")
        }
        var postings: [LedgerPosting] = []
        for p in s.postings {
            guard let k = LedgerAccountKind(rawValue: p.accountKind) else {
                throw LedgerPostingError(.invalidAccount, "stored transaction \(s.id) has an unknown account kind \(p.accountKind)")
            }
            let owner: LedgerOwner = p.userID.map { .user($0) } ?? .house
            postings.append(LedgerPosting(LedgerAccount(owner: owner, kind: k, asset: p.asset), p.amount))
        }
        self.init(id: s.id, time: s.time, kind: kind, memo: s.memo, postings: postings)
    }
}

extension Ledger {
    /// Books rebuilt from stored transactions **without** refusing any: a corrupted stored row
    /// (say, a posting that unbalances its transaction) must not stop the gateway from starting;
    /// the reconciliation then reports it as drift.
    public init(restoring transactions: [LedgerTransaction]) {
        var sums: [LedgerAccount: LedgerSum] = [:]
        for t in transactions { for p in t.postings { sums[p.account, default: LedgerSum()].add(p.amount) } }
        self.init(transactions: transactions, materialized: sums.mapValues { $0.wide ?? .zero })
    }
}

/// A ``SharedLedger`` whose every transaction is first written to a ``LedgerStore`` (one database
/// transaction), then applied in memory; loaded from the store at start-up.
public final class PersistentLedger: Sendable {
    public let books: SharedLedger
    let store: any LedgerStore

    public init(store: any LedgerStore, books: SharedLedger) {
        self.store = store
        self.books = books
    }

    /// The books as stored (``Ledger/init(restoring:)``).
    public static func load(from store: any LedgerStore) async throws -> PersistentLedger {
        var txs: [LedgerTransaction] = []
        for s in try await store.ledgerTransactions() { txs.append(try LedgerTransaction(stored: s)) }
        return PersistentLedger(store: store, books: SharedLedger(Ledger(restoring: txs)))
    }

    /// Checks `transaction` against the books, stores it, then applies it. Throws
    /// ``LedgerPostingError`` when the ledger refuses it (nothing stored), or the store's error
    /// (nothing applied; a duplicate id is refused by the database's primary key too).
    public func append(_ transaction: LedgerTransaction) async throws {
        _ = try books.withLedger { (l: inout Ledger) throws(LedgerPostingError) in try l.check(transaction) }
        try await store.appendLedgerTransaction(transaction.stored)
        try books.append(transaction)
    }

    public func reconcile() -> LedgerReconciliation { books.reconcile() }
}
