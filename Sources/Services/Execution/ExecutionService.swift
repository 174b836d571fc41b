public import Bus
import Logging
public import MarketCore
import Metrics
public import Storage
import Synchronization

/// Paper trading against the live L2 books (DESIGN.md "Services"): an in-process bus consumer.
///
/// All accounts and resting orders live behind one lock. An order's checks, its fill and the
/// balance update happen in one critical section, so concurrent orders of a user can never
/// overdraw it, and one user's orders never touch another user's account. Every amount is
/// computed with ``Money``'s checked arithmetic on a copy of the account, and the copy replaces
/// the account only when nothing overflowed and ``Account/invariantViolation()`` finds nothing;
/// otherwise the operation is refused and nothing changes. Each change is queued to the
/// ``AccountJournal`` under the same lock (the store sees changes in order); fills are published on
/// `executions.<user>` once the journal has stored them (at once when there is no store), so a
/// client never sees an execution that a crash could undo.
public final class ExecutionService: Sendable {
    struct State {
        var accounts: [String: Account] = [:]
        var resting: [String: RestingOrder] = [:]
        var nextOrder = 1
        var nextDeposit = 1
        var withdrawals: [String: StoredWithdrawal] = [:]
        var nextWithdrawal = 1
    }

    public let options: ExecutionOptions
    public let market: MarketView
    public let journal: AccountJournal
    /// The double-entry books every change is posted to (docs/trading.md "How trading posts to the
    /// ledger"): under the same lock as the accounts, stored in the same journal entry.
    public let books: SharedLedger
    /// Per-user risk limits and the daily-loss circuit breaker, checked with every order.
    public let risk: RiskBook
    private let bus: MarketBus?
    let state = Mutex(State())
    let idPrefix: String
    let logger: Logger
    private let onFill = Mutex<[@Sendable (String) -> Void]>([])
    let lineage = Mutex<(@Sendable (String) -> [String])?>(nil)
    private let clock: @Sendable () -> UnixNanos

    public init(
        options: ExecutionOptions = .init(), market: MarketView, journal: AccountJournal, bus: MarketBus?,
        logger: Logger, clock: (@Sendable () -> UnixNanos)? = nil, books: SharedLedger = SharedLedger()
    ) {
        self.books = books
        self.options = options
        self.market = market
        self.journal = journal
        self.bus = bus
        self.logger = logger
        self.clock = clock ?? { UnixNanos.now() }
        risk = RiskBook(defaults: options.risk, logger: logger)
        // Order ids stay unique across restarts: a per-boot prefix.
        idPrefix = String(UInt64(UnixNanos.now().rawValue / 1_000_000), radix: 36)
    }

    /// Called (outside the lock) with the user id after each fill; the mood meter recomputes.
    public func addFillObserver(_ f: @escaping @Sendable (String) -> Void) { onFill.withLock { $0.append(f) } }

    public var now: UnixNanos { clock() }

    // MARK: accounts

    /// Loads users, balances, positions, resting orders (with their reservations) and recent fills
    /// from the store at start-up.
    public func load(from store: any AccountStore, since: UnixNanos) async throws {
        let users = try await store.users()
        let balances = try await store.balances()
        let positions = try await store.positions()
        let orders = try await store.restingOrders()
        let withdrawals = try await (store as? any WithdrawalStore)?.withdrawals() ?? []
        let marks = try await (store as? any PerformanceMarkStore)?.performanceMarks() ?? []
        var fillsByUser: [String: [StoredPaperFill]] = [:]
        for u in users { fillsByUser[u.id] = try await store.paperFills(userID: u.id, since: since, limit: options.fillsKept) }
        let cash = options.cashAsset
        state.withLock { s in
            for u in users { s.accounts[u.id] = Account(user: u) }
            for b in balances { s.accounts[b.userID]?.balances[b.asset] = b.amount }
            for p in positions {
                var pos = Position()
                pos.qty = p.qty
                pos.costBasis = p.avgPrice.multiplied(by: p.qty) ?? .zero
                pos.realizedPnL = p.realizedPnL
                s.accounts[p.userID]?.positions[InstrumentKey(venue: p.venue, symbol: p.symbol)] = pos
            }
            for stored in orders {
                let order = RestingOrder(stored: stored)
                guard var a = s.accounts[order.user] else { continue }
                do {
                    try Self.hold(order, in: &a, sign: 1)
                    s.accounts[order.user] = a
                    s.resting[order.id] = order
                } catch {
                    logger.error("stored resting order cannot be restored", metadata: ["order": "\(order.id)", "error": "\(error)"])
                    Counter(label: "services_ledger_refusals_total", dimensions: [("operation", "load")]).increment()
                }
            }
            for m in marks {
                s.accounts[m.userID]?.performance[m.asset] = PerformanceMark(
                    realized: m.realized, highWaterMark: m.highWaterMark, feesPaid: m.feesPaid)
            }
            for w in withdrawals {
                s.withdrawals[w.id] = w
                guard w.status == .pending else { continue }
                // A pending withdrawal keeps its funds reserved across a restart.
                do throws(LedgerError) {
                    guard var a = s.accounts[w.userID] else { throw LedgerError(.ledgerInvariant, "no user \(w.userID)") }
                    try a.reserve(w.asset, w.amount)
                    s.accounts[w.userID] = a
                } catch {
                    logger.error("stored withdrawal cannot be restored", metadata: ["withdrawal": "\(w.id)", "error": "\(error)"])
                    Counter(label: "services_ledger_refusals_total", dimensions: [("operation", "load")]).increment()
                }
            }
            for (user, fills) in fillsByUser {
                guard var a = s.accounts[user] else { continue }
                let orders = Dictionary(grouping: fills, by: \.orderID).values.compactMap { $0.map(\.time).min() }.sorted()
                a.tradeTimes = orders
                a.totalTrades = orders.count
                a.fills = fills.reversed().map { PaperFill(stored: $0, feeAsset: cash) }
                if let c = a.balances[cash] { a.cashHistory = [(since, c)] }
                s.accounts[user] = a
            }
            for (id, a) in s.accounts {
                if let problem = a.invariantViolation() {
                    logger.error("stored account is inconsistent", metadata: ["user": "\(id)", "problem": "\(problem)"])
                }
            }
        }
    }

    // MARK: the ledger

    /// Every user ledger account whose balance differs from what the user's ``Account`` says
    /// (the mapping of ``PostingBuilder``), as `account: account X, ledger Y`; empty when the
    /// books and the accounts agree.
    public func ledgerDisagreements() -> [String] {
        state.withLock { s in
            let books = self.books.snapshot
            var inBooks: [LedgerAccount: WideDecimal] = [:]
            for (a, v) in books.materialized where a.owner != .house && !v.isZero { inBooks[a] = v }
            var expected: [LedgerAccount: WideDecimal] = [:]
            for a in s.accounts.values { expected.merge(a.ledgerBalances) { x, _ in x } }
            var out: [String] = []
            for a in Set(expected.keys).union(inBooks.keys).sorted() {
                let e = expected[a] ?? .zero
                let l = inBooks[a] ?? .zero
                if !(e.subtracting(l)?.isZero ?? false) { out.append("\(a): account \(e), ledger \(l)") }
            }
            return out
        }
    }

    /// Accounts stored before the ledger existed (a user with balances and not one posting) get one
    /// opening transaction (`deposit` kind, memo saying so): cash-like balances from the pool,
    /// holdings from the paper counterparty. A user who has postings is never "corrected" here:
    /// a disagreement then is drift for ops to see. Returns how many users were carried over.
    @discardableResult
    public func carryOverToLedger() -> Int {
        let t = now
        return state.withLock { s in
            let posted = Set(books.snapshot.materialized.keys.compactMap(\.owner.userID))
            var carried = 0
            for (id, a) in s.accounts.sorted(by: { $0.key < $1.key }) where !posted.contains(id) {
                let balances = a.ledgerBalances.sorted { $0.key < $1.key }
                guard !balances.isEmpty else { continue }
                do throws(LedgerError) {
                    let tx = try post(.deposit, id: "opening-\(id)", memo: "opening balance of accounts stored before the ledger", time: t) {
                        b throws(LedgerError) in
                        for (account, v) in balances {
                            try b.add(account, v)
                            try b.add(.house(account.kind == .holding ? .paperCounterparty : .housePool, account.asset), v.negated)
                        }
                    }
                    if let tx { journal.append(.ledger(LedgerWrite(balances: [], time: t, ledger: [tx]))) }
                    carried += 1
                } catch {
                    logger.error("opening balance refused by the ledger", metadata: ["user": "\(id)", "error": "\(error)"])
                }
            }
            return carried
        }
    }

    public enum UserError: Error, Sendable, Hashable {
        case exists, unknown
        case invalid(FieldError)
        case refused(LedgerError)
    }

    /// Creates a user with no balance; stored before it returns (bounded wait).
    public func createUser(id: String, name: String) async throws(UserError) -> StoredUser {
        let user = StoredUser(id: id, name: name, createdAt: now)
        let entry = try state.withLock { s throws(UserError) -> Int in
            guard s.accounts[id] == nil else { throw .exists }
            s.accounts[id] = Account(user: user)
            return journal.append(.user(user))
        }
        _ = await journal.waitStored(entry)
        return user
    }

    /// Adds `amount` of `asset` to a user's balance; returns the new balance. A deposit that would
    /// take the balance beyond the ledger's range is refused, not ignored.
    public func deposit(user: String, asset: String, amount: WideDecimal) async throws(UserError) -> WideDecimal {
        if let problem = assetProblem(asset) { throw .invalid(problem) }
        guard !amount.isNegative else { throw .invalid(FieldError(field: "amount", message: "must not be negative")) }
        do { _ = try Money.checked(amount, "deposit amount \(amount)") } catch { throw .refused(error) }
        let t = now
        let (balance, entry) = try state.withLock { s throws(UserError) -> (WideDecimal, Int) in
            guard var a = s.accounts[user] else { throw .unknown }
            let posted: StoredLedgerTransaction?
            do throws(LedgerError) {
                try a.add(asset, amount)
                posted = try post(.deposit, id: "deposit-\(idPrefix)-\(s.nextDeposit)", memo: "paper deposit", time: t) { b throws(LedgerError) in
                    try b.deposit(user: user, asset: asset, amount: amount)
                }
            } catch { throw .refused(error) }
            s.nextDeposit += 1
            if asset == options.cashAsset { a.cashHistory.append((t, a.balances[asset] ?? .zero)) }
            s.accounts[user] = a
            let b = a.balances[asset] ?? .zero
            let write = LedgerWrite(balances: [StoredBalance(userID: user, asset: asset, amount: b)], time: t, ledger: posted.map { [$0] } ?? [])
            return (b, journal.append(.ledger(write)))
        }
        _ = await journal.waitStored(entry)
        return balance
    }

    /// What ``creditDeposit(user:asset:amount:fee:transaction:memo:)`` did.
    public enum DepositCredit: Sendable, Hashable {
        /// Credited now: the user's new balance; `stored` false when the store took longer than 5 s.
        case credited(balance: WideDecimal, stored: Bool)
        /// A transaction with this id is already in the books: nothing changed.
        case duplicate
    }

    /// Credits a deposit that arrived in the pooled wallet: `amount` leaves the pool, `fee` goes to
    /// the house fee account and the rest to the user's available balance, as one `deposit`
    /// transaction with the id `transaction` — the idempotency key: a second call with the same id
    /// (concurrent or after a restart) changes nothing and answers ``DepositCredit/duplicate``.
    public func creditDeposit(user: String, asset: String, amount: WideDecimal, fee: WideDecimal, transaction id: String, memo: String)
        async throws(UserError) -> DepositCredit
    {
        guard amount.isPositive, !fee.isNegative, fee <= amount else {
            throw .invalid(FieldError(field: "amount", message: "must be positive and at least the fee"))
        }
        let t = now
        let result = try state.withLock { s throws(UserError) -> (WideDecimal, Int)? in
            if books.withLedger({ $0.contains(transaction: id) }) { return nil }
            guard var a = s.accounts[user] else { throw .unknown }
            let posted: StoredLedgerTransaction?
            do throws(LedgerError) {
                let net = try Money.subtract(amount, fee, "deposit after its fee")
                try a.add(asset, net)
                posted = try post(.deposit, id: id, memo: memo, time: t) { b throws(LedgerError) in
                    try b.add(.house(.housePool, asset), amount.negated)
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
        guard let (balance, entry) = result else { return .duplicate }
        return .credited(balance: balance, stored: await journal.waitStored(entry))
    }

    /// Money that arrived but matches no user: `amount` leaves the pool into the house suspense
    /// account, as one `deposit` transaction with the id `transaction` (idempotent as above).
    /// Returns false when it was already there.
    public func holdInSuspense(asset: String, amount: WideDecimal, transaction id: String, memo: String) async throws(LedgerError) -> Bool {
        let t = now
        let entry = try state.withLock { _ throws(LedgerError) -> Int? in
            if books.withLedger({ $0.contains(transaction: id) }) { return nil }
            let posted = try post(.deposit, id: id, memo: memo, time: t) { b throws(LedgerError) in
                try b.add(.house(.housePool, asset), amount.negated)
                try b.add(.house(.suspense, asset), amount)
            }
            return posted.map { journal.append(.ledger(LedgerWrite(balances: [], time: t, ledger: [$0]))) }
        }
        guard let entry else { return false }
        _ = await journal.waitStored(entry)
        return true
    }

    public func account(_ user: String) -> Account? { state.withLock { $0.accounts[user] } }
    public var userIDs: [String] { state.withLock { Array($0.accounts.keys) }.sorted() }
    public func restingOrders(user: String) -> [RestingOrder] {
        state.withLock { s in s.resting.values.filter { $0.user == user } }.sorted { $0.id < $1.id }
    }

    // MARK: orders

    /// What an order would cost or hold back, computed before the checks: the taker part's cost
    /// (notional + fee), the reservation of the part that rests, and the order's notional at its
    /// limit. Any of them beyond the ledger's range refuses the order.
    struct Costs {
        var required: (asset: String, amount: WideDecimal)?
        var reservation: WideDecimal
    }

    private func costs(_ r: OrderRequest, plan: FillPlan?, rest: WideDecimal, settle: String, base: String) throws(LedgerError) -> Costs {
        var reservation = WideDecimal.zero
        if r.type == .limit, let limit = r.limitPrice, let q = r.quantity {
            _ = try Money.multiply(limit, q, "order notional (limit × quantity)")
            if rest.isPositive { reservation = try Self.reservation(side: r.side, limit: limit, qty: rest, feeRate: options.feeRate) }
        }
        guard let plan else { return Costs(required: nil, reservation: reservation) }
        switch r.side {
        case .buy:
            let fee = try Money.fee(plan.notional, rate: options.feeRate)
            let now = try Money.add(plan.notional, fee, "cost of the part that fills now")
            return Costs(required: (settle, try Money.add(now, reservation, "funds the order needs")), reservation: reservation)
        case .sell:
            return Costs(required: (base, try Money.add(plan.qty, reservation, "quantity the order needs")), reservation: reservation)
        }
    }

    /// What a resting order of `qty` holds back: limit × qty plus its fee for a buy, qty for a sell.
    static func reservation(side: Side, limit: WideDecimal, qty: WideDecimal, feeRate: WideDecimal) throws(LedgerError) -> WideDecimal {
        switch side {
        case .buy:
            let gross = try Money.multiply(limit, qty, "reservation (limit × quantity)")
            // Trimmed, as balances are: the value the store gives back after a restart.
            return try Money.add(gross, Money.fee(gross, rate: feeRate), "reservation with its fee").trimmed
        case .sell:
            return qty.trimmed
        }
    }

    /// Runs the pre-trade checks and, when they all pass, fills against the live book (market) or
    /// fills what crosses and rests the rest (limit). Every check result is logged.
    public func execute(user owner: String, request input: OrderRequest) async -> ExecutionOutcome {
        // An agent's order runs on its sub-account, never the user's other money (+SubAccounts).
        let user = input.agent.map { SubAccount.key(user: owner, agent: $0) } ?? owner
        do { try input.validate() } catch { return .invalid(error) }
        if let problem = instrumentProblem(venue: input.venue, symbol: input.symbol) {
            Counter(label: "services_orders_invalid_total", dimensions: [("field", problem.field)]).increment()
            return .invalid(problem)
        }
        var request = input
        let key = InstrumentKey(venue: request.venue, symbol: request.symbol)
        guard let (base, quote) = key.baseAndQuote else {
            return .invalid(FieldError(field: "symbol", message: "'\(request.symbol)' is not a BASE-QUOTE symbol"))
        }
        for (field, value) in [("quantity", request.quantity), ("quote_amount", request.quoteAmount), ("limit_price", request.limitPrice)] {
            guard let value else { continue }
            do { _ = try Money.checked(value, "\(field) \(value)") } catch { return refused(error, user: user) }
        }
        let t = now
        let book = market.book(key)
        let quoteUSDMid = options.limits.usdQuotes.contains(quote) ? nil : market.mid(InstrumentKey(venue: key.venue, symbol: "\(quote)-USDT"))
        let plan: FillPlan?
        do {
            // A limit order given in quote units rests as the quantity that amount buys at its limit.
            if request.type == .limit, let amount = request.quoteAmount, let limit = request.limitPrice {
                let digits = Int(book?.asks.first?.quantity.displayScale ?? 8)
                request.quantity = try FillPlanner.floorQuotient(amount, limit, digits: digits)
                request.quoteAmount = nil
                if !(request.quantity?.isPositive ?? false) {
                    return .invalid(FieldError(field: "quote_amount", message: "buys less than one lot at the limit price"))
                }
            }
            if let book {
                plan = try FillPlanner.plan(
                    levels: request.side == .buy ? book.asks : book.bids, side: request.side, quantity: request.quantity,
                    quoteAmount: request.quoteAmount, limit: request.limitPrice)
            } else {
                plan = nil
            }
        } catch {
            return refused(error, user: user)
        }
        let settle = options.settlementAsset(quote: quote)
        let restQty: WideDecimal
        let costs: Costs
        do {
            restQty = request.type == .limit ? try Money.subtract(request.quantity ?? .zero, plan?.qty ?? .zero, "quantity left to rest") : .zero
            costs = try self.costs(request, plan: plan, rest: restQty, settle: settle, base: base)
        } catch {
            return refused(error, user: user)
        }
        let storing = journal.isStoring

        var riskChange: RiskChange?
        let decided = state.withLock { s -> (outcome: ExecutionOutcome, fills: [PaperFill], entry: Int?) in
            guard var account = s.accounts[user] else {
                return (.unknownUser, [], nil)
            }
            let window = UnixNanos(t.rawValue - options.limits.tradeWindowSeconds * 1_000_000_000)
            let available = request.side == .buy ? account.available(settle) : (account.positions[key]?.available ?? .zero)
            var context = PreTradeContext(
                request: request, quote: quote, book: book, plan: plan, quoteUSDMid: quoteUSDMid,
                recentTrades: account.trades(since: window), required: costs.required, available: available)
            let limits = risk.limits(user)
            if !limits.isOff {
                let (inputs, change) = riskInputs(s, account, limits: limits, request: request, key: key, quote: quote, plan: plan, at: t)
                context.risk = inputs
                riskChange = change
            }
            let checks = PreTradeChecks.run(context, limits: options.limits)
            let record = Self.preTradeRecord(user, request, t, checks)
            journal.append(.preTrade(record))
            guard checks.allSatisfy(\.passed), let plan else {
                for c in checks where !c.passed {
                    Counter(label: "services_pretrade_refusals_total", dimensions: [("check", c.check)]).increment()
                }
                return (.rejected(checks: checks), [], nil)
            }
            let orderID = "\(idPrefix)-\(s.nextOrder)"
            var fills: [PaperFill] = []
            var resting: RestingOrder?
            var posted: StoredLedgerTransaction?
            var charge: PerformanceCharge?
            var extra: [StoredLedgerTransaction] = []
            do throws(LedgerError) {
                if !plan.isEmpty, let mid = book.flatMap({ b in b.mid.map { WideDecimal($0) } }) {
                    var fill = try apply(
                        plan: plan, to: &account, user: user, orderID: orderID, fillNumber: 1, key: key, side: request.side,
                        type: request.type, settle: settle, time: t, slippageAgainst: mid, liquidity: "taker",
                        remaining: restQty, source: request.source)
                    charge = try chargePerformance(&fill, settle: settle, account: &account, accounts: s.accounts)
                    fills.append(fill)
                    account.tradeTimes.append(t)
                    account.totalTrades += 1
                }
                if request.type == .limit, restQty.isPositive, let limit = request.limitPrice {
                    let order = RestingOrder(
                        id: orderID, user: user, instrument: key, side: request.side, limitPrice: limit,
                        quantity: request.quantity ?? restQty, remaining: restQty, placed: t, source: request.source,
                        fills: fills.count, reserved: costs.reservation, reservedAsset: request.side == .buy ? settle : base)
                    try Self.hold(order, in: &account, sign: 1)
                    resting = order
                }
                if let problem = account.invariantViolation() { throw LedgerError(.ledgerInvariant, problem) }
                // One transaction: what fills now and what the rest reserves.
                let id = fills.first.map { "fill-\($0.fillID)" } ?? "reserve-\(orderID)"
                posted = try post(fills.isEmpty ? .transfer : .fill, id: id, memo: "order \(orderID)", time: t) { b throws(LedgerError) in
                    for f in fills {
                        try b.fill(user: user, side: f.side, settle: settle, base: base, qty: f.qty, notional: f.notional, fee: f.fee)
                    }
                    if let resting {
                        try b.hold(user: user, side: resting.side, asset: resting.reservedAsset, amount: resting.reserved, sign: 1)
                    }
                }
                extra = try post(prepared: charge?.transactions ?? [])
            } catch {
                return (refused(error, user: user), [], nil)
            }
            s.nextOrder += 1
            s.accounts[user] = account
            for (id, credited) in charge?.credited ?? [:] { s.accounts[id] = credited }
            if let resting { s.resting[orderID] = resting }
            var entry: Int?
            if !fills.isEmpty || resting != nil {
                var orders: [StoredRestingOrder] = []
                if let resting { orders.append(resting.stored) }
                var write = ledgerWrite(
                    account, assets: fills.isEmpty ? [] : [settle], keys: fills.isEmpty ? [] : [key], fills: fills, orders: orders, time: t)
                write.ledger = (posted.map { [$0] } ?? []) + extra
                if let charge { add(charge, to: &write) }
                var then: (@Sendable () -> Void)?
                if storing && !fills.isEmpty {
                    let published = fills
                    then = { [self] in publish(published) }
                }
                entry = journal.append(.ledger(write), then: then)
            }
            return (.accepted(orderID: orderID, fills: fills, resting: resting, checks: checks, stored: true), fills, entry)
        }
        if !storing { publish(decided.fills) }
        // A trip is stored before the refusal is answered, so it survives a crash right after.
        if let riskChange { await risk.commit(riskChange) }
        guard case .accepted(let id, let f, let r, let c, _) = decided.outcome else { return decided.outcome }
        var stored = true
        if let entry = decided.entry { stored = await journal.waitStored(entry) }
        return .accepted(orderID: id, fills: f, resting: r, checks: c, stored: stored)
    }

    /// Logs and counts a refusal; the outcome for the caller.
    private func refused(_ error: LedgerError, user: String) -> ExecutionOutcome {
        logger.warning("order refused by the ledger", metadata: ["user": "\(user)", "error": "\(error)"])
        Counter(label: "services_ledger_refusals_total", dimensions: [("operation", "order"), ("code", error.code.rawValue)]).increment()
        return .refused(error)
    }

    /// Cancels a resting order of `user`, releasing what it reserved; waits (bounded) until stored.
    public func cancel(user: String, orderID: String) async -> RestingOrder? {
        let t = now
        let (order, entry) = state.withLock { s -> (RestingOrder?, Int?) in
            guard let order = s.resting[orderID], order.user == user, var account = s.accounts[user] else { return (nil, nil) }
            let posted: StoredLedgerTransaction?
            do throws(LedgerError) {
                try Self.hold(order, in: &account, sign: -1)
                posted = try post(.transfer, id: "release-\(orderID)", memo: "cancel \(orderID)", time: t) { b throws(LedgerError) in
                    try b.hold(user: user, side: order.side, asset: order.reservedAsset, amount: order.reserved, sign: -1)
                }
            } catch {
                // Releasing what was added cannot leave the range; if it ever does, keep the order.
                logger.error("cancel refused by the ledger", metadata: ["order": "\(orderID)", "error": "\(error)"])
                return (nil, nil)
            }
            s.accounts[user] = account
            s.resting[orderID] = nil
            return (order, journal.append(.ledger(LedgerWrite(balances: [], closedOrders: [orderID], time: t, ledger: posted.map { [$0] } ?? []))))
        }
        if let entry { _ = await journal.waitStored(entry) }
        return order
    }

    /// Adds (sign 1) or releases (sign −1) an order's reservation in the account.
    static func hold(_ order: RestingOrder, in a: inout Account, sign: Int) throws(LedgerError) {
        let amount = sign > 0 ? order.reserved : order.reserved.negated
        switch order.side {
        case .buy: try a.reserve(order.reservedAsset, amount)
        case .sell: try a.reserve(order.instrument, amount)
        }
    }

    // MARK: market data (resting orders)

    /// Feeds one bus event: updates the market view and fills resting limit orders the new book or
    /// trade crosses.
    public func handle(_ event: MarketEvent) {
        market.apply(event)
        let fills: [PaperFill]
        switch event {
        case .bookSnapshot(let b):
            let key = InstrumentKey(venue: b.instrument.venue.id, symbol: b.instrument.symbol)
            guard let book = market.book(key) else { return }
            fills = matchResting(key, time: book.time) { order throws(LedgerError) in
                try FillPlanner.plan(
                    levels: order.side == .buy ? book.asks : book.bids, side: order.side, quantity: order.remaining,
                    quoteAmount: nil, limit: order.limitPrice)
            }
        case .trade(let tr):
            let key = InstrumentKey(venue: tr.instrument.venue.id, symbol: tr.instrument.symbol)
            let price = WideDecimal(tr.price)
            fills = matchResting(key, time: tr.eventTime) { order throws(LedgerError) in
                let crosses = order.side == .buy ? price <= order.limitPrice : price >= order.limitPrice
                guard crosses, tr.quantity.mantissa > 0 else { return nil }
                let q = min(WideDecimal(tr.quantity), order.remaining)
                // A resting order fills at its own price when the market trades through it.
                return FillPlan(
                    takes: [FillPlan.Take(price: order.limitPrice, qty: q)], qty: q,
                    notional: try Money.multiply(order.limitPrice, q, "notional"), complete: true)
            }
        default:
            return
        }
        if !journal.isStoring { publish(fills) }
    }

    /// Fills the resting orders of `key` that `plan` says cross, oldest first; each fill's account
    /// change (fill, balances, position, the order's new state) is one journal entry. An order
    /// whose fill the ledger refuses stays as it was (logged and counted).
    private func matchResting(_ key: InstrumentKey, time: UnixNanos, plan: (RestingOrder) throws(LedgerError) -> FillPlan?) -> [PaperFill] {
        let storing = journal.isStoring
        return state.withLock { s in
            let orders = s.resting.values.filter { $0.instrument == key }.sorted { ($0.placed, $0.id) < ($1.placed, $1.id) }
            guard !orders.isEmpty else { return [] }
            var fills: [PaperFill] = []
            for var order in orders {
                guard var account = s.accounts[order.user], let (base, quote) = order.instrument.baseAndQuote else { continue }
                let settle = options.settlementAsset(quote: quote)
                var fill: PaperFill
                let posted: StoredLedgerTransaction?
                let charge: PerformanceCharge?
                let extra: [StoredLedgerTransaction]
                do throws(LedgerError) {
                    guard let p = try plan(order), !p.isEmpty else { continue }
                    // Release what this part reserved (everything at the last fill), then settle it at its real price.
                    let last = p.qty >= order.remaining
                    var release = order.reserved
                    if !last {
                        let part = try Self.reservation(side: order.side, limit: order.limitPrice, qty: p.qty, feeRate: options.feeRate)
                        release = min(release, part)
                    }
                    var part = order
                    part.reserved = release
                    try Self.hold(part, in: &account, sign: -1)
                    order.reserved = try Money.subtract(order.reserved, release, "order reservation")
                    order.remaining = try Money.subtract(order.remaining, p.qty, "order remaining")
                    order.fills += 1
                    fill = try apply(
                        plan: p, to: &account, user: order.user, orderID: order.id, fillNumber: order.fills, key: key,
                        side: order.side, type: .limit, settle: settle, time: time, slippageAgainst: nil, liquidity: "resting",
                        remaining: order.remaining, source: order.source, costCap: order.side == .buy ? release : nil)
                    charge = try chargePerformance(&fill, settle: settle, account: &account, accounts: s.accounts)
                    if let problem = account.invariantViolation() { throw LedgerError(.ledgerInvariant, problem) }
                    // One transaction: this part's reservation released and the fill settled.
                    let (user, side, reservedAsset, done) = (order.user, order.side, order.reservedAsset, fill)
                    posted = try post(.fill, id: "fill-\(fill.fillID)", memo: "resting order \(order.id)", time: time) { b throws(LedgerError) in
                        try b.hold(user: user, side: side, asset: reservedAsset, amount: release, sign: -1)
                        try b.fill(user: user, side: side, settle: settle, base: base, qty: done.qty, notional: done.notional, fee: done.fee)
                    }
                    extra = try post(prepared: charge?.transactions ?? [])
                } catch {
                    logger.error("resting fill refused by the ledger", metadata: ["order": "\(order.id)", "error": "\(error)"])
                    Counter(label: "services_ledger_refusals_total", dimensions: [("operation", "resting_fill"), ("code", error.code.rawValue)])
                        .increment()
                    continue
                }
                if order.fills == 1 {
                    account.tradeTimes.append(time)
                    account.totalTrades += 1
                }
                let done = !order.remaining.isPositive
                s.resting[order.id] = done ? nil : order
                s.accounts[order.user] = account
                for (id, credited) in charge?.credited ?? [:] { s.accounts[id] = credited }
                var write = ledgerWrite(
                    account, assets: [settle], keys: [key], fills: [fill], orders: done ? [] : [order.stored],
                    closedOrders: done ? [order.id] : [], time: time)
                write.ledger = (posted.map { [$0] } ?? []) + extra
                if let charge { add(charge, to: &write) }
                var then: (@Sendable () -> Void)?
                let published = fill
                if storing { then = { [self] in publish([published]) } }
                journal.append(.ledger(write), then: then)
                fills.append(fill)
            }
            return fills
        }
    }

    // MARK: ledger arithmetic

    /// Applies a fill to an account (caller holds the lock, works on a copy, and has checked funds).
    private func apply(
        plan: FillPlan, to a: inout Account, user: String, orderID: String, fillNumber: Int, key: InstrumentKey,
        side: Side, type: OrderType, settle: String, time: UnixNanos, slippageAgainst mid: WideDecimal?,
        liquidity: String, remaining: WideDecimal, source: String?, costCap: WideDecimal? = nil
    ) throws(LedgerError) -> PaperFill {
        var fee = try Money.fee(plan.notional, rate: options.feeRate)
        // A resting buy never pays more than it reserved: fees of its parts, each rounded, may add up
        // to a little more than the reservation's fee; the last part's fee takes what is left.
        if let costCap, side == .buy {
            let room = try Money.subtract(costCap, plan.notional, "reservation left for the fee")
            if room < fee, !room.isNegative { fee = room }
        }
        var pos = a.positions[key] ?? Position()
        var realized: WideDecimal?
        switch side {
        case .buy:
            let cost = try Money.add(plan.notional, fee, "cost")
            try a.add(settle, cost.negated)
            pos.qty = try Money.add(pos.qty, plan.qty, "\(key) position")
            pos.costBasis = try Money.add(pos.costBasis, cost, "\(key) cost basis")
        case .sell:
            // The share of the cost basis sold, toward zero; the last sale takes what is left.
            let basis =
                plan.qty >= pos.qty
                ? pos.costBasis
                : try Money.checked(
                    Money.mulDiv(pos.costBasis, plan.qty, pos.qty, digits: Money.fractionDigits, .towardZero), "cost basis sold")
            let proceeds = try Money.subtract(plan.notional, fee, "proceeds")
            let pnl = try Money.subtract(proceeds, basis, "realized P&L")
            realized = pnl
            try a.add(settle, proceeds)
            pos.qty = try Money.subtract(pos.qty, plan.qty, "\(key) position")
            pos.costBasis = pos.qty.isPositive ? try Money.subtract(pos.costBasis, basis, "\(key) cost basis") : .zero
            pos.realizedPnL = try Money.add(pos.realizedPnL, pnl, "\(key) realized P&L")
        }
        a.positions[key] = pos
        if settle == options.cashAsset { a.cashHistory.append((time, a.balances[settle] ?? .zero)) }
        if a.cashHistory.count > 20_000 { a.cashHistory.removeFirst(a.cashHistory.count - 20_000) }
        let price = plan.averagePrice ?? .zero
        let fill = PaperFill(
            time: time, user: user, orderID: orderID, fillID: "\(orderID)-\(fillNumber)", instrument: key, side: side,
            orderType: type, qty: plan.qty, notional: plan.notional, price: price, fee: fee, feeAsset: settle,
            slippageBps: mid.flatMap { FillPlanner.slippageBps(side: side, price: price, mid: $0) }, realizedPnL: realized,
            liquidity: liquidity, remaining: remaining, levels: plan.takes.count, source: source)
        a.fills.append(fill)
        if a.fills.count > options.fillsKept { a.fills.removeFirst(a.fills.count - options.fillsKept) }
        if a.tradeTimes.count > 10_000 { a.tradeTimes.removeFirst(a.tradeTimes.count - 10_000) }
        return fill
    }

    /// Builds one operation's ledger transaction and appends it to the books; the caller (holding
    /// the lock, every other check passed) stores what it returns in the operation's journal entry.
    /// nil when the operation moves nothing. A refusal is a defect: the operation is refused.
    func post(
        _ kind: LedgerTransactionKind, id: String, memo: String, time: UnixNanos, _ build: (inout PostingBuilder) throws(LedgerError) -> Void
    ) throws(LedgerError) -> StoredLedgerTransaction? {
        var b = PostingBuilder()
        try build(&b)
        let postings = b.postings
        guard !postings.isEmpty else { return nil }
        let tx = LedgerTransaction(id: id, time: time, kind: kind, memo: memo, postings: postings)
        do { try books.append(tx) } catch { throw LedgerError(.ledgerInvariant, "the ledger refused \(id): \(error)") }
        return tx.stored
    }

    private func ledgerWrite(
        _ a: Account, assets: Set<String>, keys: [InstrumentKey], fills: [PaperFill], orders: [StoredRestingOrder] = [],
        closedOrders: [String] = [], time: UnixNanos
    ) -> LedgerWrite {
        LedgerWrite(
            balances: assets.sorted().map { StoredBalance(userID: a.user.id, asset: $0, amount: a.balances[$0] ?? .zero) },
            positions: keys.map { k in
                let p = a.positions[k] ?? Position()
                return StoredPosition(
                    userID: a.user.id, venue: k.venue, symbol: k.symbol, qty: p.qty, avgPrice: p.averagePrice, realizedPnL: p.realizedPnL)
            },
            fills: fills.map(\.stored), orders: orders, closedOrders: closedOrders, time: time)
    }

    /// The risk checks' inputs for an order of `account` (caller holds the lock), and the breaker's
    /// change when this order's look at the day's loss trips it.
    private func riskInputs(
        _ s: State, _ account: Account, limits: RiskLimits, request: OrderRequest, key: InstrumentKey, quote: String, plan: FillPlan?,
        at t: UnixNanos
    ) -> (RiskInputs, RiskChange?) {
        let value = RiskValuation(options: options, market: market)
        var after: WideDecimal?
        if request.side == .buy, let qty = request.quantity ?? plan?.qty, let mid = market.mid(key),
            let total = (account.positions[key]?.qty ?? .zero).adding(qty), let v = total.multiplied(by: mid)
        {
            after = value.usd(v, quote: quote, venue: key.venue)
        }
        var daily: CheckResult?
        var change: RiskChange?
        if let limit = limits.maxDailyLossUSD {
            let pnl = value.dayPnL(account, dayStart: UTCDay.start(UTCDay.of(t)))
            (daily, change) = risk.checkDailyLoss(user: account.user.id, pnl: pnl, limit: limit, at: t)
        }
        let open = s.resting.values.reduce(0) { $0 + ($1.user == account.user.id ? 1 : 0) }
        return (RiskInputs(limits: limits, openOrders: open, equityUSD: value.equityUSD(account), positionAfterUSD: after, dailyLoss: daily), change)
    }

    /// `user`'s UTC-day P&L in USD now (``RiskValuation/dayPnL(_:dayStart:)``); nil for an unknown user.
    public func dayPnL(user: String) -> WideDecimal? {
        let t = now
        let value = RiskValuation(options: options, market: market)
        return state.withLock { s in s.accounts[user].map { value.dayPnL($0, dayStart: UTCDay.start(UTCDay.of(t))) } }
    }

    /// The performance fee's rows in the operation's write: the payer's mark and the creators'
    /// balances that royalties changed.
    private func add(_ charge: PerformanceCharge, to write: inout LedgerWrite) {
        write.marks.append(charge.mark)
        for (id, a) in charge.credited.sorted(by: { $0.key < $1.key }) {
            let asset = charge.mark.asset
            write.balances.append(StoredBalance(userID: id, asset: asset, amount: a.balances[asset] ?? .zero))
        }
    }

    private static func preTradeRecord(_ user: String, _ r: OrderRequest, _ t: UnixNanos, _ checks: [CheckResult]) -> StoredPreTrade {
        var f = JSONWriter()
        f.beginArray()
        for c in checks where !c.passed {
            f.beginObject()
            f.key("check"); f.string(c.check)
            f.key("detail"); f.string(c.detail)
            f.endObject()
        }
        f.endArray()
        var all = JSONWriter()
        all.beginArray()
        for c in checks {
            all.beginObject()
            all.key("check"); all.string(c.check)
            all.key("passed"); all.bool(c.passed)
            all.key("detail"); all.string(c.detail)
            all.endObject()
        }
        all.endArray()
        var q = JSONWriter()
        r.writeJSON(into: &q)
        return StoredPreTrade(
            time: t, userID: user, venue: r.venue, symbol: r.symbol, passed: !checks.isEmpty && checks.allSatisfy(\.passed),
            failuresJSON: String(decoding: f.bytes, as: UTF8.self), requestJSON: String(decoding: q.bytes, as: UTF8.self),
            checksJSON: String(decoding: all.bytes, as: UTF8.self))
    }

    private func publish(_ fills: [PaperFill]) {
        guard !fills.isEmpty else { return }
        for fill in fills {
            bus?.publish(.execution(fill), channel: ChannelName(kind: .executions, scope: SubAccount.owner(of: fill.user)))
            Counter(label: "services_fills_total", dimensions: [("venue", fill.instrument.venue)]).increment()
        }
        let observers = onFill.withLock { $0 }
        for user in Set(fills.map(\.user)) { for o in observers { o(user) } }
    }
}
