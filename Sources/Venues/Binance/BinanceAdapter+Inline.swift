import MarketCore

/// One-pass readers, one per payload shape. Each reads every value where it stands (keys in any
/// order; `"e"` is skipped) and leaves the scanner after the payload's `}`. Reading in one pass made
/// the adapter about twice as fast on the real BTCUSDT stream as recording positions and re-reading
/// them (BENCHMARKS.md).
extension BinanceAdapter {
    /// The rest of a `trade`/`aggTrade` payload after its `"e"` value:
    /// `"E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}`.
    mutating func parseTradeInline(
        _ s: inout JSONScanner, aggregated: Bool, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var found: Instrument? = nil
        var symbolRaw: UnsafeRawBufferPointer? = nil
        var id: Int64? = nil
        var price: FixedDecimal? = nil
        var quantity: FixedDecimal? = nil
        var time: Int64? = nil
        var buyerIsMaker: Bool? = nil
        var first: Int64? = nil
        var last: Int64? = nil
        while let key = s.nextKey() {
            guard key.count == 1 else {
                guard s.skipValue() != nil else { break }
                continue
            }
            switch key[0] {
            case UInt8(ascii: "s"):
                symbolRaw = s.readStringRaw()
                if let raw = symbolRaw { found = self.instrument(raw) }
            case UInt8(ascii: "t") where !aggregated: id = s.readInt64()
            case UInt8(ascii: "a") where aggregated: id = s.readInt64()
            case UInt8(ascii: "p"): price = s.readDecimal()
            case UInt8(ascii: "q"): quantity = s.readDecimal()
            case UInt8(ascii: "T"): time = s.readInt64()
            case UInt8(ascii: "m"): buyerIsMaker = s.readBool()
            case UInt8(ascii: "f") where aggregated: first = s.readInt64()
            case UInt8(ascii: "l") where aggregated: last = s.readInt64()
            default: guard s.skipValue() != nil else { break }
            }
        }
        if s.failed { throw VenueParseFailure(reason: "malformed JSON") }
        let instrument = try resolve(symbolRaw, found)
        guard let id, let price, let quantity, let time, let buyerIsMaker else {
            throw VenueParseFailure(reason: "trade missing or bad field", instrument: instrument)
        }
        guard
            let trade = Self.trade(
                instrument, id: id, price: price, quantity: quantity, time: time, buyerIsMaker: buyerIsMaker,
                aggregated: aggregated, first: first, last: last, receiveTime: receiveTime)
        else { throw VenueParseFailure(reason: "aggTrade bad f/l", instrument: instrument) }
        out.append(.trade(trade))
    }

    /// A trade from Binance's fields, the same for the stream and REST history: `m` (the buyer is
    /// the maker) means the taker sold; an aggTrade counts `l - f + 1` trades. nil when an
    /// aggTrade's `f`/`l` are missing or reversed.
    @inline(__always)
    static func trade(
        _ instrument: consuming Instrument, id: Int64, price: FixedDecimal, quantity: FixedDecimal, time: Int64, buyerIsMaker: Bool,
        aggregated: Bool, first: Int64?, last: Int64?, receiveTime: UnixNanos
    ) -> Trade? {
        var count: Int64 = 1
        if aggregated {
            guard let first, let last, last >= first else { return nil }
            count = last - first + 1
        }
        return Trade(
            instrument: instrument, id: .number(id), price: price, quantity: quantity, side: buyerIsMaker ? .sell : .buy,
            eventTime: .milliseconds(time), receiveTime: receiveTime, count: count, stream: aggregated ? .aggregated : .raw)
    }

    /// The rest of a `depthUpdate` payload after its `"e"` value:
    /// `"E":…,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[…]}`
    /// (futures add `"T"` and `"pu"`).
    mutating func parseDepthInline(
        _ s: inout JSONScanner, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var found: Instrument? = nil
        var symbolRaw: UnsafeRawBufferPointer? = nil
        var first: Int64? = nil
        var last: Int64? = nil
        var previous: Int64? = nil
        var eventMs: Int64? = nil
        var transactMs: Int64? = nil
        var bids: [BookLevel] = []
        var asks: [BookLevel] = []
        var levelsOK = true
        var sawBids = false
        var sawAsks = false
        while let key = s.nextKey() {
            if key.count == 2 {
                if key.equals("pu") { previous = s.readInt64() } else { guard s.skipValue() != nil else { break } }
                continue
            }
            guard key.count == 1 else {
                guard s.skipValue() != nil else { break }
                continue
            }
            switch key[0] {
            case UInt8(ascii: "s"):
                symbolRaw = s.readStringRaw()
                if let raw = symbolRaw { found = self.instrument(raw) }
            case UInt8(ascii: "U"): first = s.readInt64()
            case UInt8(ascii: "u"): last = s.readInt64()
            case UInt8(ascii: "E"): eventMs = s.readInt64()
            case UInt8(ascii: "T"): transactMs = s.readInt64()
            case UInt8(ascii: "b"):
                sawBids = true
                levelsOK = levelsOK && Self.levels(&s, into: &bids)
            case UInt8(ascii: "a"):
                sawAsks = true
                levelsOK = levelsOK && Self.levels(&s, into: &asks)
            default: guard s.skipValue() != nil else { break }
            }
            if !levelsOK { break }
        }
        if s.failed && levelsOK { throw VenueParseFailure(reason: "malformed JSON") }
        let instrument = try resolve(symbolRaw, found)
        guard let first, let last, let eventMs = transactMs ?? eventMs else {
            throw VenueParseFailure(reason: "depthUpdate missing U/u/E", instrument: instrument)
        }
        guard levelsOK, sawBids, sawAsks, !s.failed else {
            throw VenueParseFailure(reason: "depthUpdate bad levels", instrument: instrument)
        }
        let sequence: BookSequence
        if isFutures {
            guard let previous else { throw VenueParseFailure(reason: "futures depthUpdate missing pu", instrument: instrument) }
            sequence = .linked(first: first, last: last, previous: previous)
        } else {
            sequence = .range(first: first, last: last)
        }
        out.append(
            .book(
                BookUpdate(
                    instrument: instrument, isSnapshot: false, bids: bids, asks: asks, sequence: sequence,
                    rule: isFutures ? .binanceFutures : .binanceSpot, eventTime: .milliseconds(eventMs),
                    receiveTime: receiveTime)))
    }

    /// `bookTicker`: `{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}`.
    /// Spot carries no time; futures add `"e"`, `"E"` and `"T"`.
    mutating func parseBookTickerInline(
        _ s: inout JSONScanner, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var found: Instrument? = nil
        var symbolRaw: UnsafeRawBufferPointer? = nil
        var updateID: Int64? = nil
        var bidPrice: FixedDecimal? = nil
        var bidQuantity: FixedDecimal? = nil
        var askPrice: FixedDecimal? = nil
        var askQuantity: FixedDecimal? = nil
        var eventMs: Int64? = nil
        var transactMs: Int64? = nil
        var sawPrices = false
        while let key = s.nextKey() {
            guard key.count == 1 else {
                guard s.skipValue() != nil else { break }
                continue
            }
            switch key[0] {
            case UInt8(ascii: "s"):
                symbolRaw = s.readStringRaw()
                if let raw = symbolRaw { found = self.instrument(raw) }
            case UInt8(ascii: "u"): updateID = s.readInt64()
            case UInt8(ascii: "b"):
                sawPrices = true
                bidPrice = s.readDecimal()
            case UInt8(ascii: "B"): bidQuantity = s.readDecimal()
            case UInt8(ascii: "a"):
                sawPrices = true
                askPrice = s.readDecimal()
            case UInt8(ascii: "A"): askQuantity = s.readDecimal()
            case UInt8(ascii: "E"): eventMs = s.readInt64()
            case UInt8(ascii: "T"): transactMs = s.readInt64()
            default: guard s.skipValue() != nil else { break }
            }
        }
        if s.failed { throw VenueParseFailure(reason: "malformed JSON") }
        guard updateID != nil || sawPrices else { throw VenueParseFailure(reason: "unknown message") }
        let instrument = try resolve(symbolRaw, found)
        guard let updateID, let bidPrice, let bidQuantity, let askPrice, let askQuantity,
            !bidPrice.isNegative, !bidQuantity.isNegative, !askPrice.isNegative, !askQuantity.isNegative
        else { throw VenueParseFailure(reason: "bookTicker missing or bad field", instrument: instrument) }
        let venueMs = transactMs ?? eventMs
        out.append(
            .ticker(
                Ticker(
                    instrument: instrument, bestBid: BookLevel(price: bidPrice, quantity: bidQuantity),
                    bestAsk: BookLevel(price: askPrice, quantity: askQuantity), updateID: updateID,
                    eventTime: venueMs.map(UnixNanos.milliseconds) ?? receiveTime, receiveTime: receiveTime,
                    timeSource: venueMs == nil ? .receive : .venue)))
    }
}
