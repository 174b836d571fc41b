public import MarketCore
public import Storage

/// A user's risk limits (docs/trading.md "Risk limits and the circuit breaker"). Each limit is the
/// first value refused: an order is refused at the limit and passes just under it. nil: no limit
/// (the check does not run). The configured defaults (`services.risk_*`) apply to every user; an
/// admin may set any of them per user.
public struct RiskLimits: Sendable, Hashable {
    /// Position in one instrument after the order, valued at the live mid in USD, as % of equity.
    public var maxPositionPercent: WideDecimal?
    /// Resting (open) limit orders a user may have; a limit order is refused when they already have this many.
    public var maxOpenOrders: Int?
    /// Order notional in USD, valued like the min-notional check.
    public var maxOrderNotionalUSD: WideDecimal?
    /// The UTC day's realized + unrealized loss in USD that trips the circuit breaker.
    public var maxDailyLossUSD: WideDecimal?

    public init(
        maxPositionPercent: WideDecimal? = nil, maxOpenOrders: Int? = nil, maxOrderNotionalUSD: WideDecimal? = nil,
        maxDailyLossUSD: WideDecimal? = nil
    ) {
        self.maxPositionPercent = maxPositionPercent
        self.maxOpenOrders = maxOpenOrders
        self.maxOrderNotionalUSD = maxOrderNotionalUSD
        self.maxDailyLossUSD = maxDailyLossUSD
    }

    /// No limit at all (the library default; the gateway's configuration sets real ones).
    public static let off = RiskLimits()

    public var isOff: Bool { self == .off }

    /// These limits with `user`'s own values where they have one.
    public func overridden(by user: RiskLimits) -> RiskLimits {
        RiskLimits(
            maxPositionPercent: user.maxPositionPercent ?? maxPositionPercent, maxOpenOrders: user.maxOpenOrders ?? maxOpenOrders,
            maxOrderNotionalUSD: user.maxOrderNotionalUSD ?? maxOrderNotionalUSD, maxDailyLossUSD: user.maxDailyLossUSD ?? maxDailyLossUSD)
    }
}

/// UTC days since 1970-01-01.
public enum UTCDay {
    static let nanosPerDay: Int64 = 86_400_000_000_000

    public static func of(_ t: UnixNanos) -> Int64 {
        let (q, r) = t.rawValue.quotientAndRemainder(dividingBy: nanosPerDay)
        return r < 0 ? q - 1 : q
    }

    public static func start(_ day: Int64) -> UnixNanos { UnixNanos(day * nanosPerDay) }
}

/// The daily-loss circuit breaker of one user.
public struct BreakerState: Sendable, Hashable {
    /// Tripped while this is today (so it clears by itself at 00:00 UTC).
    public var trippedDay: Int64?
    public var tripped: UnixNanos?
    /// The day loss (USD) that tripped it, and the limit it reached.
    public var loss: WideDecimal?
    public var reason: String?
    /// An admin reset on `resetDay` at a day loss of `resetLoss`: that day, the breaker trips again
    /// only when the loss reaches `resetLoss` + the limit.
    public var resetDay: Int64?
    public var resetLoss: WideDecimal?

    public init() {}

    public func isTripped(day: Int64) -> Bool { trippedDay == day }

    /// The day loss at which the breaker trips on `day` under `limit`.
    public func threshold(limit: WideDecimal, day: Int64) -> WideDecimal {
        guard resetDay == day, let extra = resetLoss, extra.isPositive else { return limit }
        return limit.adding(extra) ?? limit
    }
}


/// A state change to store (and announce when `event` is set).
public struct RiskChange: Sendable {
    public var stored: StoredRiskState
    public var event: RiskEvent?
}
