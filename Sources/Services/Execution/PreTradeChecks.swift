public import MarketCore

/// Thresholds of the pre-trade checks (DESIGN.md "Services"); all configurable.
public struct PreTradeLimits: Sendable, Hashable {
    /// Block when the book's spread is wider than this (basis points of the mid).
    public var maxSpreadBps = WideDecimal(50)
    /// Block orders whose notional is under this many USD.
    public var minNotionalUSD = WideDecimal(10)
    /// Block the order that would be this many trades (orders that filled) within `tradeWindow`.
    public var maxTradesPerWindow = 5
    public var tradeWindowSeconds: Int64 = 3600
    /// Quote currencies counted 1:1 as USD.
    public var usdQuotes: Set<String> = ["USD", "USDT", "USDC", "FDUSD"]

    public init() {}
}

/// One check's outcome, named in the response and in `pretrade_log`.
public struct CheckResult: Sendable, Hashable {
    public var check: String
    public var passed: Bool
    public var detail: String

    public init(_ check: String, passed: Bool, _ detail: String) {
        self.check = check
        self.passed = passed
        self.detail = detail
    }
}

/// What the checks look at, gathered by the execution service at one instant.
public struct PreTradeContext: Sendable {
    public var request: OrderRequest
    /// The instrument's quote currency.
    public var quote: String
    /// The venue's current valid book; nil when there is none (not synchronized, reset, unknown).
    public var book: BookSnapshot?
    /// The plan for the part that executes now (the whole order for market orders).
    public var plan: FillPlan?
    /// Mid of QUOTE-USDT on the same venue, for quotes that are not USD.
    public var quoteUSDMid: WideDecimal?
    /// The user's trades within the window before this order.
    public var recentTrades: Int
    /// Funds the order needs and what the user has available (nil when the plan is unknown).
    public var required: (asset: String, amount: WideDecimal)?
    public var available: WideDecimal
    /// The user's risk limits and what they look at; nil: no risk check runs.
    public var risk: RiskInputs?

    public init(
        request: OrderRequest, quote: String, book: BookSnapshot?, plan: FillPlan?, quoteUSDMid: WideDecimal?,
        recentTrades: Int, required: (asset: String, amount: WideDecimal)?, available: WideDecimal
    ) {
        self.request = request
        self.quote = quote
        self.book = book
        self.plan = plan
        self.quoteUSDMid = quoteUSDMid
        self.recentTrades = recentTrades
        self.required = required
        self.available = available
    }
}

/// What the risk checks (``RiskLimits``) look at, gathered under the execution lock.
public struct RiskInputs: Sendable {
    public var limits: RiskLimits
    /// The user's resting orders before this one.
    public var openOrders: Int
    /// ``RiskValuation/equityUSD(_:)`` before the order.
    public var equityUSD: WideDecimal
    /// The position in the order's instrument after a buy, at the live mid, in USD (nil: no mid or
    /// no USD value).
    public var positionAfterUSD: WideDecimal?
    /// The circuit breaker's verdict (``RiskBook``), when a daily loss limit is set.
    public var dailyLoss: CheckResult?

    public init(limits: RiskLimits, openOrders: Int, equityUSD: WideDecimal, positionAfterUSD: WideDecimal?, dailyLoss: CheckResult?) {
        self.limits = limits
        self.openOrders = openOrders
        self.equityUSD = equityUSD
        self.positionAfterUSD = positionAfterUSD
        self.dailyLoss = dailyLoss
    }
}

/// The pre-trade checks: every check runs and every failure is named (an order is not refused for
/// the first reason only). Pure.
public enum PreTradeChecks {
    public static func run(_ c: PreTradeContext, limits: PreTradeLimits) -> [CheckResult] {
        var out: [CheckResult] = []
        let r = c.request

        // Book present and spread.
        if let book = c.book, let bid = book.bestBid?.price, let ask = book.bestAsk?.price {
            let bps = Volatility.spreadBps(bid: WideDecimal(bid), ask: WideDecimal(ask))
            if let bps, bps <= limits.maxSpreadBps {
                out.append(CheckResult("spread", passed: true, "spread \(bps) bps ≤ \(limits.maxSpreadBps) bps"))
            } else {
                out.append(CheckResult("spread", passed: false, "spread \(bps.map { "\($0)" } ?? "?") bps > \(limits.maxSpreadBps) bps"))
            }
        } else {
            out.append(CheckResult("spread", passed: false, "no valid book for \(r.venue) \(r.symbol) (not synchronized, reset or unknown)"))
        }

        // Book depth: a market order must fit entirely; nothing is invented past the last level.
        if r.type == .market {
            if let plan = c.plan, plan.complete {
                out.append(CheckResult("book_depth", passed: true, "book fills \(plan.qty) \(r.symbol) at \(plan.takes.count) level(s)"))
            } else if let plan = c.plan, c.book != nil {
                out.append(CheckResult("book_depth", passed: false, "book cannot fill: its \(plan.takes.count) level(s) hold only \(plan.qty) (\(plan.notional) \(c.quote))"))
            } else {
                out.append(CheckResult("book_depth", passed: false, "book cannot fill: no valid book"))
            }
        }

        // Notional in USD.
        let notional = notionalInQuote(c)
        if let notional {
            if let usd = usdValue(notional, quote: c.quote, quoteUSDMid: c.quoteUSDMid, limits: limits) {
                let shown = usd.rounded(toFractionDigits: 2)
                out.append(
                    CheckResult(
                        "min_notional", passed: usd >= limits.minNotionalUSD,
                        usd >= limits.minNotionalUSD ? "notional \(shown) USD ≥ \(limits.minNotionalUSD) USD" : "notional \(shown) USD < \(limits.minNotionalUSD) USD"))
            } else {
                out.append(CheckResult("min_notional", passed: false, "cannot value \(c.quote) in USD: no \(c.quote)-USDT book on \(r.venue)"))
            }
        } else if r.type == .limit, r.limitPrice != nil, r.quantity != nil {
            out.append(CheckResult("min_notional", passed: false, "notional unknown: limit × quantity has more digits than a decimal holds"))
        } else {
            out.append(CheckResult("min_notional", passed: false, "notional unknown: no valid book to price the order"))
        }

        // Trade frequency: the order that would be the (max+1)th within the window is blocked.
        let max = limits.maxTradesPerWindow
        out.append(
            CheckResult(
                "trade_frequency", passed: c.recentTrades < max,
                "\(c.recentTrades) trade(s) in the last \(limits.tradeWindowSeconds / 60) min; at most \(max)"))

        // Funds.
        if let need = c.required {
            out.append(
                CheckResult(
                    "balance", passed: need.amount <= c.available,
                    need.amount <= c.available
                        ? "needs \(need.amount) \(need.asset), \(c.available) available"
                        : "insufficient \(need.asset): needs \(need.amount), \(c.available) available"))
        }
        if let risk = c.risk { out += riskChecks(c, risk, limits: limits) }
        return out
    }

    /// The per-user risk limits: each is the first value refused (refused at the limit, passes under it).
    static func riskChecks(_ c: PreTradeContext, _ risk: RiskInputs, limits: PreTradeLimits) -> [CheckResult] {
        var out: [CheckResult] = []
        let l = risk.limits
        if let daily = risk.dailyLoss { out.append(daily) }
        if let max = l.maxOrderNotionalUSD {
            if let n = notionalInQuote(c), let usd = usdValue(n, quote: c.quote, quoteUSDMid: c.quoteUSDMid, limits: limits) {
                out.append(
                    CheckResult(
                        "max_notional", passed: usd < max,
                        usd < max ? "notional \(usd) USD < \(max) USD" : "notional \(usd) USD ≥ limit \(max) USD"))
            } else {
                out.append(CheckResult("max_notional", passed: false, "notional unknown: cannot value the order in USD"))
            }
        }
        if let max = l.maxOpenOrders {
            if c.request.type == .limit {
                out.append(
                    CheckResult(
                        "max_open_orders", passed: risk.openOrders < max,
                        risk.openOrders < max
                            ? "\(risk.openOrders) open order(s) < \(max)" : "\(risk.openOrders) open order(s): limit \(max) reached"))
            } else {
                out.append(CheckResult("max_open_orders", passed: true, "a market order does not rest"))
            }
        }
        if let pct = l.maxPositionPercent {
            if c.request.side == .sell {
                out.append(CheckResult("max_position", passed: true, "a sell does not grow the position"))
            } else if let after = risk.positionAfterUSD, let scaled = after.multiplied(by: WideDecimal(100)),
                let allowed = pct.multiplied(by: risk.equityUSD)
            {
                // Exact: position × 100 < limit % × equity (no division decides).
                let ok = risk.equityUSD.isPositive && scaled < allowed
                let share = risk.equityUSD.isPositive ? scaled.divided(by: risk.equityUSD, roundingToFractionDigits: 4).map { "\($0)" } ?? "?" : "∞"
                out.append(
                    CheckResult(
                        "max_position", passed: ok,
                        "position after the order \(after) USD = \(share) % of equity \(risk.equityUSD) USD; "
                            + (ok ? "under \(pct) %" : "limit \(pct) % reached")))
            } else {
                out.append(CheckResult("max_position", passed: false, "cannot value the position in USD: no mid for \(c.request.venue) \(c.request.symbol)"))
            }
        }
        return out
    }

    /// The order's value in its quote currency: the plan's notional for market orders (what the book
    /// says it costs), limit price × quantity (or the quote amount) for limit orders.
    static func notionalInQuote(_ c: PreTradeContext) -> WideDecimal? {
        let r = c.request
        if r.type == .limit, let p = r.limitPrice {
            if let q = r.quantity { return p.multiplied(by: q) }
            return r.quoteAmount
        }
        if let q = r.quoteAmount { return q }
        guard let plan = c.plan, plan.complete else {
            // An incomplete plan still shows the order is at least this big.
            return c.plan.flatMap { $0.isEmpty ? nil : $0.notional }
        }
        return plan.notional
    }

    /// `amount` of `quote` in USD: 1:1 for USD-like quotes, at the QUOTE-USDT mid otherwise.
    public static func usdValue(_ amount: WideDecimal, quote: String, quoteUSDMid: WideDecimal?, limits: PreTradeLimits) -> WideDecimal? {
        if limits.usdQuotes.contains(quote) { return amount }
        guard let mid = quoteUSDMid else { return nil }
        return amount.multiplied(by: mid)
    }
}
