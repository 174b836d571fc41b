internal import MarketCore

/// Kraken websocket v2 (`wss://ws.kraken.com/v2`): `{"channel", "type", "data":[…]}` messages and
/// `{"method", "success", …}` responses. Not in the recordings: implemented from
/// https://docs.kraken.com/api/docs/websocket-v2/book (and `trade`, `ticker`, `instrument`,
/// `status`, `heartbeat`) and tested with the documentation's own frames.
///
/// Numbers: v2 sends prices and quantities as JSON numbers; they are read from the bytes exactly
/// as written (``KrakenWire/decimal(_:)``), never through `Double`. Times are RFC 3339 strings.
extension KrakenAdapter {
    /// Dispatches a `channel` message.
    mutating func handleV2Channel(
        _ top: KrakenTopLevel, _ wire: KrakenWire, receiveTime: UnixNanos, connection: String, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        guard let channel = wire.string(top.channel) else { throw VenueParseFailure(reason: "bad channel") }
        if channel.equals("book") {
            try parseV2Book(top, wire, connection: connection, receiveTime: receiveTime, into: &out)
        } else if channel.equals("trade") {
            try parseV2Trades(top, wire, receiveTime: receiveTime, into: &out)
        } else if channel.equals("ticker") {
            try parseV2Tickers(top, wire, receiveTime: receiveTime, into: &out)
        } else if channel.equals("heartbeat") {
            return
        } else if channel.equals("status") {
            try parseV2Status(top, wire, receiveTime: receiveTime, into: &out)
        } else if channel.equals("instrument") {
            try parseV2Instruments(top, wire)
        } else if channel.equals("ohlc") {
            // Known, unused: candles are built from trades.
            return
        } else {
            throw VenueParseFailure(reason: "unsupported channel")
        }
    }

    /// `book` → one ``BookUpdate`` per `data` entry.
    ///
    /// ```json
    /// {"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5657,"qty":1098.3947558}],
    ///  "asks":[],"checksum":2114181697,"timestamp":"2023-10-06T17:35:55.440295Z"}]}
    /// ```
    /// `type` `snapshot` replaces the book, `update` changes levels in the order sent (`qty` 0
    /// removes). v2 checksums snapshots and updates alike ("Book checksum: Snapshot + updates",
    /// https://docs.kraken.com/exchange/api-reference/spot-websocket); the algorithm formats with the
    /// pair's precision when known (see ``KrakenChecksum`` for why). `depthLimit` = the depth this
    /// connection subscribed (ack, else request, else Kraken's default 10). Event time = `timestamp`
    /// (updates); a snapshot without one uses the receive time, marked `.receive`.
    mutating func parseV2Book(
        _ top: KrakenTopLevel, _ wire: KrakenWire, connection: String, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        guard let type = wire.string(top.type), type.equals("snapshot") || type.equals("update") else {
            throw VenueParseFailure(reason: top.type == nil ? "missing key type" : "bad type")
        }
        let isSnapshot = type.equals("snapshot")
        guard let data = top.data else { throw VenueParseFailure(reason: "missing key data") }
        var updates: [BookUpdate] = []
        let ok = try wire.walkArray(at: data.lowerBound) { entry throws(VenueParseFailure) in
            var symbol: Range<Int>?
            var bidsRange: Range<Int>?
            var asksRange: Range<Int>?
            var checksumRange: Range<Int>?
            var timestamp: Range<Int>?
            guard
                wire.walkObject(at: entry.lowerBound, { key, r in
                    if key.equals("symbol") { symbol = r }
                    else if key.equals("bids") { bidsRange = r }
                    else if key.equals("asks") { asksRange = r }
                    else if key.equals("checksum") { checksumRange = r }
                    else if key.equals("timestamp") { timestamp = r }
                }) != nil
            else { return false }
            guard let raw = wire.string(symbol) else { throw VenueParseFailure(reason: "missing or bad symbol") }
            guard let instrument = symbols.instrument(for: raw, make: Self.instrument(pair:)) else {
                throw VenueParseFailure(reason: "unknown symbol \(String(decoding: raw, as: UTF8.self))")
            }
            func fail(_ reason: String) -> VenueParseFailure { VenueParseFailure(reason: reason, instrument: instrument) }
            var bids: [BookLevel] = []
            var asks: [BookLevel] = []
            if let bidsRange, !Self.v2Levels(bidsRange, wire, into: &bids) { throw fail("bad bids") }
            if let asksRange, !Self.v2Levels(asksRange, wire, into: &asks) { throw fail("bad asks") }
            var check: ChecksumCheck?
            if let checksumRange {
                guard let expected = wire.checksum(checksumRange) else { throw fail("bad checksum") }
                check = ChecksumCheck(expected: expected, algorithm: KrakenChecksum.v2(precision: precisions[instrument]))
            }
            var eventTime = receiveTime
            var source = TimeSource.receive
            if let timestamp {
                guard let t = wire.time(timestamp) else { throw fail("bad timestamp") }
                eventTime = t
                source = .venue
            }
            let depth = connections[connection]?.bookDepths[instrument] ?? Self.defaultBookDepth
            updates.append(
                BookUpdate(
                    instrument: instrument, isSnapshot: isSnapshot, bids: bids, asks: asks, sequence: .unsequenced,
                    rule: .unsequenced, eventTime: eventTime, receiveTime: receiveTime, timeSource: source, checksum: check,
                    depthLimit: depth))
            return true
        }
        guard ok != nil else { throw VenueParseFailure(reason: "malformed book data") }
        for u in updates { out.append(.book(u)) }
    }

    /// `[{"price":45283.5,"qty":0.10000000}, …]` into `levels`, in the order sent.
    static func v2Levels(_ range: Range<Int>, _ wire: KrakenWire, into levels: inout [BookLevel]) -> Bool {
        let end = wire.walkArray(at: range.lowerBound) { entry in
            var price: Range<Int>?
            var qty: Range<Int>?
            guard
                wire.walkObject(at: entry.lowerBound, { key, r in
                    if key.equals("price") { price = r } else if key.equals("qty") { qty = r }
                }) != nil,
                let p = wire.decimal(price), let q = wire.decimal(qty)
            else { return false }
            levels.append(BookLevel(price: p, quantity: q))
            return true
        }
        return end != nil
    }

    /// `trade` → one ``Trade`` per `data` entry (snapshot = the last 50 trades, then updates).
    ///
    /// ```json
    /// {"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"sell","price":0.5117,"qty":40.0,
    ///  "ord_type":"market","trade_id":4665906,"timestamp":"2023-09-25T07:49:37.708706Z"}]}
    /// ```
    /// `side` is "the side of the taker order"; `trade_id` "a sequence number, unique per book"
    /// (https://docs.kraken.com/api/docs/websocket-v2/trade). A snapshot overlapping trades already
    /// seen (after a reconnect) is de-duplicated by the normalizer on `trade_id`.
    mutating func parseV2Trades(
        _ top: KrakenTopLevel, _ wire: KrakenWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        guard let data = top.data else { throw VenueParseFailure(reason: "missing key data") }
        var trades: [Trade] = []
        let ok = try wire.walkArray(at: data.lowerBound) { entry throws(VenueParseFailure) in
            var symbol: Range<Int>?
            var side: Range<Int>?
            var price: Range<Int>?
            var qty: Range<Int>?
            var tradeID: Range<Int>?
            var timestamp: Range<Int>?
            guard
                wire.walkObject(at: entry.lowerBound, { key, r in
                    if key.equals("symbol") { symbol = r }
                    else if key.equals("side") { side = r }
                    else if key.equals("price") { price = r }
                    else if key.equals("qty") { qty = r }
                    else if key.equals("trade_id") { tradeID = r }
                    else if key.equals("timestamp") { timestamp = r }
                }) != nil
            else { return false }
            guard let raw = wire.string(symbol) else { throw VenueParseFailure(reason: "missing or bad symbol") }
            guard let instrument = symbols.instrument(for: raw, make: Self.instrument(pair:)) else {
                throw VenueParseFailure(reason: "unknown symbol \(String(decoding: raw, as: UTF8.self))")
            }
            func fail(_ key: String, _ range: Range<Int>?) -> VenueParseFailure {
                VenueParseFailure(reason: Self.reason(key, range), instrument: instrument)
            }
            guard let s = Self.side(wire.string(side)) else { throw fail("side", side) }
            guard let p = wire.decimal(price) else { throw fail("price", price) }
            guard let q = wire.decimal(qty) else { throw fail("qty", qty) }
            // `trade_id` is documented as an integer; a quoted one is read too, a non-number is an error.
            guard let id = wire.int(tradeID) else { throw fail("trade_id", tradeID) }
            guard let t = wire.time(timestamp) else { throw fail("timestamp", timestamp) }
            trades.append(
                Trade(
                    instrument: instrument, id: .number(id), price: p, quantity: q, side: s, eventTime: t,
                    receiveTime: receiveTime, count: 1, stream: .raw))
            return true
        }
        guard ok != nil else { throw VenueParseFailure(reason: "malformed trade data") }
        for t in trades { out.append(.trade(t)) }
    }

    /// `ticker` → one ``Ticker`` per `data` entry (`bid`/`bid_qty`, `ask`/`ask_qty`).
    ///
    /// ```json
    /// {"channel":"ticker","type":"snapshot","data":[{"symbol":"ALGO/USD","bid":0.10025,"bid_qty":740.0,"ask":0.10035,
    ///  "ask_qty":740.0,"last":0.10035,"volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,
    ///  "change":-0.00017,"change_pct":-0.17,"timestamp":"2023-09-25T09:04:31.742648Z"}]}
    /// ```
    /// `timestamp` is in the current documentation but not in older samples: without it the event
    /// time is the receive time, marked `.receive`. A side whose price is absent or `null` is `nil`.
    mutating func parseV2Tickers(
        _ top: KrakenTopLevel, _ wire: KrakenWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        guard let data = top.data else { throw VenueParseFailure(reason: "missing key data") }
        var tickers: [Ticker] = []
        let ok = try wire.walkArray(at: data.lowerBound) { entry throws(VenueParseFailure) in
            var symbol: Range<Int>?
            var bid: Range<Int>?
            var bidQty: Range<Int>?
            var ask: Range<Int>?
            var askQty: Range<Int>?
            var timestamp: Range<Int>?
            guard
                wire.walkObject(at: entry.lowerBound, { key, r in
                    if key.equals("symbol") { symbol = r }
                    else if key.equals("bid") { bid = r }
                    else if key.equals("bid_qty") { bidQty = r }
                    else if key.equals("ask") { ask = r }
                    else if key.equals("ask_qty") { askQty = r }
                    else if key.equals("timestamp") { timestamp = r }
                }) != nil
            else { return false }
            guard let raw = wire.string(symbol) else { throw VenueParseFailure(reason: "missing or bad symbol") }
            guard let instrument = symbols.instrument(for: raw, make: Self.instrument(pair:)) else {
                throw VenueParseFailure(reason: "unknown symbol \(String(decoding: raw, as: UTF8.self))")
            }
            // Ticker failures name no instrument (as they always have).
            var bestBid: BookLevel?
            var bestAsk: BookLevel?
            guard Self.v2TickerLevel(bid, bidQty, wire, into: &bestBid) else { throw VenueParseFailure(reason: "bad bid") }
            guard Self.v2TickerLevel(ask, askQty, wire, into: &bestAsk) else { throw VenueParseFailure(reason: "bad ask") }
            var eventTime = receiveTime
            var source = TimeSource.receive
            if let timestamp {
                guard let t = wire.time(timestamp) else { throw VenueParseFailure(reason: "bad timestamp") }
                eventTime = t
                source = .venue
            }
            tickers.append(
                Ticker(
                    instrument: instrument, bestBid: bestBid, bestAsk: bestAsk, updateID: nil, eventTime: eventTime,
                    receiveTime: receiveTime, timeSource: source))
            return true
        }
        guard ok != nil else { throw VenueParseFailure(reason: "malformed ticker data") }
        for t in tickers { out.append(.ticker(t)) }
    }

    /// Absent or `null` price → `nil` level; absent quantity → zero ("unknown").
    /// - Returns: `false` when a present value is malformed.
    static func v2TickerLevel(_ price: Range<Int>?, _ qty: Range<Int>?, _ wire: KrakenWire, into level: inout BookLevel?) -> Bool {
        guard let price, !wire.isLiteral(price, "null") else { return true }
        guard let p = wire.decimal(price) else { return false }
        guard let qty, !wire.isLiteral(qty, "null") else {
            level = BookLevel(price: p, quantity: .zero)
            return true
        }
        guard let q = wire.decimal(qty) else { return false }
        level = BookLevel(price: p, quantity: q)
        return true
    }

    /// `status`: `{"channel":"status","type":"update","data":[{"api_version":"v2","connection_id":…,"system":"online","version":"2.0.0"}]}`.
    /// `online` is normal; `maintenance`, `cancel_only`, `post_only` become `venue_status`.
    mutating func parseV2Status(
        _ top: KrakenTopLevel, _ wire: KrakenWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        guard let data = top.data else { throw VenueParseFailure(reason: "missing key data") }
        var states: [String] = []
        let ok = wire.walkArray(at: data.lowerBound) { entry in
            var system: Range<Int>?
            guard wire.walkObject(at: entry.lowerBound, { key, r in if key.equals("system") { system = r } }) != nil,
                let state = wire.string(system)
            else { return false }
            if !state.equals("online") { states.append(String(decoding: state, as: UTF8.self)) }
            return true
        }
        guard ok != nil else { throw VenueParseFailure(reason: "malformed status data") }
        for state in states {
            out.append(
                .status(FeedStatus(kind: .venueStatus, venue: venue, instrument: nil, detail: "system \(state)", time: receiveTime)))
        }
    }

    /// `instrument`: records `price_precision` / `qty_precision` per pair for the v2 checksum.
    ///
    /// ```json
    /// {"channel":"instrument","type":"snapshot","data":{"assets":[…],"pairs":[{"symbol":"BTC/USD","base":"BTC",
    ///  "quote":"USD","status":"online","qty_precision":8,"qty_increment":0.00000001,"price_precision":1,…}]}}
    /// ```
    /// Reference data, cold path: pairs that cannot be mapped or carry no precision are skipped.
    mutating func parseV2Instruments(_ top: KrakenTopLevel, _ wire: KrakenWire) throws(VenueParseFailure) {
        guard let data = top.data else { throw VenueParseFailure(reason: "missing key data") }
        var pairsRange: Range<Int>?
        if wire.bytes[data.lowerBound] == UInt8(ascii: "[") {
            pairsRange = data
        } else if wire.walkObject(at: data.lowerBound, { key, r in if key.equals("pairs") { pairsRange = r } }) == nil {
            throw VenueParseFailure(reason: "malformed instrument data")
        }
        guard let pairsRange else { return }  // an assets-only message
        var found: [(Instrument, KrakenPrecision)] = []
        let ok = wire.walkArray(at: pairsRange.lowerBound) { entry in
            var symbol: Range<Int>?
            var pricePrecision: Range<Int>?
            var qtyPrecision: Range<Int>?
            guard
                wire.walkObject(at: entry.lowerBound, { key, r in
                    if key.equals("symbol") { symbol = r }
                    else if key.equals("price_precision") { pricePrecision = r }
                    else if key.equals("qty_precision") { qtyPrecision = r }
                }) != nil
            else { return false }
            if let pair = wire.decodedString(symbol), let instrument = Self.instrument(pair: pair),
                let p = wire.int(pricePrecision), let q = wire.int(qtyPrecision), let precision = KrakenPrecision(price: Int(clamping: p), quantity: Int(clamping: q))
            {
                found.append((instrument, precision))
            }
            return true
        }
        guard ok != nil else { throw VenueParseFailure(reason: "malformed instrument data") }
        for (instrument, precision) in found { precisions[instrument] = precision }
    }

    // MARK: Method responses and sent requests

    /// `{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"ALGO/USD"},"success":true,…}`:
    /// a book ack records its depth for this connection; `success: false` (or an `error`) becomes
    /// `venue_error`; `pong` and other acks need nothing.
    mutating func handleV2Response(
        _ top: KrakenTopLevel, _ wire: KrakenWire, connection: String, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        if top.error != nil || wire.isLiteral(top.success, "false") {
            var detail = "\(wire.decodedString(top.method) ?? "request") failed: \(wire.decodedString(top.error) ?? "?")"
            if let symbol = wire.decodedString(top.symbol) { detail += " (symbol \(symbol))" }
            out.append(venueError(detail, time: receiveTime))
            return
        }
        guard let method = wire.string(top.method) else { throw VenueParseFailure(reason: "bad method") }
        let subscribe = method.equals("subscribe")
        guard subscribe || method.equals("unsubscribe"), let result = top.result else { return }
        guard let book = Self.bookSubscription(at: result, wire) else {
            throw VenueParseFailure(reason: "malformed subscription result")
        }
        for (instrument, depth) in book {
            connections[connection, default: Connection()].bookDepths[instrument] = subscribe ? depth : nil
        }
    }

    /// Notes the depth of a v2 book subscribe request the gateway sent
    /// (`{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"],"depth":25}}`), so the
    /// depth is known even if the ack is missed; the ack, when it comes, overrides it. Our own
    /// frames: anything unreadable or not a v2 book subscribe is ignored.
    mutating func noteSentRequest(_ wire: KrakenWire, connection: String) {
        guard wire.bytes.count > 0 else { return }
        var method: Range<Int>?
        var params: Range<Int>?
        guard wire.walkObject(at: 0, { key, r in
            if key.equals("method") { method = r } else if key.equals("params") { params = r }
        }) != nil, let m = wire.string(method), m.equals("subscribe"), let params,
            let book = Self.bookSubscription(at: params, wire)
        else { return }
        for (instrument, depth) in book { connections[connection, default: Connection()].bookDepths[instrument] = depth }
    }

    /// The pairs and depth of a book subscription object (`params` of a request or `result` of an
    /// ack; `symbol` a string or a list). Not a book subscription → empty; malformed → `nil`.
    static func bookSubscription(at range: Range<Int>, _ wire: KrakenWire) -> [(Instrument, Int)]? {
        var channel: Range<Int>?
        var symbol: Range<Int>?
        var depthRange: Range<Int>?
        guard
            wire.walkObject(at: range.lowerBound, { key, r in
                if key.equals("channel") { channel = r } else if key.equals("symbol") { symbol = r }
                else if key.equals("depth") { depthRange = r }
            }) != nil
        else { return nil }
        guard let name = wire.string(channel), name.equals("book"), let symbol else { return [] }
        var depth = defaultBookDepth
        if let depthRange {
            guard let d = wire.int(depthRange), d > 0, d <= 100_000 else { return nil }
            depth = Int(d)
        }
        var pairs: [(Instrument, Int)] = []
        func add(_ r: Range<Int>) -> Bool {
            guard let text = wire.decodedString(r) else { return false }
            if let instrument = instrument(pair: text) { pairs.append((instrument, depth)) }
            return true
        }
        if wire.bytes[symbol.lowerBound] == UInt8(ascii: "[") {
            guard wire.walkArray(at: symbol.lowerBound, add) != nil else { return nil }
        } else if !add(symbol) {
            return nil
        }
        return pairs
    }

    /// The reason for a missing or unreadable required value (`missing key price` / `bad price`).
    static func reason(_ key: String, _ range: Range<Int>?) -> String {
        range == nil ? "missing key \(key)" : "bad \(key)"
    }
}
