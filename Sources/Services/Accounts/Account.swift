public import MarketCore
public import Storage

/// A holding in one instrument. `costBasis` is what the held quantity cost, buy fees included, so
/// a round trip's realized P&L equals the change of the cash balance.
public struct Position: Sendable, Hashable {
    public var qty: WideDecimal = .zero
    public var costBasis: WideDecimal = .zero
    public var realizedPnL: WideDecimal = .zero
    /// Quantity promised to resting sell orders.
    public var reserved: WideDecimal = .zero

    public init() {}

    /// Held and not promised to resting sells (both within the ledger's range, so this cannot overflow).
    public var available: WideDecimal { qty.subtracting(reserved) ?? .zero }

    /// Average entry price (fee-inclusive), 12 fraction digits.
    public var averagePrice: WideDecimal {
        guard qty.isPositive else { return .zero }
        return Money.mulDiv(costBasis, WideDecimal(1), qty, digits: FillPlanner.priceDigits, .halfEven)?.trimmed ?? .zero
    }
}

extension PaperFill {
    public var stored: StoredPaperFill {
        StoredPaperFill(
            time: time, userID: user, orderID: orderID, fillID: fillID, venue: instrument.venue, symbol: instrument.symbol,
            side: side, qty: qty, price: price, fee: fee, slippageBps: slippageBps, realizedPnL: realizedPnL,
            details: StoredPaperFill.Details(
                notional: notional, levels: levels, orderType: orderType.rawValue, liquidity: liquidity, remaining: remaining,
                feeAsset: feeAsset, source: source))
    }
}

/// One user's paper account, all in memory (the store holds a copy written through the journal).
public struct Account: Sendable {
    public var user: StoredUser
    public var balances: [String: WideDecimal] = [:]
    /// Funds promised to resting buy orders, per asset.
    public var reserved: [String: WideDecimal] = [:]
    public var positions: [InstrumentKey: Position] = [:]
    /// Recent fills, oldest first (bounded).
    public var fills: [PaperFill] = []
    /// When each order that filled first filled, oldest first (trade frequency, overtrading).
    public var tradeTimes: [UnixNanos] = []
    /// Orders that filled, since the account was loaded (plus what the store held then).
    public var totalTrades = 0
    /// The cash balance after each change, oldest first ("balance 24 h ago").
    public var cashHistory: [(time: UnixNanos, amount: WideDecimal)] = []
    /// Performance-fee state per settlement asset.
    public var performance: [String: PerformanceMark] = [:]

    public init(user: StoredUser) { self.user = user }

    /// Held and not reserved (both within the ledger's range, so this cannot overflow).
    public func available(_ asset: String) -> WideDecimal {
        (balances[asset] ?? .zero).subtracting(reserved[asset] ?? .zero) ?? .zero
    }

    public func trades(since: UnixNanos) -> Int { tradeTimes.reduce(0) { $0 + ($1 >= since ? 1 : 0) } }

    /// The cash balance at `time`: the last change at or before it, else the first recorded (the
    /// account is younger than that), else the current balance.
    public func cash(at time: UnixNanos, asset: String) -> WideDecimal {
        if let last = cashHistory.last(where: { $0.time <= time }) { return last.amount }
        return cashHistory.first?.amount ?? balances[asset] ?? .zero
    }

    /// Adds `delta` (negative to pay) to a balance; throws rather than leave the ledger's range.
    mutating func add(_ asset: String, _ delta: WideDecimal) throws(LedgerError) {
        // Trimmed: fee products carry zeros beyond the stored digits; the value is unchanged.
        balances[asset] = try Money.add(balances[asset] ?? .zero, delta, "\(asset) balance").trimmed
    }

    /// Reserves (positive) or releases (negative) funds of `asset` for resting buys.
    mutating func reserve(_ asset: String, _ delta: WideDecimal) throws(LedgerError) {
        let r = try Money.add(reserved[asset] ?? .zero, delta, "\(asset) reserved").trimmed
        reserved[asset] = r.isZero ? nil : r
    }

    /// Reserves (positive) or releases (negative) base quantity of an instrument for resting sells.
    mutating func reserve(_ key: InstrumentKey, _ delta: WideDecimal) throws(LedgerError) {
        var pos = positions[key] ?? Position()
        pos.reserved = try Money.add(pos.reserved, delta, "\(key) reserved quantity").trimmed
        positions[key] = pos
    }

    /// The first broken rule of a consistent account, or nil: no balance, reservation, position or
    /// reserved quantity is negative, and nothing reserves more than is held. Checked before every
    /// change is kept, so a defect refuses an operation instead of corrupting the account.
    func invariantViolation() -> String? {
        for (asset, b) in balances where b.isNegative { return "\(asset) balance would be negative (\(b))" }
        for (asset, r) in reserved {
            if r.isNegative { return "\(asset) reserved would be negative (\(r))" }
            if r > (balances[asset] ?? .zero) { return "\(asset) reserved (\(r)) would exceed the balance (\(balances[asset] ?? .zero))" }
        }
        for (key, p) in positions {
            if p.qty.isNegative { return "\(key) position would be negative (\(p.qty))" }
            if p.reserved.isNegative || p.reserved > p.qty { return "\(key) reserved quantity \(p.reserved) of \(p.qty) held" }
        }
        return nil
    }
}

extension PaperFill {
    /// A fill read back from `trades_paper`: as it was reported, from its stored details. Rows
    /// stored before migration 10 have none: then a fill without slippage was a resting limit fill,
    /// the notional is price × qty (the price is the rounded VWAP), and the levels are unknown (0).
    public init(stored f: StoredPaperFill, feeAsset: String) {
        let key = InstrumentKey(venue: f.venue, symbol: f.symbol)
        if let d = f.details {
            self.init(
                time: f.time, user: f.userID, orderID: f.orderID, fillID: f.fillID, instrument: key, side: f.side,
                orderType: OrderType(rawValue: d.orderType) ?? .market, qty: f.qty, notional: d.notional, price: f.price, fee: f.fee,
                feeAsset: d.feeAsset, slippageBps: f.slippageBps, realizedPnL: f.realizedPnL, liquidity: d.liquidity,
                remaining: d.remaining, levels: d.levels, source: d.source)
            return
        }
        self.init(
            time: f.time, user: f.userID, orderID: f.orderID, fillID: f.fillID, instrument: key,
            side: f.side, orderType: f.slippageBps == nil ? .limit : .market, qty: f.qty,
            notional: f.price.multiplied(by: f.qty) ?? .zero, price: f.price, fee: f.fee, feeAsset: feeAsset,
            slippageBps: f.slippageBps, realizedPnL: f.realizedPnL, liquidity: f.slippageBps == nil ? "resting" : "taker",
            remaining: .zero, levels: 0, source: nil)
    }
}
