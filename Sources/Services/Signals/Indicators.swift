import MarketCore

/// Exponential moving average seeded by the simple mean of the first `period` values.
///
/// Uses ema ← (2·x + (period − 1)·ema) / (period + 1), which is ema + α(x − ema) with
/// α = 2/(period + 1) but needs no rounded α; each value is rounded half-even to 18 fraction digits
/// so results are deterministic and scales do not grow.
public struct EMA: Sendable, Hashable {
    public static let fractionDigits = 18
    public let period: Int
    public private(set) var value: WideDecimal?
    private var seedSum = WideDecimal.zero
    private var seen = 0

    public init(period: Int) {
        precondition(period >= 1, "EMA period must be at least 1")
        self.period = period
    }

    /// Adds a value; returns the average once `period` values were seen (`nil` before, and on overflow).
    public mutating func update(_ x: WideDecimal) -> WideDecimal? {
        if let previous = value {
            guard let twice = x.multiplied(by: WideDecimal(2)),
                let carried = previous.multiplied(by: WideDecimal(period - 1)),
                let numerator = twice.adding(carried),
                let next = numerator.divided(by: WideDecimal(period + 1), roundingToFractionDigits: Self.fractionDigits)
            else { return nil }
            value = next
            return next
        }
        guard let sum = seedSum.adding(x) else { return nil }
        seedSum = sum
        seen += 1
        guard seen == period else { return nil }
        value = sum.divided(by: WideDecimal(period), roundingToFractionDigits: Self.fractionDigits)
        return value
    }
}

/// Wilder's relative strength index.
///
/// The first averages are the simple means of the first `period` gains and losses, then
/// avg ← (avg·(period − 1) + x) / period (18 fraction digits). RSI = 100 − 100/(1 + RS) is computed
/// as 100·avgGain / (avgGain + avgLoss) (the same value, one division) and rounded half-even to
/// 4 fraction digits; 100 when the average loss is 0.
public struct RSI: Sendable, Hashable {
    public static let fractionDigits = 4
    static let averageDigits = 18
    public let period: Int
    private var previousClose: WideDecimal?
    private var changes = 0
    private var gain = WideDecimal.zero  // sum while seeding, then the average
    private var loss = WideDecimal.zero

    public init(period: Int = 14) {
        precondition(period >= 1, "RSI period must be at least 1")
        self.period = period
    }

    /// Adds a close; returns the RSI once `period` changes were seen (`nil` before, and on overflow).
    public mutating func update(_ close: WideDecimal) -> WideDecimal? {
        defer { previousClose = close }
        guard let previousClose, let change = close.subtracting(previousClose) else { return nil }
        let up = change.isPositive ? change : .zero
        let down = change.isNegative ? change.negated : .zero
        let n = WideDecimal(period)
        changes += 1
        if changes <= period {
            guard let g = gain.adding(up), let l = loss.adding(down) else { return nil }
            gain = g
            loss = l
            guard changes == period,
                let g0 = g.divided(by: n, roundingToFractionDigits: Self.averageDigits),
                let l0 = l.divided(by: n, roundingToFractionDigits: Self.averageDigits)
            else { return nil }
            gain = g0
            loss = l0
        } else {
            guard let g = Self.smooth(gain, up, n: period), let l = Self.smooth(loss, down, n: period) else { return nil }
            gain = g
            loss = l
        }
        if loss.isZero { return WideDecimal(100).atFractionDigits(Self.fractionDigits) }
        guard let scaled = gain.multiplied(by: WideDecimal(100)), let total = gain.adding(loss) else { return nil }
        return scaled.divided(by: total, roundingToFractionDigits: Self.fractionDigits)
    }

    private static func smooth(_ average: WideDecimal, _ x: WideDecimal, n: Int) -> WideDecimal? {
        average.multiplied(by: WideDecimal(n - 1))?.adding(x)?
            .divided(by: WideDecimal(n), roundingToFractionDigits: averageDigits)
    }
}
