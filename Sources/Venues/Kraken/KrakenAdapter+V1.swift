internal import MarketCore

/// Kraken websocket v1 (`wss://ws.kraken.com`): array data messages and `event` control messages.
///
/// Reference: https://docs.kraken.com/api/docs/websocket-v1/trade (and the sibling `ticker`,
/// `book`, `subscriptionStatus`, `systemStatus`, `heartbeat` pages); the older single-page
/// reference was https://docs.kraken.com/websockets/ . "All decimal fields (including timestamps)
/// are quoted to preserve precision."
extension KrakenAdapter {
    // MARK: Array messages

    /// Parses `[channelID, payload…, channelName, pair]`.
    ///
    /// ```json
    /// [993,[["354.11000000","0.89594024","1618678142.557535","s","l",""]],"trade","XMR/USD"]
    /// [1920,{"a":[["0.042990","364630.28272081","1618678145.920470"]]},{"b":[["0.042990","0.00000000","1618678145.920708"]],"c":"4105471083"},"book-1000","SC/EUR"]
    /// ```
    /// The channel and pair come from the message's own tail; `channelID` is deprecated by Kraken
    /// but still checked against the connection's `subscriptionStatus` map (ids are per connection),
    /// and used alone for a message without the tail (`[channelID, payload]`, pre-2019 format).
    mutating func handleV1Array(
        _ wire: KrakenWire, connection: String, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var elements = KrakenElements()
        guard
            let end = try wire.walkArray(at: 0, { r throws(VenueParseFailure) in
                guard elements.append(r) else { throw VenueParseFailure(reason: "unexpected array message (too many elements)") }
                return true
            })
        else { throw VenueParseFailure(reason: "malformed JSON") }
        guard wire.onlyWhitespace(after: end) else { throw VenueParseFailure(reason: "trailing bytes after JSON array") }
        guard elements.count >= 2, let channelID = wire.int(elements[0]) else {
            throw VenueParseFailure(reason: "unexpected array message")
        }
        let known = connections[connection]?.channels[channelID]
        let n = elements.count
        if n >= 4, let name = wire.string(elements[n - 2]), let pair = wire.string(elements[n - 1]) {
            if let known, !(Self.same(known.pair, pair) && Self.same(known.name, name)) {
                throw VenueParseFailure(
                    reason: "channelID \(channelID) is \(String(decoding: known.name, as: UTF8.self)) "
                        + "\(String(decoding: known.pair, as: UTF8.self)) on this connection")
            }
            try handleV1Data(elements, payloadEnd: n - 2, name: name, pair: pair, wire, receiveTime: receiveTime, into: &out)
        } else if n == 2, let known {
            // `withUnsafeBytes` only rethrows untyped errors: the failure travels out as a `Result`.
            let read = known.name.withUnsafeBytes { name in
                known.pair.withUnsafeBytes { pair in
                    Result { () throws(VenueParseFailure) in
                        try handleV1Data(elements, payloadEnd: 2, name: name, pair: pair, wire, receiveTime: receiveTime, into: &out)
                    }
                }
            }
            try read.get()
        } else if n == 2 {
            throw VenueParseFailure(reason: "unknown channelID \(channelID)")
        } else {
            throw VenueParseFailure(reason: "unexpected array message")
        }
    }

    static func same(_ a: [UInt8], _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && a.withUnsafeBytes { $0.elementsEqual(b) }
    }

    /// Dispatches on the channel name; payloads are `elements[1..<payloadEnd]`.
    mutating func handleV1Data(
        _ elements: KrakenElements, payloadEnd: Int, name: UnsafeRawBufferPointer, pair: UnsafeRawBufferPointer,
        _ wire: KrakenWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        let payloads = payloadEnd - 1
        if name.starts(with: "book".utf8) {
            guard let depth = Self.bookDepth(channelName: name) else { throw VenueParseFailure(reason: "bad book channel name") }
            guard payloads == 1 || payloads == 2 else { throw VenueParseFailure(reason: "unexpected book message shape") }
            let instrument = try instrument(pair)
            try parseV1Book(elements, payloadEnd: payloadEnd, instrument: instrument, depth: depth, wire, receiveTime: receiveTime, into: &out)
        } else if name.equals("trade") {
            guard payloads == 1 else { throw VenueParseFailure(reason: "unexpected trade message shape") }
            let instrument = try instrument(pair)
            try parseV1Trades(elements[1], instrument: instrument, wire, receiveTime: receiveTime, into: &out)
        } else if name.equals("ticker") {
            guard payloads == 1 else { throw VenueParseFailure(reason: "unexpected ticker message shape") }
            let instrument = try instrument(pair)
            try parseV1Ticker(elements[1], instrument: instrument, wire, receiveTime: receiveTime, into: &out)
        } else if name.equals("spread") || name.starts(with: "ohlc".utf8) {
            // Known public channels the normalizer does not use (candles are built from trades).
            return
        } else {
            throw VenueParseFailure(reason: "unsupported channel")
        }
    }

    /// The depth in a v1 book channel name (`book-1000` → 1000); `book` alone is Kraken's default.
    static func bookDepth(channelName name: UnsafeRawBufferPointer) -> Int? {
        if name.equals("book") { return defaultBookDepth }
        guard name.count > 5, name[4] == UInt8(ascii: "-"),
            let depth = JSONScanner.parseInt64(UnsafeRawBufferPointer(rebasing: name[5...])), depth > 0, depth <= 100_000
        else { return nil }
        return Int(depth)
    }

    /// `trade`: `[[price, volume, time, side, orderType, misc], …]` → one ``Trade`` each.
    ///
    /// `side` is the taker's ("Taker side", https://docs.kraken.com/api/docs/websocket-v1/trade):
    /// `b` buy, `s` sell. v1 trades carry no id (``TradeID/none``); `time` is decimal seconds,
    /// parsed exactly.
    mutating func parseV1Trades(
        _ payload: Range<Int>, instrument: Instrument, _ wire: KrakenWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        func fail(_ reason: String) -> VenueParseFailure { VenueParseFailure(reason: reason, instrument: instrument) }
        var trades: [Trade] = []
        let ok = try wire.walkArray(at: payload.lowerBound) { entry throws(VenueParseFailure) in
            var i = 0
            var price: FixedDecimal?
            var volume: FixedDecimal?
            var time: UnixNanos?
            var side: Side?
            let end = wire.walkArray(at: entry.lowerBound) { r in
                switch i {
                case 0: price = wire.decimal(r)
                case 1: volume = wire.decimal(r)
                case 2: time = wire.decimalSeconds(r)
                case 3: side = Self.side(wire.string(r))
                default: break
                }
                i += 1
                return true
            }
            guard end != nil else { return false }
            guard let price else { throw fail("bad trade price") }
            guard let volume else { throw fail("bad trade volume") }
            guard let time else { throw fail("bad trade time") }
            guard let side else { throw fail("bad trade side") }
            trades.append(
                Trade(
                    instrument: instrument, id: .none, price: price, quantity: volume, side: side, eventTime: time,
                    receiveTime: receiveTime, count: 1, stream: .raw))
            return true
        }
        guard ok != nil else { throw fail("malformed trade payload") }
        for t in trades { out.append(.trade(t)) }
    }

    /// `ticker` → ``Ticker`` from `a` (best ask) and `b` (best bid): `[price, wholeLotVolume, lotVolume]`.
    ///
    /// ```json
    /// [1668,{"a":["13.253900",35,"35.72892241"],"b":["13.232900",185,"185.18432037"],"c":["13.253900","3.71672000"],…},"ticker","WAVES/EUR"]
    /// ```
    /// The quantity is the exact `lotVolume` (`wholeLotVolume` is its integer part). The message has
    /// no venue time: event time = receive time, marked `.receive`.
    mutating func parseV1Ticker(
        _ payload: Range<Int>, instrument: Instrument, _ wire: KrakenWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var askRange: Range<Int>?
        var bidRange: Range<Int>?
        guard
            wire.walkObject(at: payload.lowerBound, { key, r in
                if key.equals("a") { askRange = r } else if key.equals("b") { bidRange = r }
            }) != nil
        else { throw VenueParseFailure(reason: "malformed ticker payload", instrument: instrument) }
        guard let ask = Self.v1TickerLevel(askRange, wire) else {
            throw VenueParseFailure(reason: "bad ticker a", instrument: instrument)
        }
        guard let bid = Self.v1TickerLevel(bidRange, wire) else {
            throw VenueParseFailure(reason: "bad ticker b", instrument: instrument)
        }
        out.append(
            .ticker(
                Ticker(
                    instrument: instrument, bestBid: bid, bestAsk: ask, updateID: nil, eventTime: receiveTime,
                    receiveTime: receiveTime, timeSource: .receive)))
    }

    static func v1TickerLevel(_ range: Range<Int>?, _ wire: KrakenWire) -> BookLevel? {
        guard let range else { return nil }
        var i = 0
        var price: FixedDecimal?
        var lotVolume: FixedDecimal?
        let end = wire.walkArray(at: range.lowerBound) { r in
            if i == 0 { price = wire.decimal(r) } else if i == 2 { lotVolume = wire.decimal(r) }
            i += 1
            return true
        }
        guard end != nil, let price, let lotVolume else { return nil }
        return BookLevel(price: price, quantity: lotVolume)
    }

    /// `book-N`: a snapshot `{"as":[…],"bs":[…]}` or an update `{"a":[…]}` / `{"b":[…]}`, possibly
    /// both as two objects in one message, with the checksum `"c"` in the last one. Levels are
    /// `[price, volume, timestamp]`, plus `"r"` for a republished level (applied like any update).
    ///
    /// Levels are passed on in the order sent ("the last entries in the array are the most recent.
    /// Do not sort by timestamp", https://docs.kraken.com/exchange/guides/websockets/book-checksum-v1);
    /// volume `"0.00000000"` removes the level. Event time = the largest level time in the message
    /// (CONTRACTS.md, "Times"); a message without levels uses the receive time. `depthLimit` = the
    /// depth in the channel name, so levels pushed out of the subscribed window are dropped.
    mutating func parseV1Book(
        _ elements: KrakenElements, payloadEnd: Int, instrument: Instrument, depth: Int, _ wire: KrakenWire,
        receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        func fail(_ reason: String) -> VenueParseFailure { VenueParseFailure(reason: reason, instrument: instrument) }
        var bids: [BookLevel] = []
        var asks: [BookLevel] = []
        var snapshotKeys = false
        var updateKeys = false
        var checksum: UInt32?
        var latest: UnixNanos?
        for k in 1..<payloadEnd {
            let end = try wire.walkObject(at: elements[k].lowerBound) { key, r throws(VenueParseFailure) in
                if key.equals("as") || key.equals("bs") {
                    snapshotKeys = true
                    let ok = key.equals("as")
                        ? Self.v1Levels(r, wire, into: &asks, latest: &latest)
                        : Self.v1Levels(r, wire, into: &bids, latest: &latest)
                    if !ok { throw fail("bad \(key.equals("as") ? "as" : "bs") level") }
                } else if key.equals("a") || key.equals("b") {
                    updateKeys = true
                    let ok = key.equals("a")
                        ? Self.v1Levels(r, wire, into: &asks, latest: &latest)
                        : Self.v1Levels(r, wire, into: &bids, latest: &latest)
                    if !ok { throw fail("bad \(key.equals("a") ? "a" : "b") level") }
                } else if key.equals("c") {
                    checksum = wire.checksum(r)
                    if checksum == nil { throw fail("bad checksum c") }
                }
            }
            if end == nil { throw fail("malformed book payload") }
        }
        if snapshotKeys && updateKeys { throw fail("book message mixes snapshot and update keys") }
        if !snapshotKeys && !updateKeys { throw fail("book message without levels") }
        out.append(
            .book(
                BookUpdate(
                    instrument: instrument, isSnapshot: snapshotKeys, bids: bids, asks: asks, sequence: .unsequenced,
                    rule: .unsequenced, eventTime: latest ?? receiveTime, receiveTime: receiveTime,
                    timeSource: latest == nil ? .receive : .venue,
                    checksum: checksum.map { ChecksumCheck(expected: $0, algorithm: KrakenChecksum.v1) },
                    depthLimit: depth)))
    }

    /// `[["0.05120","0.00000500","1582905486.493008"(,"r")], …]` into `levels`, tracking the latest time.
    static func v1Levels(
        _ range: Range<Int>, _ wire: KrakenWire, into levels: inout [BookLevel], latest: inout UnixNanos?
    ) -> Bool {
        let end = wire.walkArray(at: range.lowerBound) { entry in
            var i = 0
            var price: FixedDecimal?
            var volume: FixedDecimal?
            var time: UnixNanos?
            let end = wire.walkArray(at: entry.lowerBound) { r in
                switch i {
                case 0: price = wire.decimal(r)
                case 1: volume = wire.decimal(r)
                case 2: time = wire.decimalSeconds(r)
                default: break  // "r" (republish) or later additions
                }
                i += 1
                return true
            }
            guard end != nil, let price, let volume, let time else { return false }
            levels.append(BookLevel(price: price, quantity: volume))
            if latest.map({ $0 < time }) ?? true { latest = time }
            return true
        }
        return end != nil
    }

    // MARK: Control messages

    /// `event` messages: `heartbeat`, `pong`, `systemStatus`, `subscriptionStatus`, `error`.
    ///
    /// ```json
    /// {"connectionID":17843232920108168701,"event":"systemStatus","status":"online","version":"1.8.3"}
    /// {"channelID":1664,"channelName":"book-1000","event":"subscriptionStatus","pair":"WAVES/EUR","status":"subscribed","subscription":{"depth":1000,"name":"book"}}
    /// {"errorMessage":"Currency pair not in ISO 4217-A3 format XBTUSD","event":"subscriptionStatus","pair":"XBTUSD","status":"error","subscription":{"name":"ticker"}}
    /// ```
    mutating func handleV1Event(
        _ top: KrakenTopLevel, _ wire: KrakenWire, connection: String, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        guard let event = wire.string(top.event) else { throw VenueParseFailure(reason: "bad event") }
        if event.equals("heartbeat") || event.equals("pong") {
            return
        } else if event.equals("systemStatus") {
            guard let status = wire.string(top.status) else { throw VenueParseFailure(reason: "systemStatus without status") }
            // `online` is the normal state; `maintenance`, `cancel_only`, … are worth a status line.
            if !status.equals("online") {
                out.append(
                    .status(
                        FeedStatus(
                            kind: .venueStatus, venue: venue, instrument: nil,
                            detail: "system \(wire.decodedString(top.status) ?? "?")", time: receiveTime)))
            }
        } else if event.equals("subscriptionStatus") {
            try handleSubscriptionStatus(top, wire, connection: connection, receiveTime: receiveTime, into: &out)
        } else if event.equals("error") {
            out.append(venueError("error: \(wire.decodedString(top.errorMessage) ?? "?")", time: receiveTime))
        } else {
            throw VenueParseFailure(reason: "unknown event")
        }
    }

    /// Records (`subscribed`) or forgets (`unsubscribed`) a `channelID` of this connection; an
    /// `error` status becomes `venue_error`.
    mutating func handleSubscriptionStatus(
        _ top: KrakenTopLevel, _ wire: KrakenWire, connection: String, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        guard let status = wire.string(top.status) else { throw VenueParseFailure(reason: "subscriptionStatus without status") }
        if status.equals("error") {
            var detail = "subscription error: \(wire.decodedString(top.errorMessage) ?? "?")"
            if let pair = wire.decodedString(top.pair) { detail += " (pair \(pair))" }
            out.append(venueError(detail, time: receiveTime))
            return
        }
        guard status.equals("subscribed") || status.equals("unsubscribed") else {
            throw VenueParseFailure(reason: "unknown subscription status")
        }
        // `channelID` is deprecated (later API versions may omit it); without it there is nothing to map.
        guard top.channelID != nil else { return }
        guard let id = wire.int(top.channelID) else { throw VenueParseFailure(reason: "bad channelID") }
        if status.equals("unsubscribed") {
            connections[connection]?.channels[id] = nil
            return
        }
        guard let pair = wire.string(top.pair), let name = wire.string(top.channelName) else {
            throw VenueParseFailure(reason: "subscriptionStatus without pair or channelName")
        }
        connections[connection, default: Connection()].channels[id] = V1Channel(pair: Array(pair), name: Array(name))
    }
}

