import MarketCore

/// The best bid and ask of a `tickers` stream as far as snapshot and deltas have told them.
struct BybitTickerTop: Sendable, Hashable {
    var bidPrice: FixedDecimal?
    var bidSize: FixedDecimal?
    var askPrice: FixedDecimal?
    var askSize: FixedDecimal?

    /// A side's level when both price and a positive size are known (options send `"0"` for no quote).
    static func level(_ price: FixedDecimal?, _ size: FixedDecimal?) -> BookLevel? {
        guard let price, let size, !size.isZero, !price.isZero else { return nil }
        return BookLevel(price: price, quantity: size)
    }
}

extension BybitAdapter {
    // MARK: publicTrade

    /// `publicTrade.{symbol}` (https://bybit-exchange.github.io/docs/v5/websocket/public/trade), e.g.
    /// `{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}`.
    ///
    /// Per element: `T` fill time (ms) → event time, `s` symbol, `S` "Side of taker. Buy, Sell" → taker
    /// side, `v` size, `p` price, `i` trade id. `L`, `BT` (block trade), `RPI`, `seq` and the option
    /// fields (`mP`, `iP`, `mIv`, `iv`) are not needed. For options the topic names the base coin
    /// (`publicTrade.BTC`), so each element's own `s` is used.
    ///
    /// Trade ids are ``TradeID/text(_:)``: the docs type `i` as a string, derivatives send UUIDs, and
    /// nothing promises that spot's numeric-looking ids are contiguous or even ordered, so treating
    /// them as numbers would make the normalizer drop or gap-flag trades on a guess.
    mutating func handleTrades(
        _ envelope: Envelope, _ wire: BybitWire, category: BybitCategory, receiveTime: UnixNanos,
        into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        guard let dataAt = envelope.data else { throw VenueParseFailure(reason: "publicTrade without data") }
        var elements: [Int] = []
        guard wire.walkArray(at: dataAt, { elements.append($0); return true }) else {
            throw VenueParseFailure(reason: "publicTrade data is not an array")
        }
        // All or nothing: a bad element discards the frame's trades, reported once.
        var trades: [VenueEvent] = []
        trades.reserveCapacity(elements.count)
        for at in elements {
            trades.append(.trade(try trade(at: at, wire, category: category, receiveTime: receiveTime)))
        }
        out.append(contentsOf: trades)
    }

    /// One element of `publicTrade` `data`.
    mutating func trade(
        at: Int, _ wire: BybitWire, category: BybitCategory, receiveTime: UnixNanos
    ) throws(VenueParseFailure) -> Trade {
        var T: Int? = nil
        var s: Int? = nil
        var S: Int? = nil
        var v: Int? = nil
        var p: Int? = nil
        var i: Int? = nil
        let walked = wire.walkObject(at: at) { key, at in
            guard key.count == 1 else { return }
            switch key[0] {
            case UInt8(ascii: "T"): T = at
            case UInt8(ascii: "s"): s = at
            case UInt8(ascii: "S"): S = at
            case UInt8(ascii: "v"): v = at
            case UInt8(ascii: "p"): p = at
            case UInt8(ascii: "i"): i = at
            default: break
            }
        }
        guard walked != nil else { throw VenueParseFailure(reason: "publicTrade element is not an object") }
        let instrument = try instrument(wire.string(s), category: category)
        let side: Side
        if wire.stringEquals(S, "Buy") {
            side = .buy
        } else if wire.stringEquals(S, "Sell") {
            side = .sell
        } else {
            throw VenueParseFailure(reason: "publicTrade missing or bad S", instrument: instrument)
        }
        guard let time = BybitWire.nanos(milliseconds: wire.int(T)) else {
            throw VenueParseFailure(reason: "publicTrade missing or bad T", instrument: instrument)
        }
        guard let price = wire.decimal(p), let size = wire.decimal(v), !price.isNegative, !size.isNegative else {
            throw VenueParseFailure(reason: "publicTrade missing or bad p/v", instrument: instrument)
        }
        guard let id = wire.text(i), !id.isEmpty else {
            throw VenueParseFailure(reason: "publicTrade missing or bad i", instrument: instrument)
        }
        return Trade(
            instrument: instrument, id: .text(id), price: price, quantity: size, side: side, eventTime: time,
            receiveTime: receiveTime, count: 1, stream: .raw)
    }

    // MARK: tickers

    /// `tickers.{symbol}` (https://bybit-exchange.github.io/docs/v5/websocket/public/ticker), e.g.
    /// `{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT",…,"bid1Price":"17215.50","bid1Size":"84.489","ask1Price":"17216.00","ask1Size":"83.020"},"cs":24987956059,"ts":1673272861686}`.
    ///
    /// Linear and inverse send a snapshot, then deltas that carry only the fields that changed ("If a
    /// response param is not found in the message, then its value has not changed"), so the top of
    /// book is merged per connection and instrument. Options name the fields `bidPrice`/`bidSize`/
    /// `askPrice`/`askSize`. Spot tickers carry no bid or ask at all and produce nothing. A ticker is
    /// emitted when the message touched the top of book; `cs` (cross sequence) is its update id and
    /// `ts` its time.
    mutating func handleTicker(
        _ envelope: Envelope, _ wire: BybitWire, category: BybitCategory, connection: String, receiveTime: UnixNanos,
        into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        let isSnapshot: Bool
        if wire.stringEquals(envelope.type, "snapshot") {
            isSnapshot = true
        } else if wire.stringEquals(envelope.type, "delta") {
            isSnapshot = false
        } else {
            throw VenueParseFailure(reason: "unknown tickers type")
        }
        guard let dataAt = envelope.data else { throw VenueParseFailure(reason: "tickers without data") }
        var symbol: Int? = nil
        var fields: [Int?] = [nil, nil, nil, nil]  // bid price, bid size, ask price, ask size
        let walked = wire.walkObject(at: dataAt) { key, at in
            if key.equals("symbol") {
                symbol = at
            } else if key.equals("bid1Price") || key.equals("bidPrice") {
                fields[0] = at
            } else if key.equals("bid1Size") || key.equals("bidSize") {
                fields[1] = at
            } else if key.equals("ask1Price") || key.equals("askPrice") {
                fields[2] = at
            } else if key.equals("ask1Size") || key.equals("askSize") {
                fields[3] = at
            }
        }
        guard walked != nil else { throw VenueParseFailure(reason: "tickers data is not an object") }
        let instrument = try instrument(wire.string(symbol), category: category)
        var values: [FixedDecimal?] = [nil, nil, nil, nil]
        for k in 0..<4 {
            guard let at = fields[k] else { continue }
            // An empty string means "no quote" (no bid or ask on the book).
            if let raw = wire.string(at), raw.count == 0 { continue }
            guard let v = wire.decimal(at), !v.isNegative else {
                throw VenueParseFailure(reason: "tickers bad bid/ask", instrument: instrument)
            }
            values[k] = v
        }
        var updateID: Int64? = nil
        if envelope.cs != nil {
            guard let cs = wire.int(envelope.cs) else { throw VenueParseFailure(reason: "tickers bad cs", instrument: instrument) }
            updateID = cs
        }
        let (time, source) = try eventTime(
            envelope, wire, preferMatchingEngine: false, receiveTime: receiveTime, instrument: instrument)
        var top = isSnapshot ? BybitTickerTop() : (tickerTops[connection]?[instrument] ?? BybitTickerTop())
        let touched = fields.contains { $0 != nil }
        if fields[0] != nil { top.bidPrice = values[0] }
        if fields[1] != nil { top.bidSize = values[1] }
        if fields[2] != nil { top.askPrice = values[2] }
        if fields[3] != nil { top.askSize = values[3] }
        tickerTops[connection, default: [:]][instrument] = top
        guard touched else { return }
        out.append(
            .ticker(
                Ticker(
                    instrument: instrument, bestBid: BybitTickerTop.level(top.bidPrice, top.bidSize),
                    bestAsk: BybitTickerTop.level(top.askPrice, top.askSize), updateID: updateID, eventTime: time,
                    receiveTime: receiveTime, timeSource: source)))
    }
}
