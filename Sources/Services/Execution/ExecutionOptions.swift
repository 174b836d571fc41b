public import MarketCore

/// Settings of the paper execution service (configuration `services:`).
public struct ExecutionOptions: Sendable, Hashable {
    /// Taker fee as a fraction of the notional (0.001 = 0.1 %), charged in the quote currency.
    public var feeRate = WideDecimal.parse("0.001")!
    /// The cash asset every account holds; USD-like quotes (``PreTradeLimits/usdQuotes``) settle
    /// against it 1:1. Other quotes (e.g. BTC in ETH-BTC) settle against a balance of that asset.
    public var cashAsset = "USDC"
    public var limits = PreTradeLimits()
    /// Fills kept in memory per user (history beyond comes from the store).
    public var fillsKept = 5000

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
}
