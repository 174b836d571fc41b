import MarketCore

/// REST trade history, used to backfill trades missed while a connection was down:
/// `GET /api/v3/aggTrades?symbol=…&fromId=…` (`/fapi/v1/aggTrades`, `/dapi/v1/aggTrades`) →
/// `[{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,"m":true,"M":true}]`;
/// `GET /api/v3/historicalTrades?symbol=…&fromId=…` →
/// `[{"id":28457,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012","time":1499865549590,"isBuyerMaker":true,"isBestMatch":true}]`.
/// The symbol comes from the URL. Trades come out exactly as the stream would have sent them.
extension BinanceAdapter {
    static func isTradeHistory(_ url: String?) -> Bool {
        guard let url else { return false }
        return url.contains("/aggTrades") || url.contains("/historicalTrades") || url.contains("/v3/trades")
    }

    /// The one place a failure of the trade-history reader becomes a `parse_error`; the trades read
    /// before a bad element stay published.
    mutating func handleTradeHistory(
        _ frame: UnsafeRawBufferPointer, url: String?, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) {
        do throws(VenueParseFailure) {
            try readTradeHistory(frame, url: url, receiveTime: receiveTime, into: &out)
        } catch {
            out.append(parseError(error, frame: frame))
        }
    }

    mutating func readTradeHistory(
        _ frame: UnsafeRawBufferPointer, url: String?, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        let aggregated = url?.contains("/aggTrades") ?? false
        guard let native = Self.querySymbol(url) else {
            throw VenueParseFailure(reason: "REST trade history without symbol= in its URL")
        }
        var copy = native
        guard let instrument = copy.withUTF8({ self.instrument(UnsafeRawBufferPointer($0)) }) else {
            throw VenueParseFailure(reason: "REST trade history for unknown symbol \(native)")
        }
        var s = JSONScanner(frame)
        guard s.beginArray() else {
            throw VenueParseFailure(reason: "REST trade history is not a JSON array", instrument: instrument)
        }
        while s.nextElement() {
            guard s.beginObject() else { break }
            var id: Int64? = nil
            var price: FixedDecimal? = nil
            var quantity: FixedDecimal? = nil
            var time: Int64? = nil
            var buyerIsMaker: Bool? = nil
            var first: Int64? = nil
            var last: Int64? = nil
            while let key = s.nextKey() {
                switch (aggregated, String(decoding: key, as: UTF8.self)) {
                case (true, "a"), (false, "id"): id = s.readInt64()
                case (true, "p"), (false, "price"): price = s.readDecimal()
                case (true, "q"), (false, "qty"): quantity = s.readDecimal()
                case (true, "T"), (false, "time"): time = s.readInt64()
                case (true, "m"), (false, "isBuyerMaker"): buyerIsMaker = s.readBool()
                case (true, "f"): first = s.readInt64()
                case (true, "l"): last = s.readInt64()
                default: s.skipValue()
                }
            }
            guard !s.failed, let id, let price, let quantity, let time, let buyerIsMaker else {
                throw VenueParseFailure(reason: "REST trade missing or bad field", instrument: instrument)
            }
            guard
                let trade = Self.trade(
                    instrument, id: id, price: price, quantity: quantity, time: time, buyerIsMaker: buyerIsMaker,
                    aggregated: aggregated, first: first, last: last, receiveTime: receiveTime)
            else { throw VenueParseFailure(reason: "REST aggTrade bad f/l", instrument: instrument) }
            out.append(.trade(trade))
        }
        if s.failed { throw VenueParseFailure(reason: "malformed REST trade history", instrument: instrument) }
    }
}
