public import MarketCore
import Storage

/// Settings of the paper execution service (configuration `services:`).
public struct ExecutionOptions: Sendable, Hashable {
    /// Taker fee as a fraction of the notional (0.001 = 0.1 %), charged in the quote currency.
    public var feeRate = WideDecimal.parse("0.001")!
    /// Share of realized profit above the user's high-water mark paid to the house (0.2 = 20 %).
    /// None here; the gateway's configuration (`services.performance_fee`) defaults to 20 %.
    public var performanceFeeRate = WideDecimal.zero
    /// Who earns from a performance fee paid on a derived strategy's trades.
    public var royalties = RoyaltyPolicy()
    /// The cash asset every account holds; USD-like quotes (``PreTradeLimits/usdQuotes``) settle
    /// against it 1:1. Other quotes (e.g. BTC in ETH-BTC) settle against a balance of that asset.
    public var cashAsset = "USDC"
    public var limits = PreTradeLimits()
    /// Every user's risk limits unless an admin set their own (docs/trading.md "Risk limits and
    /// the circuit breaker"); off by default here, set from `services.risk_*` by the gateway.
    public var risk = RiskLimits.off
    /// Per user: the most a UTC day's withdrawal requests (pending or approved) may add up to, in
    /// USD (the cash asset and USD-like assets 1:1, others at their live mid); nil: no cap
    /// (`services.withdrawal_daily_limit_usd`, docs/trading.md "Withdrawals").
    public var withdrawalDailyLimitUSD: WideDecimal?
    /// Fills kept in memory per user (history beyond comes from the store).
    public var fillsKept = 5000
    /// Venues an order may name: the configured ones (default: every venue the gateway supports).
    public var venues: Set<String> = ["binance", "binance-usdm", "binance-coinm", "coinbase", "kraken", "okx", "bybit"]
    /// Instruments an order or agent may name besides those the market view has seen on the bus
    /// (the configured symbols, so an order before the first book is "no book", not "unknown").
    public var instruments: Set<InstrumentKey> = []
    /// Assets a deposit may name besides the cash asset, the USD-like quotes and the bases and
    /// quotes of known instruments.
    public var assets: Set<String> = Set(QuoteSuffixTable.builtIn.quotes)

    public init() {}

    public func settlementAsset(quote: String) -> String { limits.usdQuotes.contains(quote) ? cashAsset : quote }
}

/// A limit order's unfilled part, waiting for the book or trades to cross its price.
public struct RestingOrder: Sendable, Hashable {
    public var id: String
    public var user: String
    public var instrument: InstrumentKey
    public var side: Side
    public var limitPrice: WideDecimal
    public var quantity: WideDecimal
    public var remaining: WideDecimal
    public var placed: UnixNanos
    public var source: String?
    /// Fills so far (fill ids are `<order>-<n>`).
    public var fills: Int
    /// What the order holds back in `reservedAsset`: quote funds including the fee for a buy (limit
    /// × remaining + fee), base quantity for a sell. Released part by part as it fills, the rest at
    /// its last fill or on cancel, so the account's reservations always equal the sum over its orders.
    public var reserved: WideDecimal
    public var reservedAsset: String

    public init(
        id: String, user: String, instrument: InstrumentKey, side: Side, limitPrice: WideDecimal, quantity: WideDecimal,
        remaining: WideDecimal, placed: UnixNanos, source: String?, fills: Int, reserved: WideDecimal, reservedAsset: String
    ) {
        self.id = id
        self.user = user
        self.instrument = instrument
        self.side = side
        self.limitPrice = limitPrice
        self.quantity = quantity
        self.remaining = remaining
        self.placed = placed
        self.source = source
        self.fills = fills
        self.reserved = reserved
        self.reservedAsset = reservedAsset
    }

    init(stored o: StoredRestingOrder) {
        self.init(
            id: o.orderID, user: o.userID, instrument: InstrumentKey(venue: o.venue, symbol: o.symbol), side: o.side,
            limitPrice: o.limitPrice, quantity: o.quantity, remaining: o.remaining, placed: o.placed, source: o.source, fills: o.fills,
            reserved: o.reserved, reservedAsset: o.reservedAsset)
    }

    var stored: StoredRestingOrder {
        StoredRestingOrder(
            orderID: id, userID: user, venue: instrument.venue, symbol: instrument.symbol, side: side, limitPrice: limitPrice,
            quantity: quantity, remaining: remaining, reserved: reserved, reservedAsset: reservedAsset, placed: placed, source: source,
            fills: fills)
    }

    public func writeJSON(into w: inout JSONWriter, status: String) {
        w.beginObject()
        w.key("order_id"); w.string(id)
        w.key("status"); w.string(status)
        w.key("venue"); w.string(instrument.venue)
        w.key("symbol"); w.string(instrument.symbol)
        w.key("side"); w.string(side.text)
        w.key("type"); w.string("limit")
        w.key("limit_price"); w.decimal(limitPrice)
        w.key("quantity"); w.decimal(quantity)
        w.key("remaining"); w.decimal(remaining)
        w.key("reserved"); w.decimal(reserved)
        w.key("reserved_asset"); w.string(reservedAsset)
        w.key("placed"); w.time(placed, fractionDigits: 6)
        w.endObject()
    }
}

/// What `execute` answers.
public enum ExecutionOutcome: Sendable {
    /// The checks passed; `fills` is what executed now (empty for a limit order that only rests),
    /// `resting` the part left on the book.
    case accepted(orderID: String, fills: [PaperFill], resting: RestingOrder?, checks: [CheckResult], stored: Bool)
    /// At least one check failed; all results are listed.
    case rejected(checks: [CheckResult])
    case unknownUser
    case invalid(FieldError)
    /// The ledger refused it: an amount beyond its range, or a change that would break an account
    /// invariant. Nothing changed.
    case refused(LedgerError)
}
