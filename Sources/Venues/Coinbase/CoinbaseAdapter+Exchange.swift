internal import MarketCore

/// Coinbase Exchange feed (`wss://ws-feed.exchange.coinbase.com`): `type`-tagged messages.
///
/// Channel reference: https://docs.cdp.coinbase.com/exchange/websocket-feed/channels
extension CoinbaseAdapter {
    /// Dispatches an Exchange frame on its `type`, most frequent first.
    mutating func handleExchange(
        _ envelope: CoinbaseEnvelope, _ wire: CoinbaseWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        guard let type = wire.string(envelope.type) else { throw VenueParseFailure(reason: Self.reason("type", envelope.type)) }
        if type.equals("l2update") {
            try parseL2Update(envelope, wire, receiveTime: receiveTime, into: &out)
        } else if type.equals("match") || type.equals("last_match") {
            try parseMatch(envelope, wire, receiveTime: receiveTime, into: &out)
        } else if type.equals("ticker") {
            try parseTicker(envelope, wire, receiveTime: receiveTime, into: &out)
        } else if type.equals("snapshot") {
            try parseSnapshot(envelope, wire, receiveTime: receiveTime, into: &out)
        } else if type.equals("heartbeat") || type.equals("subscriptions") {
            // Known control messages: the subscription ack and the per-second keepalive. Nothing to publish.
            return
        } else if type.equals("error") {
            parseVenueError(envelope, wire, receiveTime: receiveTime, into: &out)
        } else {
            throw VenueParseFailure(reason: "unknown message type")
        }
    }

    /// `match` / `last_match` → one ``Trade``.
    ///
    /// ```json
    /// {"type":"match","trade_id":280232,"maker_order_id":"2a0d…","taker_order_id":"3c82…","side":"sell",
    ///  "size":"985","price":"0.00001305","product_id":"SKL-BTC","sequence":177100030,
    ///  "time":"2021-04-17T16:43:37.089723Z"}
    /// ```
    /// `last_match` (sent once on subscribe) has the same shape. `side` is the **maker** order's side
    /// ("The side field indicates the maker order side", docs.cdp.coinbase.com/exchange/websocket-feed/channels#match-channel),
    /// so the taker side published here is its opposite (CONTRACTS.md). The trade time is required:
    /// a trade is never bucketed by receive time.
    mutating func parseMatch(
        _ e: CoinbaseEnvelope, _ wire: CoinbaseWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        let instrument = try instrument(e.productID, wire)
        func fail(_ key: String, _ range: Range<Int>?) -> VenueParseFailure {
            VenueParseFailure(reason: Self.reason(key, range), instrument: instrument)
        }
        guard let id = wire.int(e.tradeID) else { throw fail("trade_id", e.tradeID) }
        guard let price = wire.decimal(e.price) else { throw fail("price", e.price) }
        guard let size = wire.decimal(e.size) else { throw fail("size", e.size) }
        guard let makerSide = Self.side(wire.string(e.side)) else { throw fail("side", e.side) }
        guard let time = wire.time(e.time) else { throw fail("time", e.time) }
        out.append(
            .trade(
                Trade(
                    instrument: instrument, id: .number(id), price: price, quantity: size,
                    side: makerSide == .buy ? .sell : .buy, eventTime: time, receiveTime: receiveTime, count: 1,
                    stream: .raw)))
    }

    /// `snapshot` → a full-book ``BookUpdate``.
    ///
    /// ```json
    /// {"type":"snapshot","product_id":"BAND-GBP","bids":[["14.7550","3.20"],…],"asks":[["14.8024","12.77"],…]}
    /// ```
    /// Levels keep the order sent (best first). The message has no venue time, so the event time is
    /// the receive time and says so (`timeSource: .receive`, CONTRACTS.md "Times"). `level2` has no
    /// sequence numbers: `.unsequenced` under the `.unsequenced` rule.
    mutating func parseSnapshot(
        _ e: CoinbaseEnvelope, _ wire: CoinbaseWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        let instrument = try instrument(e.productID, wire)
        var bids: [BookLevel] = []
        var asks: [BookLevel] = []
        guard let bidsRange = e.bids, wire.levels(at: bidsRange, into: &bids) else {
            throw VenueParseFailure(reason: Self.reason("bids", e.bids), instrument: instrument)
        }
        guard let asksRange = e.asks, wire.levels(at: asksRange, into: &asks) else {
            throw VenueParseFailure(reason: Self.reason("asks", e.asks), instrument: instrument)
        }
        out.append(
            .book(
                BookUpdate(
                    instrument: instrument, isSnapshot: true, bids: bids, asks: asks, sequence: .unsequenced,
                    rule: .unsequenced, eventTime: receiveTime, receiveTime: receiveTime, timeSource: .receive)))
    }

    /// `l2update` → a delta ``BookUpdate``.
    ///
    /// ```json
    /// {"type":"l2update","product_id":"SKL-BTC","changes":[["sell","0.00001306","660.5"]],
    ///  "time":"2021-04-17T16:43:37.075687Z"}
    /// ```
    /// `buy` changes are bids, `sell` changes asks, in the order sent; size `"0"` is passed on as a
    /// zero-quantity level (remove). A missing `time` falls back to the receive time (marked
    /// `.receive`) rather than dropping the delta: with no sequence numbers, a dropped delta would
    /// corrupt the book silently.
    mutating func parseL2Update(
        _ e: CoinbaseEnvelope, _ wire: CoinbaseWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        let instrument = try instrument(e.productID, wire)
        var bids: [BookLevel] = []
        var asks: [BookLevel] = []
        guard let changes = e.changes, wire.changes(at: changes, bids: &bids, asks: &asks) else {
            throw VenueParseFailure(reason: Self.reason("changes", e.changes), instrument: instrument)
        }
        var eventTime = receiveTime
        var source = TimeSource.receive
        if e.time != nil {
            guard let t = wire.time(e.time) else { throw VenueParseFailure(reason: "bad time", instrument: instrument) }
            eventTime = t
            source = .venue
        }
        out.append(
            .book(
                BookUpdate(
                    instrument: instrument, isSnapshot: false, bids: bids, asks: asks, sequence: .unsequenced,
                    rule: .unsequenced, eventTime: eventTime, receiveTime: receiveTime, timeSource: source)))
    }

    /// `ticker` → ``Ticker`` (best bid/ask after a match).
    ///
    /// ```json
    /// {"type":"ticker","sequence":333938798,"product_id":"BAND-GBP","price":"14.7775","open_24h":"14.6647",
    ///  "volume_24h":"94381.28000000","low_24h":"14.3691","high_24h":"16.55","volume_30d":"2295579.57000000",
    ///  "best_bid":"14.7550","best_ask":"14.8060","side":"buy","time":"2021-04-17T16:43:30.244075Z",
    ///  "trade_id":881613,"last_size":"0.04"}
    /// ```
    /// Quantities: the feed added `best_bid_size`/`best_ask_size` later; older messages (such as the
    /// 2021 recording) have none, and then the level's quantity is **zero, meaning "unknown"**, not
    /// an empty level. A side whose price is absent (or `null`) is `nil`. `updateID` is the
    /// product's `sequence`. A missing `time` falls back to the receive time (marked `.receive`).
    mutating func parseTicker(
        _ e: CoinbaseEnvelope, _ wire: CoinbaseWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        let instrument = try instrument(e.productID, wire)
        func fail(_ key: String) -> VenueParseFailure {
            VenueParseFailure(reason: "bad \(key)", instrument: instrument)
        }
        var bid: BookLevel?
        var ask: BookLevel?
        guard Self.tickerLevel(e.bestBid, e.bestBidSize, wire, into: &bid) else { throw fail("best_bid") }
        guard Self.tickerLevel(e.bestAsk, e.bestAskSize, wire, into: &ask) else { throw fail("best_ask") }
        var updateID: Int64?
        if e.sequence != nil {
            guard let s = wire.int(e.sequence) else { throw fail("sequence") }
            updateID = s
        }
        var eventTime = receiveTime
        var source = TimeSource.receive
        if e.time != nil {
            guard let t = wire.time(e.time) else { throw fail("time") }
            eventTime = t
            source = .venue
        }
        out.append(
            .ticker(
                Ticker(
                    instrument: instrument, bestBid: bid, bestAsk: ask, updateID: updateID, eventTime: eventTime,
                    receiveTime: receiveTime, timeSource: source)))
    }

    /// `error` → ``FeedStatus`` `venue_error` with the venue's message (and reason, when given).
    ///
    /// ```json
    /// {"type":"error","message":"Failed to subscribe","reason":"BTC-XYZ is not a valid product"}
    /// ```
    /// Advanced Trade errors have the same shape (no `channel`), so they arrive here too.
    mutating func parseVenueError(
        _ e: CoinbaseEnvelope, _ wire: CoinbaseWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) {
        var detail = wire.decodedString(e.message) ?? "error"
        if let reason = wire.decodedString(e.reason), !reason.isEmpty { detail += ": \(reason)" }
        out.append(.status(FeedStatus(kind: .venueError, venue: venue, instrument: nil, detail: detail, time: receiveTime)))
    }

    /// `buy`/`sell` (Exchange) or `BUY`/`SELL` (Advanced Trade), as written; anything else is `nil`.
    static func side(_ raw: UnsafeRawBufferPointer?) -> Side? {
        guard let raw else { return nil }
        if raw.equals("buy") || raw.equals("BUY") { return .buy }
        if raw.equals("sell") || raw.equals("SELL") { return .sell }
        return nil
    }

    /// Reads a ticker side: absent or `null` price → `nil` level; absent size → quantity zero ("unknown").
    /// - Returns: `false` when a present value is malformed.
    static func tickerLevel(
        _ price: Range<Int>?, _ size: Range<Int>?, _ wire: CoinbaseWire, into level: inout BookLevel?
    ) -> Bool {
        guard let price, !isNull(price, wire) else { return true }
        guard let p = wire.decimal(price) else { return false }
        guard let size, !isNull(size, wire) else {
            level = BookLevel(price: p, quantity: .zero)
            return true
        }
        guard let q = wire.decimal(size) else { return false }
        level = BookLevel(price: p, quantity: q)
        return true
    }

    static func isNull(_ range: Range<Int>, _ wire: CoinbaseWire) -> Bool {
        range.count == 4 && UnsafeRawBufferPointer(rebasing: wire.bytes[range]).equals("null")
    }
}
