import MarketCore

/// What a strategy decided on a closed candle.
public struct SignalDecision: Sendable, Hashable {
    public var side: Side
    /// The indicator values behind the decision (`fast`/`slow`, `rsi`).
    public var values: [String: WideDecimal]
    public var reason: String

    public init(side: Side, values: [String: WideDecimal], reason: String) {
        self.side = side
        self.values = values
        self.reason = reason
    }
}

/// A signal strategy fed one close per closed candle; `name` is the `<strategy>` of `signals.<strategy>.<SYMBOL>`.
public protocol SignalStrategy: Sendable {
    var name: String { get }
    mutating func update(close: WideDecimal) -> SignalDecision?
}

/// Buy when the fast EMA crosses above the slow one, sell when it crosses below.
///
/// A cross is a change of the sign of (fast − slow) between updates where both EMAs exist. Equal
/// EMAs have no side: no signal, and the last nonzero sign is kept, except before any nonzero sign
/// (e.g. a flat start), where moving off equal counts as a cross. The first sign seen when the EMAs
/// first exist only sets the baseline (a trend already under way is not a cross).
public struct EMACrossover: SignalStrategy {
    public var name: String { "ema_cross" }
    private var fast: EMA
    private var slow: EMA
    /// nil until both EMAs exist; 0 while they have only been equal.
    private var lastSign: Int?

    public init(fast: Int = 9, slow: Int = 21) {
        self.fast = EMA(period: fast)
        self.slow = EMA(period: slow)
    }

    public mutating func update(close: WideDecimal) -> SignalDecision? {
        let f = fast.update(close)
        let s = slow.update(close)
        guard let f, let s else { return nil }
        guard f != s else {
            if lastSign == nil { lastSign = 0 }
            return nil
        }
        let sign = f > s ? 1 : -1
        defer { lastSign = sign }
        guard let lastSign, sign != lastSign else { return nil }
        let side: Side = sign > 0 ? .buy : .sell
        let reason =
            "EMA(\(fast.period)) \(f.rounded(toFractionDigits: 8).trimmed) crossed \(sign > 0 ? "above" : "below") "
            + "EMA(\(slow.period)) \(s.rounded(toFractionDigits: 8).trimmed)"
        return SignalDecision(side: side, values: ["fast": f, "slow": s], reason: reason)
    }
}

/// Buy when RSI falls below `oversold` (from at or above it), sell when it rises above
/// `overbought` (from at or below it).
public struct RSIReversal: SignalStrategy {
    public var name: String { "rsi" }
    public let oversold: WideDecimal
    public let overbought: WideDecimal
    private var rsi: RSI
    private var last: WideDecimal?

    public init(period: Int = 14, oversold: WideDecimal = WideDecimal(30), overbought: WideDecimal = WideDecimal(70)) {
        rsi = RSI(period: period)
        self.oversold = oversold
        self.overbought = overbought
    }

    public mutating func update(close: WideDecimal) -> SignalDecision? {
        guard let r = rsi.update(close) else { return nil }
        defer { last = r }
        guard let last else { return nil }
        if last >= oversold, r < oversold {
            return SignalDecision(
                side: .buy, values: ["rsi": r], reason: "RSI(\(rsi.period)) \(r) fell below \(oversold) (oversold)")
        }
        if last <= overbought, r > overbought {
            return SignalDecision(
                side: .sell, values: ["rsi": r], reason: "RSI(\(rsi.period)) \(r) rose above \(overbought) (overbought)")
        }
        return nil
    }
}

/// Donchian breakout: buy when a close rises above the highest of the previous `lookback` closes,
/// sell when one falls below the lowest of them.
///
/// Only the first break in a direction signals: after a buy, further new highs are silent until a
/// sell (and the other way round), as a crossover signals once per cross. Nothing is decided until
/// `lookback` closes were seen.
public struct Breakout: SignalStrategy {
    public var name: String { "breakout" }
    public let lookback: Int
    private var window: [WideDecimal] = []
    private var next = 0
    private var lastSide: Side?

    public init(lookback: Int = 20) {
        precondition(lookback >= 1, "breakout lookback must be at least 1")
        self.lookback = lookback
        window.reserveCapacity(lookback)
    }

    public mutating func update(close: WideDecimal) -> SignalDecision? {
        defer {
            if window.count < lookback {
                window.append(close)
            } else {
                window[next] = close
                next = (next + 1) % lookback
            }
        }
        guard window.count == lookback, let high = window.max(), let low = window.min() else { return nil }
        let side: Side
        let reason: String
        if close > high {
            side = .buy
            reason = "close \(close) broke above the \(lookback)-candle high \(high)"
        } else if close < low {
            side = .sell
            reason = "close \(close) broke below the \(lookback)-candle low \(low)"
        } else {
            return nil
        }
        guard side != lastSide else { return nil }
        lastSide = side
        return SignalDecision(side: side, values: ["high": high, "low": low], reason: reason)
    }
}
