public import MarketCore
import Metrics
import Synchronization
import Storage

/// An agent's sub-account (issue 23; docs/strategies.md "Agent hierarchy"): an ``Account`` of its
/// own in the ``ExecutionService``, keyed `<user>/<agent>`, whose ledger accounts are
/// `user:<user>/<agent>/available|reserved|holding/<asset>`. User ids never contain '/' (the users
/// endpoint refuses it), so a key can only name a sub-account of the user before the '/': an
/// order with ``OrderRequest/agent`` set runs on that key, with the same checks, locks and postings
/// as any account, and can spend only what the sub-account holds.
public enum SubAccount {
    public static func key(user: String, agent: String) -> String { user + "/" + agent }

    /// The user an account key belongs to: the part before '/' (the key itself for a user's own).
    public static func owner(of key: String) -> String {
        guard let slash = key.firstIndex(of: "/") else { return key }
        return String(key[..<slash])
    }

    public static func isSubAccount(_ key: String) -> Bool { key.contains("/") }
}

extension ExecutionService {
    /// Moves `amount` of `asset` between two of `user`'s accounts (`nil` = the user's own, else an
    /// agent id's sub-account) as one balanced `transfer` transaction: available to available.
    /// Refused, with nothing changed, when the source's available balance is short or either
    /// account is missing; another user's account cannot be named. With `opening`, a missing
    /// target sub-account is opened by the same step (the funding of a new agent): a refused
    /// transfer opens nothing, even when other transfers race it for the same money.
    @discardableResult
    public func transfer(
        user: String, from: String?, to: String?, asset: String, amount: WideDecimal, memo: String, opening: Bool = false
    ) async throws(UserError) -> LedgerTransaction {
        guard amount.isPositive else { throw .invalid(FieldError(field: "amount", message: "must be positive")) }
        guard !SubAccount.isSubAccount(user) else { throw .unknown }
        let source = from.map { SubAccount.key(user: user, agent: $0) } ?? user
        let target = to.map { SubAccount.key(user: user, agent: $0) } ?? user
        guard source != target else { throw .invalid(FieldError(field: "to", message: "the same account")) }
        let t = now
        let (tx, entry) = try state.withLock { s throws(UserError) -> (LedgerTransaction, Int) in
            guard var a = s.accounts[source] else { throw .unknown }
            var opened: StoredUser?
            var b: Account
            if let existing = s.accounts[target] {
                b = existing
            } else if opening, let to {
                let u = StoredUser(id: target, name: "agent \(to) of \(user)", createdAt: t)
                opened = u
                b = Account(user: u)
            } else {
                throw .unknown
            }
            let posted: StoredLedgerTransaction?
            do throws(LedgerError) {
                guard a.available(asset) >= amount else {
                    throw LedgerError(.ledgerInvariant, "\(source) has \(a.available(asset)) \(asset) available, not \(amount)")
                }
                try a.add(asset, amount.negated)
                try b.add(asset, amount)
                posted = try post(.transfer, id: "transfer-\(idPrefix)-\(s.nextOrder)", memo: memo, time: t) { p throws(LedgerError) in
                    try p.add(.user(source, .available, asset), amount.negated)
                    try p.add(.user(target, .available, asset), amount)
                }
            } catch {
                Counter(label: "services_ledger_refusals_total", dimensions: [("operation", "transfer"), ("code", error.code.rawValue)]).increment()
                throw .refused(error)
            }
            // Transfer ids share the order counter: unique within a boot, the prefix across boots.
            s.nextOrder += 1
            if asset == options.cashAsset {
                a.cashHistory.append((t, a.balances[asset] ?? .zero))
                b.cashHistory.append((t, b.balances[asset] ?? .zero))
            }
            s.accounts[source] = a
            s.accounts[target] = b
            guard let posted, let tx = try? LedgerTransaction(stored: posted) else {
                throw .refused(LedgerError(.ledgerInvariant, "transfer posted nothing"))
            }
            let write = LedgerWrite(
                balances: [
                    StoredBalance(userID: source, asset: asset, amount: a.balances[asset] ?? .zero),
                    StoredBalance(userID: target, asset: asset, amount: b.balances[asset] ?? .zero),
                ], time: t, ledger: [posted])
            // The new sub-account's row goes to the store before the transfer that funds it.
            if let opened { _ = journal.append(.user(opened)) }
            return (tx, journal.append(.ledger(write)))
        }
        _ = await journal.waitStored(entry)
        return tx
    }

    /// Empties an agent's sub-account into its user's own: every cash balance and every position
    /// (quantity with its cost basis; the realized P&L stays with the agent's record) as one
    /// `transfer` transaction. Refused while the agent has anything reserved (a resting order).
    /// Returns the transaction, nil when the sub-account held nothing.
    @discardableResult
    public func closeSubAccount(user: String, agent: String) async throws(UserError) -> LedgerTransaction? {
        let key = SubAccount.key(user: user, agent: agent)
        let t = now
        let result = try state.withLock { s throws(UserError) -> (LedgerTransaction, Int)? in
            guard !SubAccount.isSubAccount(user), var sub = s.accounts[key], var own = s.accounts[user] else { throw .unknown }
            let posted: StoredLedgerTransaction?
            var assets: Set<String> = []
            var keys: [InstrumentKey] = []
            do throws(LedgerError) {
                if !sub.reserved.isEmpty || sub.positions.values.contains(where: { $0.reserved.isPositive }) {
                    throw LedgerError(.ledgerInvariant, "agent \(agent) has open orders; cancel them first")
                }
                var moves: [(LedgerAccountKind, String, WideDecimal)] = []
                for (asset, v) in sub.balances.sorted(by: { $0.key < $1.key }) where !v.isZero {
                    try own.add(asset, v)
                    sub.balances[asset] = .zero
                    assets.insert(asset)
                    moves.append((.available, asset, v))
                }
                for (k, p) in sub.positions.sorted(by: { $0.key < $1.key }) where p.qty.isPositive {
                    guard let base = k.baseAndQuote?.base else { continue }
                    var mine = own.positions[k] ?? Position()
                    mine.qty = try Money.add(mine.qty, p.qty, "\(k) position")
                    mine.costBasis = try Money.add(mine.costBasis, p.costBasis, "\(k) cost basis")
                    own.positions[k] = mine
                    var emptied = p
                    emptied.qty = .zero
                    emptied.costBasis = .zero
                    sub.positions[k] = emptied
                    keys.append(k)
                    moves.append((.holding, base, p.qty))
                }
                if let problem = own.invariantViolation() ?? sub.invariantViolation() { throw LedgerError(.ledgerInvariant, problem) }
                posted = try post(.transfer, id: "close-\(idPrefix)-\(s.nextOrder)", memo: "agent \(agent) deleted: its allocation returns", time: t) {
                    p throws(LedgerError) in
                    for (kind, asset, v) in moves {
                        try p.add(.user(key, kind, asset), v.negated)
                        try p.add(.user(user, kind, asset), v)
                    }
                }
            } catch {
                Counter(label: "services_ledger_refusals_total", dimensions: [("operation", "close_agent"), ("code", error.code.rawValue)]).increment()
                throw .refused(error)
            }
            guard let posted, let tx = try? LedgerTransaction(stored: posted) else { return nil }
            s.nextOrder += 1
            s.accounts[key] = sub
            s.accounts[user] = own
            var balances: [StoredBalance] = []
            var positions: [StoredPosition] = []
            for asset in assets.sorted() {
                balances.append(StoredBalance(userID: key, asset: asset, amount: .zero))
                balances.append(StoredBalance(userID: user, asset: asset, amount: own.balances[asset] ?? .zero))
            }
            for k in keys {
                for (id, a) in [(key, sub), (user, own)] {
                    let p = a.positions[k] ?? Position()
                    positions.append(
                        StoredPosition(userID: id, venue: k.venue, symbol: k.symbol, qty: p.qty, avgPrice: p.averagePrice, realizedPnL: p.realizedPnL))
                }
            }
            return (tx, journal.append(.ledger(LedgerWrite(balances: balances, positions: positions, time: t, ledger: [posted]))))
        }
        guard let (tx, entry) = result else { return nil }
        _ = await journal.waitStored(entry)
        return tx
    }

    /// The realized P&L of an account (Σ of its positions', fees included): an agent's earnings.
    public func realizedPnL(_ key: String) -> WideDecimal {
        state.withLock { s in
            var sum = WideDecimal.zero
            for p in (s.accounts[key]?.positions ?? [:]).values { sum = (try? Money.add(sum, p.realizedPnL, "realized")) ?? sum }
            return sum
        }
    }

    /// `user`'s own account and every sub-account of its agents.
    public func accountKeys(of user: String) -> [String] {
        state.withLock { s in s.accounts.keys.filter { $0 == user || SubAccount.owner(of: $0) == user && SubAccount.isSubAccount($0) } }.sorted()
    }
}
