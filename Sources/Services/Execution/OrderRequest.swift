public import MarketCore

/// `POST /api/v1/trading/execute`: `{symbol, venue, side, type: market|limit, quantity | quote_amount,
/// limit_price?}`. Exactly one of `quantity` (base units) and `quote_amount` (quote units to spend or
/// receive, before the fee) is given; `limit_price` only, and always, for limit orders.
public struct OrderRequest: Sendable, Hashable {
    public var venue: String
    public var symbol: String
    public var side: Side
    public var type: OrderType
    public var quantity: WideDecimal?
    public var quoteAmount: WideDecimal?
    public var limitPrice: WideDecimal?
    /// Set by agents: which signal placed the order.
    public var source: String?
    /// Set by agents with an allocation: the order runs on that agent's sub-account of the user.
    public var agent: String?

    public init(
        venue: String, symbol: String, side: Side, type: OrderType, quantity: WideDecimal? = nil,
        quoteAmount: WideDecimal? = nil, limitPrice: WideDecimal? = nil, source: String? = nil, agent: String? = nil
    ) {
        self.agent = agent
        self.venue = venue
        self.symbol = symbol
        self.side = side
        self.type = type
        self.quantity = quantity
        self.quoteAmount = quoteAmount
        self.limitPrice = limitPrice
        self.source = source
    }

    /// Parses and validates a request body; the error names the field.
    public init(json fields: JSONFields) throws(FieldError) {
        guard let venue = fields.string("venue"), !venue.isEmpty else { throw FieldError(field: "venue", message: "required") }
        guard let symbol = fields.string("symbol"), !symbol.isEmpty else { throw FieldError(field: "symbol", message: "required") }
        let side: Side
        switch fields.string("side") {
        case "buy": side = .buy
        case "sell": side = .sell
        default: throw FieldError(field: "side", message: "must be \"buy\" or \"sell\"")
        }
        guard let typeText = fields.string("type") ?? Optional("market"), let type = OrderType(rawValue: typeText) else {
            throw FieldError(field: "type", message: "must be \"market\" or \"limit\"")
        }
        self.init(
            venue: venue.lowercased(), symbol: symbol.uppercased(), side: side, type: type,
            quantity: try fields.decimal("quantity"), quoteAmount: try fields.decimal("quote_amount"),
            limitPrice: try fields.decimal("limit_price"))
        try validate()
    }

    public func validate() throws(FieldError) {
        switch (quantity, quoteAmount) {
        case (nil, nil): throw FieldError(field: "quantity", message: "give quantity or quote_amount")
        case (.some, .some): throw FieldError(field: "quote_amount", message: "give quantity or quote_amount, not both")
        default: break
        }
        if let q = quantity, !q.isPositive { throw FieldError(field: "quantity", message: "must be positive") }
        if let q = quoteAmount, !q.isPositive { throw FieldError(field: "quote_amount", message: "must be positive") }
        switch type {
        case .market:
            if limitPrice != nil { throw FieldError(field: "limit_price", message: "only for limit orders") }
        case .limit:
            guard let p = limitPrice else { throw FieldError(field: "limit_price", message: "required for limit orders") }
            if !p.isPositive { throw FieldError(field: "limit_price", message: "must be positive") }
        }
    }

    /// The request as a JSON object (the pre-trade log's `request` column).
    public func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("venue"); w.string(venue)
        w.key("symbol"); w.string(symbol)
        w.key("side"); w.string(side.text)
        w.key("type"); w.string(type.rawValue)
        if let quantity { w.key("quantity"); w.decimal(quantity) }
        if let quoteAmount { w.key("quote_amount"); w.decimal(quoteAmount) }
        if let limitPrice { w.key("limit_price"); w.decimal(limitPrice) }
        if let source { w.key("source"); w.string(source) }
        if let agent { w.key("agent"); w.string(agent) }
        w.endObject()
    }
}
