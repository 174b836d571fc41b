internal import MarketCore

/// REST trade history, used to backfill trades missed while a connection was down:
/// `GET /products/<id>/trades?before=<trade id>&limit=…` →
/// `[{"time":"2021-04-17T16:43:37.089723Z","trade_id":280232,"price":"0.00001305","size":"985","side":"sell"}]`
/// (newest first). As on the `matches` channel, `side` is the maker's side
/// (docs.cdp.coinbase.com/exchange/reference/exchangerestapi_getproducttrades), so the published taker
/// side is its opposite. The product comes from the URL.
extension CoinbaseAdapter {
    /// `<id>` of a `…/products/<id>/trades…` URL.
    static func tradeHistoryProduct(_ url: String?) -> String? {
        guard let url else { return nil }
        let parts = url.split(separator: "?", maxSplits: 1)[0].split(separator: "/")
        guard parts.count >= 3, parts[parts.count - 1] == "trades", parts[parts.count - 3] == "products" else { return nil }
        return String(parts[parts.count - 2])
    }

    mutating func handleTradeHistory(
        _ frame: UnsafeRawBufferPointer, product: String, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) {
        var copy = product
        guard let instrument = copy.withUTF8({ symbols.instrument(for: UnsafeRawBufferPointer($0), make: Self.instrument(productID:)) }) else {
            out.append(parseError("REST trade history for unknown symbol \(product)", frame: frame))
            return
        }
        let wire = CoinbaseWire(bytes: frame)
        var trades: [Trade] = []
        var failure: String? = nil
        let ok = wire.walkArray(at: 0) { start in
            var e = CoinbaseEnvelope()
            guard let end = wire.walkObject(at: start, { e.assign($0, $1) }) else { failure = "malformed JSON"; return nil }
            guard let id = wire.int(e.tradeID) else { failure = Self.reason("trade_id", e.tradeID); return nil }
            guard let price = wire.decimal(e.price) else { failure = Self.reason("price", e.price); return nil }
            guard let size = wire.decimal(e.size) else { failure = Self.reason("size", e.size); return nil }
            guard let maker = Self.side(wire.string(e.side)) else { failure = Self.reason("side", e.side); return nil }
            guard let time = wire.time(e.time) else { failure = Self.reason("time", e.time); return nil }
            trades.append(
                Trade(
                    instrument: instrument, id: .number(id), price: price, quantity: size, side: maker == .buy ? .sell : .buy,
                    eventTime: time, receiveTime: receiveTime, count: 1, stream: .raw))
            return end
        }
        guard ok else {
            out.append(parseError("REST trade history: \(failure ?? "not a JSON array")", frame: frame, instrument: instrument))
            return
        }
        // Oldest first, as the stream would have sent them.
        for t in trades.reversed() { out.append(.trade(t)) }
    }
}
