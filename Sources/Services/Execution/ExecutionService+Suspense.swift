public import MarketCore
public import Storage
import Synchronization

/// Ops assigning a deposit held in suspense to a user (docs/trading.md "Deposits by webhook").
extension ExecutionService {
    public enum SuspenseAssignmentError: Error, Sendable, Hashable {
        case unknownUser
        /// The assignment's transaction is in the books already: assigned before.
        case alreadyAssigned
        /// The books hold no such suspense money (its transaction is missing, or the suspense
        /// account of the asset holds less than the amount).
        case notHeld(String)
        case refused(LedgerError)
    }

    /// Moves `amount` of `asset` out of the house suspense account: `fee` to the house fee account
    /// and the rest to `user`'s available balance, as one `transfer` transaction with the id
    /// `transaction` (the idempotency key: a second call, concurrent or after a restart, is
    /// ``SuspenseAssignmentError/alreadyAssigned`` and changes nothing). `held` is the id of the
    /// transaction that put the money in suspense; it must be in the books. The pool does not move
    /// (the money came into the pooled wallet when it was held), so the funding check is unchanged.
    public func assignSuspense(
        held: String, user: String, asset: String, amount: WideDecimal, fee: WideDecimal, transaction id: String, memo: String
    ) async throws(SuspenseAssignmentError) -> (balance: WideDecimal, stored: Bool) {
        guard amount.isPositive, !fee.isNegative, fee <= amount else {
            throw .refused(LedgerError(.ledgerInvariant, "a suspense amount must be positive and at least its fee"))
        }
        let t = now
        let (balance, entry) = try state.withLock { s throws(SuspenseAssignmentError) -> (WideDecimal, Int) in
            let (assigned, isHeld, inSuspense) = books.withLedger { l in
                (l.contains(transaction: id), l.contains(transaction: held), l.balance(of: .house(.suspense, asset)))
            }
            if assigned { throw .alreadyAssigned }
            guard isHeld else { throw .notHeld("no suspense transaction \(held) in the ledger") }
            guard amount <= inSuspense else { throw .notHeld("the \(asset) suspense account holds \(inSuspense), less than \(amount)") }
            guard var a = s.accounts[user] else { throw .unknownUser }
            let posted: StoredLedgerTransaction?
            do throws(LedgerError) {
                let net = try Money.subtract(amount, fee, "suspense deposit after its fee")
                try a.add(asset, net)
                if let problem = a.invariantViolation() { throw LedgerError(.ledgerInvariant, problem) }
                posted = try post(.transfer, id: id, memo: memo, time: t) { b throws(LedgerError) in
                    try b.add(.house(.suspense, asset), amount.negated)
                    try b.add(.user(user, .available, asset), net)
                    try b.add(.house(.houseFees, asset), fee)
                }
            } catch { throw .refused(error) }
            if asset == options.cashAsset { a.cashHistory.append((t, a.balances[asset] ?? .zero)) }
            s.accounts[user] = a
            let b = a.balances[asset] ?? .zero
            let write = LedgerWrite(balances: [StoredBalance(userID: user, asset: asset, amount: b)], time: t, ledger: posted.map { [$0] } ?? [])
            return (b, journal.append(.ledger(write)))
        }
        return (balance, await journal.waitStored(entry))
    }
}
