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

    /// The one place a failure of the trade-history reader becomes a `parse_error`.
    mutating func handleTradeHistory(
        _ frame: UnsafeRawBufferPointer, product: String, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) {
        do throws(VenueParseFailure) {
            try readTradeHistory(frame, product: product, receiveTime: receiveTime, into: &out)
        } catch {
            out.append(parseError(error, frame: frame))
        }
    }

    mutating func readTradeHistory(
        _ frame: UnsafeRawBufferPointer, product: String, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var copy = product
        guard let instrument = copy.withUTF8({ symbols.instrument(for: UnsafeRawBufferPointer($0), make: Self.instrument(productID:)) }) else {
            throw VenueParseFailure(reason: "REST trade history for unknown symbol \(product)")
        }
        func fail(_ reason: String) -> VenueParseFailure {
            VenueParseFailure(reason: "REST trade history: \(reason)", instrument: instrument)
        }
        let wire = CoinbaseWire(bytes: frame)
        var trades: [Trade] = []
        let ok = try wire.walkElements(at: 0) { start throws(VenueParseFailure) -> Int? in
            var e = CoinbaseEnvelope()
            guard let end = wire.walkObject(at: start, { e.assign($0, $1) }) else { throw fail("malformed JSON") }
            guard let id = wire.int(e.tradeID) else { throw fail(Self.reason("trade_id", e.tradeID)) }
            guard let price = wire.decimal(e.price) else { throw fail(Self.reason("price", e.price)) }
            guard let size = wire.decimal(e.size) else { throw fail(Self.reason("size", e.size)) }
            guard let maker = Self.side(wire.string(e.side)) else { throw fail(Self.reason("side", e.side)) }
            guard let time = wire.time(e.time) else { throw fail(Self.reason("time", e.time)) }
            trades.append(
                Trade(
                    instrument: instrument, id: .number(id), price: price, quantity: size, side: maker == .buy ? .sell : .buy,
                    eventTime: time, receiveTime: receiveTime, count: 1, stream: .raw))
            return end
        }
        guard ok else { throw fail("not a JSON array") }
        // Oldest first, as the stream would have sent them.
        for t in trades.reversed() { out.append(.trade(t)) }
    }
}
