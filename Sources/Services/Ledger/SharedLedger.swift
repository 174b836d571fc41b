public import MarketCore
import Synchronization

/// A ``Ledger`` shared between tasks: each transaction is checked and applied under one lock, so
/// concurrent posters never see or make half a transaction.
public final class SharedLedger: Sendable {
    private let state: Mutex<Ledger>

    public init(_ ledger: Ledger = Ledger()) { state = Mutex(ledger) }

    public func append(_ transaction: LedgerTransaction) throws(LedgerPostingError) {
        try state.withLock { (ledger: inout Ledger) throws(LedgerPostingError) in try ledger.append(transaction) }
    }

    /// Runs `body` on the books under the lock: several reads (or a check, then an append) that
    /// must see one state.
    public func withLedger<T: Sendable, E: Error>(_ body: (inout Ledger) throws(E) -> T) throws(E) -> T {
        try state.withLock { (ledger: inout Ledger) throws(E) -> T in try body(&ledger) }
    }

    public var snapshot: Ledger { state.withLock { $0 } }

    public func balance(of account: LedgerAccount) -> WideDecimal { state.withLock { $0.balance(of: account) } }

    /// Reconciles a snapshot, outside the lock, so posting is not held up while it runs.
    public func reconcile() -> LedgerReconciliation { snapshot.reconcile() }
}
