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
/// overdraw it, and one user's orders never touch another user's account. Each change is queued
/// to the ``AccountJournal`` under the same lock (the store sees changes in order), then fills are
/// published on `executions.<user>`.
public final class ExecutionService: Sendable {
    struct State {
        var accounts: [String: Account] = [:]
        var resting: [String: RestingOrder] = [:]
        var nextOrder = 1
    }

    public let options: ExecutionOptions
    public let market: MarketView
    public let journal: AccountJournal
    private let bus: MarketBus?
    private let state = Mutex(State())
    private let idPrefix: String
    private let logger: Logger
    private let onFill = Mutex<[@Sendable (String) -> Void]>([])
    private let clock: @Sendable () -> UnixNanos

    public init(
        options: ExecutionOptions = .init(), market: MarketView, journal: AccountJournal, bus: MarketBus?,
        logger: Logger, clock: (@Sendable () -> UnixNanos)? = nil
    ) {
        self.options = options
        self.market = market
        self.journal = journal
        self.bus = bus
        self.logger = logger
        self.clock = clock ?? { UnixNanos.now() }
        // Order ids stay unique across restarts: a per-boot prefix.
        idPrefix = String(UInt64(UnixNanos.now().rawValue / 1_000_000), radix: 36)
    }

    /// Called (outside the lock) with the user id after each fill; the mood meter recomputes.
    public func addFillObserver(_ f: @escaping @Sendable (String) -> Void) { onFill.withLock { $0.append(f) } }

    public var now: UnixNanos { clock() }

    // MARK: accounts

    /// Loads users, balances and positions (and recent fills) from the store at start-up.
    public func load(from store: any AccountStore, since: UnixNanos) async throws {
        let users = try await store.users()
        let balances = try await store.balances()
        let positions = try await store.positions()
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
            for (user, fills) in fillsByUser {
                guard var a = s.accounts[user] else { continue }
                let orders = Dictionary(grouping: fills, by: \.orderID).values.compactMap { $0.map(\.time).min() }.sorted()
                a.tradeTimes = orders
                a.totalTrades = orders.count
                a.fills = fills.reversed().map { PaperFill(stored: $0, feeAsset: cash) }
                if let c = a.balances[cash] { a.cashHistory = [(since, c)] }
                s.accounts[user] = a
            }
        }
    }

    public enum UserError: Error, Sendable, Hashable { case exists, unknown }

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

    /// Adds `amount` of `asset` to a user's balance; returns the new balance.
    public func deposit(user: String, asset: String, amount: WideDecimal) async throws(UserError) -> WideDecimal {
        let t = now
        let (balance, entry) = try state.withLock { s throws(UserError) -> (WideDecimal, Int) in
            guard var a = s.accounts[user] else { throw .unknown }
            a.add(asset, amount)
            if asset == options.cashAsset { a.cashHistory.append((t, a.balances[asset] ?? .zero)) }
            s.accounts[user] = a
            let b = a.balances[asset] ?? .zero
            return (b, journal.append(.ledger(LedgerWrite(balances: [StoredBalance(userID: user, asset: asset, amount: b)], time: t))))
        }
        _ = await journal.waitStored(entry)
        return balance
    }

    public func account(_ user: String) -> Account? { state.withLock { $0.accounts[user] } }
    public var userIDs: [String] { state.withLock { Array($0.accounts.keys) }.sorted() }
    public func restingOrders(user: String) -> [RestingOrder] {
        state.withLock { s in s.resting.values.filter { $0.user == user } }.sorted { $0.id < $1.id }
    }

    // MARK: orders

    /// Runs the pre-trade checks and, when they all pass, fills against the live book (market) or
    /// fills what crosses and rests the rest (limit). Every check result is logged.
    public func execute(user: String, request input: OrderRequest) async -> ExecutionOutcome {
        do { try input.validate() } catch { return .invalid(error) }
        var request = input
        let key = InstrumentKey(venue: request.venue, symbol: request.symbol)
        guard let (base, quote) = key.baseAndQuote else {
            return .invalid(FieldError(field: "symbol", message: "'\(request.symbol)' is not a BASE-QUOTE symbol"))
        }
        let t = now
        let book = market.book(key)
        let quoteUSDMid = options.limits.usdQuotes.contains(quote) ? nil : market.mid(InstrumentKey(venue: key.venue, symbol: "\(quote)-USDT"))
        // A limit order given in quote units rests as the quantity that amount buys at its limit.
        if request.type == .limit, let amount = request.quoteAmount, let limit = request.limitPrice {
            let digits = Int(book?.asks.first?.quantity.displayScale ?? 8)
            request.quantity = FillPlanner.floorQuotient(amount, limit, digits: digits)
            request.quoteAmount = nil
            if !(request.quantity?.isPositive ?? false) {
                return .invalid(FieldError(field: "quote_amount", message: "buys less than one lot at the limit price"))
            }
        }
        let plan = book.map {
            FillPlanner.plan(
                levels: request.side == .buy ? $0.asks : $0.bids, side: request.side, quantity: request.quantity,
                quoteAmount: request.quoteAmount, limit: request.limitPrice)
        }
        let settle = options.settlementAsset(quote: quote)
        let fee = options.feeRate

        let decided = state.withLock { s -> (ExecutionOutcome, [PaperFill], Int?) in
            guard var account = s.accounts[user] else {
                return (.unknownUser, [], nil)
            }
            let window = UnixNanos(t.rawValue - options.limits.tradeWindowSeconds * 1_000_000_000)
            let restQty: WideDecimal =
                request.type == .limit ? ((request.quantity ?? .zero).subtracting(plan?.qty ?? .zero) ?? .zero) : .zero
            let required: (asset: String, amount: WideDecimal)?
            let available: WideDecimal
            switch request.side {
            case .buy:
                let now = plan?.notional ?? .zero
                let rest = request.limitPrice.flatMap { restQty.multiplied(by: $0) } ?? .zero
                let gross = now.adding(rest) ?? now
                required = plan == nil ? nil : (settle, gross.adding(gross.multiplied(by: fee) ?? .zero) ?? gross)
                available = account.available(settle)
            case .sell:
                let need = (plan?.qty ?? .zero).adding(restQty) ?? .zero
                required = plan == nil ? nil : (base, need)
                available = account.positions[key]?.available ?? .zero
            }
            let checks = PreTradeChecks.run(
                PreTradeContext(
                    request: request, quote: quote, book: book, plan: plan, quoteUSDMid: quoteUSDMid,
                    recentTrades: account.trades(since: window), required: required, available: available),
                limits: options.limits)
            let record = Self.preTradeRecord(user, request, t, checks)
            guard checks.allSatisfy(\.passed), let plan else {
                journal.append(.preTrade(record))
                return (.rejected(checks: checks), [], nil)
            }
            let orderID = "\(idPrefix)-\(s.nextOrder)"
            s.nextOrder += 1
            var fills: [PaperFill] = []
            var entry: Int?
            var changedAssets: Set<String> = []
            if !plan.isEmpty, let mid = book.flatMap({ b in b.mid.map { WideDecimal($0) } }) {
                let fill = apply(
                    plan: plan, to: &account, user: user, orderID: orderID, fillNumber: 1, key: key, side: request.side,
                    type: request.type, settle: settle, time: t, slippageAgainst: mid, liquidity: "taker",
                    remaining: restQty, source: request.source)
                fills.append(fill)
                changedAssets.insert(settle)
                account.tradeTimes.append(t)
                account.totalTrades += 1
            }
            var resting: RestingOrder?
            if request.type == .limit, restQty.isPositive, let limit = request.limitPrice {
                let order = RestingOrder(
                    id: orderID, user: user, instrument: key, side: request.side, limitPrice: limit,
                    quantity: request.quantity ?? restQty, remaining: restQty, placed: t, source: request.source,
                    fills: fills.count)
                reserve(order, in: &account, settle: settle, sign: 1)
                s.resting[orderID] = order
                resting = order
            }
            s.accounts[user] = account
            journal.append(.preTrade(record))
            if !fills.isEmpty {
                entry = journal.append(.ledger(ledgerWrite(account, assets: changedAssets, keys: [key], fills: fills, time: t)))
            }
            return (.accepted(orderID: orderID, fills: fills, resting: resting, checks: checks, stored: true), fills, entry)
        }
        let (outcome, fills, entry) = decided
        publish(fills)
        guard case .accepted(let id, let f, let r, let c, _) = outcome else { return outcome }
        var stored = true
        if let entry { stored = await journal.waitStored(entry) }
        return .accepted(orderID: id, fills: f, resting: r, checks: c, stored: stored)
    }

    /// Cancels a resting order of `user`, releasing what it reserved.
    public func cancel(user: String, orderID: String) -> RestingOrder? {
        state.withLock { s in
            guard let order = s.resting[orderID], order.user == user, var account = s.accounts[user],
                let (_, quote) = order.instrument.baseAndQuote
            else { return nil }
            reserve(order, in: &account, settle: options.settlementAsset(quote: quote), sign: -1)
            s.accounts[user] = account
            s.resting[orderID] = nil
            return order
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
            fills = matchResting(key, time: book.time) { order in
                FillPlanner.plan(
                    levels: order.side == .buy ? book.asks : book.bids, side: order.side, quantity: order.remaining,
                    quoteAmount: nil, limit: order.limitPrice)
            }
        case .trade(let tr):
            let key = InstrumentKey(venue: tr.instrument.venue.id, symbol: tr.instrument.symbol)
            let price = WideDecimal(tr.price)
            fills = matchResting(key, time: tr.eventTime) { order in
                let crosses = order.side == .buy ? price <= order.limitPrice : price >= order.limitPrice
                guard crosses else { return nil }
                let q = min(WideDecimal(tr.quantity), order.remaining)
                // A resting order fills at its own price when the market trades through it.
                return FillPlan(takes: [FillPlan.Take(price: order.limitPrice, qty: q)], qty: q, notional: order.limitPrice.multiplied(by: q) ?? .zero, complete: true)
            }
        default:
            return
        }
        publish(fills)
    }

    private func matchResting(_ key: InstrumentKey, time: UnixNanos, plan: (RestingOrder) -> FillPlan?) -> [PaperFill] {
        state.withLock { s in
            let orders = s.resting.values.filter { $0.instrument == key }.sorted { ($0.placed, $0.id) < ($1.placed, $1.id) }
            guard !orders.isEmpty else { return [] }
            var fills: [PaperFill] = []
            for var order in orders {
                guard let p = plan(order), !p.isEmpty, var account = s.accounts[order.user],
                    let (_, quote) = order.instrument.baseAndQuote
                else { continue }
                let settle = options.settlementAsset(quote: quote)
                // Release what this part reserved, then settle it at its real price.
                var part = order
                part.remaining = p.qty
                reserve(part, in: &account, settle: settle, sign: -1)
                order.remaining = order.remaining.subtracting(p.qty) ?? .zero
                order.fills += 1
                let fill = apply(
                    plan: p, to: &account, user: order.user, orderID: order.id, fillNumber: order.fills, key: key,
                    side: order.side, type: .limit, settle: settle, time: time, slippageAgainst: nil, liquidity: "resting",
                    remaining: order.remaining, source: order.source)
                if order.fills == 1 {
                    account.tradeTimes.append(time)
                    account.totalTrades += 1
                }
                s.resting[order.id] = order.remaining.isPositive ? order : nil
                s.accounts[order.user] = account
                journal.append(.ledger(ledgerWrite(account, assets: [settle], keys: [key], fills: [fill], time: time)))
                fills.append(fill)
            }
            return fills
        }
    }

    // MARK: ledger arithmetic

    /// Applies a fill to an account (caller holds the lock and has checked funds).
    private func apply(
        plan: FillPlan, to a: inout Account, user: String, orderID: String, fillNumber: Int, key: InstrumentKey,
        side: Side, type: OrderType, settle: String, time: UnixNanos, slippageAgainst mid: WideDecimal?,
        liquidity: String, remaining: WideDecimal, source: String?
    ) -> PaperFill {
        let fee = (plan.notional.multiplied(by: options.feeRate) ?? .zero).trimmed
        var pos = a.positions[key] ?? Position()
        var realized: WideDecimal?
        switch side {
        case .buy:
            let cost = plan.notional.adding(fee) ?? plan.notional
            a.add(settle, cost.negated)
            pos.qty = pos.qty.adding(plan.qty) ?? pos.qty
            pos.costBasis = pos.costBasis.adding(cost) ?? pos.costBasis
        case .sell:
            let basis: WideDecimal
            if plan.qty >= pos.qty {
                basis = pos.costBasis
            } else {
                basis = (pos.costBasis.multiplied(by: plan.qty)?.divided(by: pos.qty, roundingToFractionDigits: 18)) ?? .zero
            }
            let proceeds = plan.notional.subtracting(fee) ?? plan.notional
            let pnl = proceeds.subtracting(basis) ?? .zero
            realized = pnl
            a.add(settle, proceeds)
            pos.qty = pos.qty.subtracting(plan.qty) ?? .zero
            pos.costBasis = pos.qty.isPositive ? (pos.costBasis.subtracting(basis) ?? .zero) : .zero
            pos.realizedPnL = pos.realizedPnL.adding(pnl) ?? pos.realizedPnL
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

    /// Reserves (sign 1) or releases (sign −1) what a resting order needs: quote funds incl. fee
    /// for a buy, base quantity for a sell.
    private func reserve(_ order: RestingOrder, in a: inout Account, settle: String, sign: Int) {
        switch order.side {
        case .buy:
            let gross = order.limitPrice.multiplied(by: order.remaining) ?? .zero
            let amount = gross.adding(gross.multiplied(by: options.feeRate) ?? .zero) ?? gross
            a.reserve(settle, sign > 0 ? amount : amount.negated)
        case .sell:
            var pos = a.positions[order.instrument] ?? Position()
            let r = pos.reserved.adding(sign > 0 ? order.remaining : order.remaining.negated) ?? .zero
            pos.reserved = r.isPositive ? r : .zero
            a.positions[order.instrument] = pos
        }
    }

    private func ledgerWrite(_ a: Account, assets: Set<String>, keys: [InstrumentKey], fills: [PaperFill], time: UnixNanos) -> LedgerWrite {
        LedgerWrite(
            balances: assets.sorted().map { StoredBalance(userID: a.user.id, asset: $0, amount: a.balances[$0] ?? .zero) },
            positions: keys.map { k in
                let p = a.positions[k] ?? Position()
                return StoredPosition(
                    userID: a.user.id, venue: k.venue, symbol: k.symbol, qty: p.qty, avgPrice: p.averagePrice, realizedPnL: p.realizedPnL)
            },
            fills: fills.map(\.stored), time: time)
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
        var q = JSONWriter()
        r.writeJSON(into: &q)
        return StoredPreTrade(
            time: t, userID: user, venue: r.venue, symbol: r.symbol, passed: !checks.isEmpty && checks.allSatisfy(\.passed),
            failuresJSON: String(decoding: f.bytes, as: UTF8.self), requestJSON: String(decoding: q.bytes, as: UTF8.self))
    }

    private func publish(_ fills: [PaperFill]) {
        guard !fills.isEmpty else { return }
        for fill in fills {
            var w = JSONWriter()
            fill.writeJSON(into: &w)
            bus?.publish(channel: ChannelName(kind: .executions, scope: fill.user), type: "execution", data: w.bytes)
            Counter(label: "services_fills_total", dimensions: [("venue", fill.instrument.venue)]).increment()
        }
        let observers = onFill.withLock { $0 }
        for user in Set(fills.map(\.user)) { for o in observers { o(user) } }
    }
}
