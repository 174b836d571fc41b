// The events the services publish on the bus, as values: a fill, a circuit-breaker change, a mood
// update and a trading signal. They live here, below the bus, so the bus carries them typed
// (``ServiceEvent`` in its payload next to ``MarketEvent``) and an in-process consumer reads the
// value, never the JSON. Each type writes its own wire `data` (CONTRACTS.md), encoded once by the bus
// where it is published.

/// What a service publishes on `executions.<user>`, `mood.<user>` or `signals.<strategy>.<SYMBOL>`.
/// Indirect: a fill is ~350 bytes inline, and the bus payload (hence every market frame) would
/// grow to that size.
public indirect enum ServiceEvent: Sendable, Hashable {
    /// `execution` on `executions.<owner>` (an agent's sub-account fills go to its owner's channel).
    case execution(PaperFill)
    /// `circuit_breaker` on `executions.<user>`.
    case circuitBreaker(RiskEvent)
    /// `mood_update` on `mood.<user>`.
    case mood(MoodUpdate)
    /// `signal` on `signals.<strategy>.<SYMBOL>`.
    case signal(TradeSignal)

    /// The frame's `type`.
    public var typeName: String {
        switch self {
        case .execution: "execution"
        case .circuitBreaker: "circuit_breaker"
        case .mood: "mood_update"
        case .signal: "signal"
        }
    }

    /// The frame's `data` object.
    public func writeJSON(into w: inout JSONWriter) {
        switch self {
        case .execution(let f): f.writeJSON(into: &w)
        case .circuitBreaker(let e): e.writeJSON(into: &w)
        case .mood(let m): m.reading.writeJSON(into: &w, user: m.user, time: m.time)
        case .signal(let s): s.writeJSON(into: &w)
        }
    }
}

/// A published mood reading: whose, and when.
public struct MoodUpdate: Sendable, Hashable {
    public var user: String
    public var time: UnixNanos
    public var reading: MoodReading

    public init(user: String, time: UnixNanos, reading: MoodReading) {
        self.user = user
        self.time = time
        self.reading = reading
    }
}

// MARK: executions


/// An instrument on a venue, the key of books, positions and resting orders.
public struct InstrumentKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var venue: String
    public var symbol: String
    public init(venue: String, symbol: String) {
        self.venue = venue
        self.symbol = symbol
    }
    public var description: String { "\(venue):\(symbol)" }
    public static func < (a: InstrumentKey, b: InstrumentKey) -> Bool { (a.venue, a.symbol) < (b.venue, b.symbol) }

    /// BASE and QUOTE of a canonical `BASE-QUOTE[-…]` symbol.
    public var baseAndQuote: (base: String, quote: String)? {
        let parts = symbol.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }
}

public enum OrderType: String, Sendable, Hashable {
    case market, limit
}

/// One execution of an order (DESIGN.md "Services": stored in `trades_paper`, published on
/// `executions.<user>`).
public struct PaperFill: Sendable, Hashable {
    public var time: UnixNanos
    public var user: String
    public var orderID: String
    public var fillID: String
    public var instrument: InstrumentKey
    public var side: Side
    public var orderType: OrderType
    public var qty: WideDecimal
    /// Exact Σ price × qty of the levels taken.
    public var notional: WideDecimal
    /// VWAP of the levels taken (12 fraction digits).
    public var price: WideDecimal
    public var fee: WideDecimal
    public var feeAsset: String
    /// Against the mid when it executed; nil for resting limit fills.
    public var slippageBps: WideDecimal?
    /// Sells: proceeds − fee − the cost basis of the quantity sold.
    public var realizedPnL: WideDecimal?
    /// The performance fee this sale paid (not stored with the fill: the ledger's `perf-<fill id>`).
    public var performanceFee: WideDecimal?
    /// `taker` (took the book when placed) or `resting` (a resting limit order crossed later).
    public var liquidity: String
    /// The order's quantity still resting after this fill.
    public var remaining: WideDecimal
    public var levels: Int
    public var source: String?

    public init(
        time: UnixNanos, user: String, orderID: String, fillID: String, instrument: InstrumentKey, side: Side, orderType: OrderType,
        qty: WideDecimal, notional: WideDecimal, price: WideDecimal, fee: WideDecimal, feeAsset: String, slippageBps: WideDecimal? = nil,
        realizedPnL: WideDecimal? = nil, performanceFee: WideDecimal? = nil, liquidity: String, remaining: WideDecimal, levels: Int,
        source: String? = nil
    ) {
        self.time = time
        self.user = user
        self.orderID = orderID
        self.fillID = fillID
        self.instrument = instrument
        self.side = side
        self.orderType = orderType
        self.qty = qty
        self.notional = notional
        self.price = price
        self.fee = fee
        self.feeAsset = feeAsset
        self.slippageBps = slippageBps
        self.realizedPnL = realizedPnL
        self.performanceFee = performanceFee
        self.liquidity = liquidity
        self.remaining = remaining
        self.levels = levels
        self.source = source
    }

    /// The `data` of an `execution` event and of history entries.
    public func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("type"); w.string("execution")
        w.key("user"); w.string(user)
        w.key("order_id"); w.string(orderID)
        w.key("fill_id"); w.string(fillID)
        w.key("venue"); w.string(instrument.venue)
        w.key("symbol"); w.string(instrument.symbol)
        w.key("side"); w.string(side.text)
        w.key("order_type"); w.string(orderType.rawValue)
        w.key("qty"); w.decimal(qty)
        w.key("price"); w.decimal(price)
        w.key("notional"); w.decimal(notional)
        w.key("fee"); w.decimal(fee)
        w.key("fee_asset"); w.string(feeAsset)
        w.key("slippage_bps")
        if let slippageBps { w.decimal(slippageBps) } else { w.null() }
        w.key("realized_pnl")
        if let realizedPnL { w.decimal(realizedPnL) } else { w.null() }
        if let performanceFee { w.key("performance_fee"); w.decimal(performanceFee) }
        w.key("liquidity"); w.string(liquidity)
        w.key("remaining"); w.decimal(remaining)
        w.key("levels"); w.int(Int64(levels))
        if let source { w.key("source"); w.string(source) }
        w.key("ts"); w.time(time, fractionDigits: 6)
        w.endObject()
    }
}

/// A change of a user's breaker, for observers (the bus event, the mood meter, notifications).
public struct RiskEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// The day's loss reached the limit: new orders are refused.
        case tripped
        /// Orders are accepted again: an admin reset (`by: "admin"`) or a new UTC day (`by: "new_day"`).
        case reset
    }

    public var kind: Kind
    public var user: String
    public var time: UnixNanos
    /// The UTC day (days since 1970-01-01) the event belongs to.
    public var day: Int64
    /// The day loss in USD (at the trip; at the reset for an admin reset; nil for a new day).
    public var loss: WideDecimal?
    public var limit: WideDecimal?
    /// `daily_loss` for a trip, `admin` or `new_day` for a reset.
    public var by: String
    public var reason: String

    public init(
        kind: Kind, user: String, time: UnixNanos, day: Int64, loss: WideDecimal? = nil, limit: WideDecimal? = nil, by: String,
        reason: String
    ) {
        self.kind = kind
        self.user = user
        self.time = time
        self.day = day
        self.loss = loss
        self.limit = limit
        self.by = by
        self.reason = reason
    }

    /// The `data` of the `circuit_breaker` event on `executions.<user>`:
    /// `{"type":"circuit_breaker","user","ts","state":"tripped"|"reset","by","loss","limit","day","reason"}`.
    public func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("type"); w.string("circuit_breaker")
        w.key("user"); w.string(user)
        w.key("ts"); w.time(time, fractionDigits: 3)
        w.key("state"); w.string(kind.rawValue)
        w.key("by"); w.string(by)
        w.key("loss")
        if let loss { w.decimal(loss) } else { w.null() }
        w.key("limit")
        if let limit { w.decimal(limit) } else { w.null() }
        w.key("day"); w.string(String(UnixNanos(day * 86_400_000_000_000).iso8601(fractionDigits: 0).prefix(10)))
        w.key("reason"); w.string(reason)
        w.endObject()
    }
}

// MARK: mood

/// A user's trading mood (DESIGN.md "Services", MoodMeter).
public enum MoodState: String, Sendable, Hashable, CaseIterable {
    case learning, fatigued, confident, cautious, conservative
}

/// The factors, each rounded half-even to 2 fraction digits. `overtrading` is the positive penalty
/// (subtracted); the others are signed contributions.
public struct MoodFactors: Sendable, Hashable {
    public var pnl: WideDecimal
    public var winRate: WideDecimal
    public var overtrading: WideDecimal
    public var market: WideDecimal

    public init(pnl: WideDecimal, winRate: WideDecimal, overtrading: WideDecimal, market: WideDecimal) {
        self.pnl = pnl
        self.winRate = winRate
        self.overtrading = overtrading
        self.market = market
    }

    /// `{"pnl":"10.00","win_rate":"-3.00","overtrading":"0.00","market":"0.00"}`
    public func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("pnl")
        w.decimal(pnl)
        w.key("win_rate")
        w.decimal(winRate)
        w.key("overtrading")
        w.decimal(overtrading)
        w.key("market")
        w.decimal(market)
        w.endObject()
    }
}

public struct MoodReading: Sendable, Hashable {
    /// 0...100 with exactly 2 fraction digits.
    public var score: WideDecimal
    public var state: MoodState
    public var factors: MoodFactors
    public var reason: String

    public init(score: WideDecimal, state: MoodState, factors: MoodFactors, reason: String) {
        self.score = score
        self.state = state
        self.factors = factors
        self.reason = reason
    }

    /// The `data` of a `mood_update` event: `{"type":"mood_update","user":…,"ts":…,"score":"…",
    /// "state":"…","factors":{…},"reason":"…"}`; `ts` is ISO-8601 with milliseconds, decimals are strings.
    public func writeJSON(into w: inout JSONWriter, user: String, time: UnixNanos) {
        w.beginObject()
        w.key("type")
        w.string("mood_update")
        w.key("user")
        w.string(user)
        w.key("ts")
        w.time(time, fractionDigits: 3)
        w.key("score")
        w.decimal(score)
        w.key("state")
        w.string(state.rawValue)
        w.key("factors")
        factors.writeJSON(into: &w)
        w.key("reason")
        w.string(reason)
        w.endObject()
    }

    /// The factors object as text, for `agent_status_log.factors`.
    public var factorsJSON: String {
        var w = JSONWriter(capacity: 96)
        factors.writeJSON(into: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}

// MARK: signals

/// A signal as published on `signals.<strategy>.<SYMBOL>`.
public struct TradeSignal: Sendable, Hashable {
    public var strategy: String
    public var venue: String
    public var symbol: String
    public var interval: String
    public var side: Side
    /// The close of the candle that produced it.
    public var price: WideDecimal
    /// The candle's close time (bucket start + interval).
    public var time: UnixNanos
    public var values: [String: WideDecimal]
    public var reason: String

    public func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("type"); w.string("signal")
        w.key("strategy"); w.string(strategy)
        w.key("venue"); w.string(venue)
        w.key("symbol"); w.string(symbol)
        w.key("interval"); w.string(interval)
        w.key("side"); w.string(side.text)
        w.key("price"); w.decimal(price)
        w.key("ts"); w.time(time, fractionDigits: 3)
        w.key("values")
        w.beginObject()
        for (k, v) in values.sorted(by: { $0.key < $1.key }) {
            w.key(string: k)
            w.decimal(v)
        }
        w.endObject()
        w.key("reason"); w.string(reason)
        w.endObject()
    }

    public init(
        strategy: String, venue: String, symbol: String, interval: String, side: Side, price: WideDecimal, time: UnixNanos,
        values: [String: WideDecimal], reason: String
    ) {
        self.strategy = strategy
        self.venue = venue
        self.symbol = symbol
        self.interval = interval
        self.side = side
        self.price = price
        self.time = time
        self.values = values
        self.reason = reason
    }
}
