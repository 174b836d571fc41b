public import MarketCore

/// One closed candle as a backtest sees it.
public struct BacktestBar: Sendable, Hashable {
    public var time: UnixNanos
    public var close: WideDecimal

    public init(time: UnixNanos, close: WideDecimal) {
        self.time = time
        self.close = close
    }

    public init(_ candle: Candle) {
        self.init(time: candle.start, close: WideDecimal(candle.close))
    }
}

public struct BacktestOptions: Sendable, Hashable {
    /// Quote cash at the start.
    public var initialCash = WideDecimal(10_000)
    /// The paper taker fee (``ExecutionOptions/feeRate``), charged on each fill's notional.
    public var feeRate = ExecutionOptions().feeRate
    /// Base quantities are cut (toward zero) to this many fraction digits.
    public var quantityDigits = 8
    /// For the annualized Sharpe ratio: 525,600 one-minute bars a year, 105,120 five-minute ones.
    public var barsPerYear = 525_600

    public init() {}
}

public struct BacktestSignal: Sendable, Hashable {
    public var time: UnixNanos
    public var side: Side

    public init(time: UnixNanos, side: Side) {
        self.time = time
        self.side = side
    }
}

/// A fill of the backtest.
public struct BacktestTrade: Sendable, Hashable {
    public var time: UnixNanos
    public var side: Side
    public var price: WideDecimal
    public var quantity: WideDecimal
    /// Quote fee of this fill.
    public var fee: WideDecimal
    /// Quote cash after the fill.
    public var cash: WideDecimal
    public var reason: String
}

public struct BacktestResult: Sendable, Hashable {
    /// Every decision the strategy made, with the start of the candle whose close made it,
    /// including those that did not change the position.
    public var signals: [BacktestSignal]
    public var trades: [BacktestTrade]
    /// Cash plus the position at each bar's close, one point per bar.
    public var equity: [WideDecimal]
    public var finalEquity: WideDecimal
    /// (final − initial) ÷ initial, 8 fraction digits.
    public var totalReturn: WideDecimal
    /// Largest fall from a running peak of equity, as a fraction of that peak (8 digits; 0 = none).
    public var maxDrawdown: WideDecimal
    /// Net return of each closed round trip (buy then sell, fees included), 8 digits.
    public var roundTripReturns: [WideDecimal]
    /// Mean ÷ standard deviation of the bar-to-bar equity returns × √barsPerYear; `nil` when
    /// equity never moved. A statistic, not an amount, so it is a `Double`.
    public var sharpe: Double?
}

/// Runs a signal strategy over closed candles with the paper-trading fee rule: long only, all in on
/// a buy signal (the largest quantity whose notional plus fee fits the cash), all out on a sell,
/// each filled at the signalling candle's close. Signals that do not change the position (a buy
/// while long, a sell while flat) are ignored. The position still open at the end is valued at the
/// last close, not sold.
///
/// The fill price is the candle's close, not a walk of the book as a live market order does: stored
/// history has candles, not books. Every amount is exact (``Money``); the quantity is cut toward
/// zero and the fee rounded half-even, as in paper trading.
public struct Backtester: Sendable {
    public var options: BacktestOptions

    public init(options: BacktestOptions = BacktestOptions()) {
        self.options = options
    }

    public func run(_ strategy: some SignalStrategy, bars: [BacktestBar]) throws(LedgerError) -> BacktestResult {
        var strategy = strategy
        var cash = options.initialCash
        var quantity = WideDecimal.zero
        var cost = WideDecimal.zero  // quote spent on the open position, fee included
        var trades: [BacktestTrade] = []
        var signals: [BacktestSignal] = []
        var equity: [WideDecimal] = []
        var roundTrips: [WideDecimal] = []
        equity.reserveCapacity(bars.count)
        let onePlusFee = try Money.add(WideDecimal(1), options.feeRate, "1 + fee rate")
        for bar in bars {
            if let decision = strategy.update(close: bar.close) {
                signals.append(BacktestSignal(time: bar.time, side: decision.side))
                if decision.side == .buy, quantity.isZero, bar.close.isPositive {
                    let perUnit = try Money.multiply(bar.close, onePlusFee, "price with fee")
                    guard let q = Money.mulDiv(cash, WideDecimal(1), perUnit, digits: options.quantityDigits, .towardZero) else {
                        throw LedgerError(.amountOverflow, "backtest quantity is beyond the ledger's range")
                    }
                    if q.isPositive {
                        let notional = try Money.multiply(q, bar.close, "notional")
                        let fee = try Money.fee(notional, rate: options.feeRate)
                        let spent = try Money.add(notional, fee, "notional + fee")
                        cash = try Money.subtract(cash, spent, "cash")
                        quantity = q
                        cost = spent
                        trades.append(
                            BacktestTrade(
                                time: bar.time, side: .buy, price: bar.close, quantity: q, fee: fee, cash: cash, reason: decision.reason))
                    }
                } else if decision.side == .sell, quantity.isPositive {
                    let notional = try Money.multiply(quantity, bar.close, "notional")
                    let fee = try Money.fee(notional, rate: options.feeRate)
                    let proceeds = try Money.subtract(notional, fee, "proceeds")
                    cash = try Money.add(cash, proceeds, "cash")
                    let gain = try Money.subtract(proceeds, cost, "round trip")
                    roundTrips.append(gain.divided(by: cost, roundingToFractionDigits: 8) ?? .zero)
                    trades.append(
                        BacktestTrade(
                            time: bar.time, side: .sell, price: bar.close, quantity: quantity, fee: fee, cash: cash,
                            reason: decision.reason))
                    quantity = .zero
                    cost = .zero
                }
            }
            let held = try Money.multiply(quantity, bar.close, "position value")
            equity.append(try Money.add(cash, held, "equity"))
        }
        let final = equity.last ?? options.initialCash
        let change = try Money.subtract(final, options.initialCash, "return")
        return BacktestResult(
            signals: signals, trades: trades, equity: equity, finalEquity: final,
            totalReturn: change.divided(by: options.initialCash, roundingToFractionDigits: 8) ?? .zero,
            maxDrawdown: Self.maxDrawdown(equity), roundTripReturns: roundTrips,
            sharpe: Self.sharpe(equity, barsPerYear: options.barsPerYear))
    }

    static func maxDrawdown(_ equity: [WideDecimal]) -> WideDecimal {
        var peak: WideDecimal?
        var worst = WideDecimal.zero.rounded(toFractionDigits: 8)
        for e in equity {
            if peak == nil || e > peak! { peak = e }
            guard let p = peak, p.isPositive, let fall = p.subtracting(e),
                let fraction = fall.divided(by: p, roundingToFractionDigits: 8)
            else { continue }
            if fraction > worst { worst = fraction }
        }
        return worst
    }

    static func sharpe(_ equity: [WideDecimal], barsPerYear: Int) -> Double? {
        let values = equity.map { Double($0.description) ?? 0 }
        guard values.count > 2 else { return nil }
        var returns: [Double] = []
        returns.reserveCapacity(values.count - 1)
        for i in 1..<values.count where values[i - 1] != 0 { returns.append(values[i] / values[i - 1] - 1) }
        guard returns.count > 1 else { return nil }
        let mean = returns.reduce(0, +) / Double(returns.count)
        let variance = returns.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(returns.count - 1)
        guard variance > 0 else { return nil }
        return mean / variance.squareRoot() * Double(barsPerYear).squareRoot()
    }
}
