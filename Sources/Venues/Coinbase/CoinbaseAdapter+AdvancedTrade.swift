internal import MarketCore

/// Coinbase Advanced Trade market-data feed (`wss://advanced-trade-ws.coinbase.com`).
///
/// Every message is an envelope `{"channel", "client_id", "timestamp", "sequence_num", "events":[…]}`.
/// Channel reference: https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-channels
extension CoinbaseAdapter {
    /// Records the envelope's `sequence_num` for the connection, then dispatches on `channel`.
    mutating func handleAdvancedTrade(
        _ envelope: CoinbaseEnvelope, _ wire: CoinbaseWire, connection: String, receiveTime: UnixNanos,
        into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        // Every channel counts in `sequence_num`, so every message is observed, even ones not parsed further.
        let sequence = wire.int(envelope.sequenceNum)
        if let sequence { linkers[connection, default: CoinbaseSequenceLinker()].observe(sequence) }

        guard let channel = wire.string(envelope.channel) else {
            linkers[connection]?.distrustUpToLast()
            throw VenueParseFailure(reason: "bad channel")
        }
        if channel.equals("l2_data") {
            guard let sequence else {
                // Without its number the message cannot be placed; whatever book it carried is lost.
                linkers[connection]?.distrustUpToLast()
                throw VenueParseFailure(reason: Self.reason("sequence_num", envelope.sequenceNum))
            }
            do throws(VenueParseFailure) {
                try parseLevel2(envelope, wire, sequence: sequence, connection: connection, receiveTime: receiveTime, into: &out)
            } catch {
                // A book message that could not be applied: the connection's continuity is broken from here.
                linkers[connection]?.distrustUpToLast()
                throw error
            }
        } else if channel.equals("market_trades") {
            try parseMarketTrades(envelope, wire, receiveTime: receiveTime, into: &out)
        } else if channel.equals("heartbeats") || channel.equals("subscriptions") {
            // Control messages: keepalive (`heartbeat_counter`) and the subscription ack.
            return
        } else {
            throw VenueParseFailure(reason: "unsupported channel")
        }
    }

    /// `l2_data` (subscribed as `level2`) → one ``BookUpdate`` per event.
    ///
    /// ```json
    /// {"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":0,
    ///  "events":[{"type":"snapshot","product_id":"BTC-USD","updates":[
    ///    {"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":"21921.73","new_quantity":"0.06317902"},
    ///    {"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":"21921.3","new_quantity":"0.02"}]}]}
    /// ```
    /// `type` `snapshot` is a full book, `update` a delta. `side` `bid` is a bid; `offer` (the
    /// documented value; `ask` is accepted too) an ask. `new_quantity` is the new size at the level,
    /// `"0"` removes it. Times: a snapshot's levels carry the epoch (as in the sample), so a snapshot
    /// uses the envelope `timestamp`; an update uses its latest `event_time` (the matching engine's
    /// time), else the envelope `timestamp`; with neither, the receive time (marked `.receive`).
    ///
    /// Sequencing: see ``CoinbaseSequenceLinker`` for what the `.linked` numbers promise.
    mutating func parseLevel2(
        _ envelope: CoinbaseEnvelope, _ wire: CoinbaseWire, sequence n: Int64, connection: String,
        receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var envelopeTime: UnixNanos?
        if envelope.timestamp != nil {
            guard let t = wire.time(envelope.timestamp) else { throw VenueParseFailure(reason: "bad timestamp") }
            envelopeTime = t
        }
        guard let events = envelope.events else { throw VenueParseFailure(reason: "missing key events") }

        // Parse the whole message before publishing anything: a frame yields all its books or none.
        var parsed: [(instrument: Instrument, isSnapshot: Bool, bids: [BookLevel], asks: [BookLevel], latest: UnixNanos?)] = []
        let ok = try wire.walkElements(at: events.lowerBound) { start throws(VenueParseFailure) -> Int? in
            var type: Range<Int>?
            var product: Range<Int>?
            var updates: Range<Int>?
            let end = wire.walkObject(at: start) { key, r in
                if key.equals("type") { type = r } else if key.equals("product_id") { product = r }
                else if key.equals("updates") { updates = r }
            }
            guard let end else { return nil }
            guard let kind = wire.string(type), kind.equals("snapshot") || kind.equals("update") else {
                throw VenueParseFailure(reason: Self.reason("event type", type))
            }
            guard let productRaw = wire.string(product),
                let instrument = symbols.instrument(for: productRaw, make: Self.instrument(productID:))
            else { throw VenueParseFailure(reason: product == nil ? "missing key product_id" : "unknown symbol") }
            guard let updates else { throw VenueParseFailure(reason: "missing key updates") }
            var bids: [BookLevel] = []
            var asks: [BookLevel] = []
            var latest: UnixNanos?
            guard Self.level2Updates(at: updates, wire, bids: &bids, asks: &asks, latest: &latest) else {
                throw VenueParseFailure(reason: "bad updates")
            }
            parsed.append((instrument, kind.equals("snapshot"), bids, asks, latest))
            return end
        }
        guard ok else { throw VenueParseFailure(reason: "malformed events") }

        for event in parsed {
            let previous = linkers[connection, default: CoinbaseSequenceLinker()].link(product: event.instrument.symbol, at: n)
            var eventTime = receiveTime
            var source = TimeSource.receive
            if !event.isSnapshot, let latest = event.latest, latest.rawValue > 0 {
                eventTime = latest
                source = .venue
            } else if let envelopeTime {
                eventTime = envelopeTime
                source = .venue
            }
            out.append(
                .book(
                    BookUpdate(
                        instrument: event.instrument, isSnapshot: event.isSnapshot, bids: event.bids,
                        asks: event.asks, sequence: .linked(first: n, last: n, previous: previous),
                        rule: .inStreamSequenced, eventTime: eventTime, receiveTime: receiveTime, timeSource: source)))
        }
    }

    /// Parses an `updates` array of `{side, event_time, price_level, new_quantity}` objects.
    /// `latest` receives the largest `event_time`. - Returns: `false` when malformed.
    static func level2Updates(
        at range: Range<Int>, _ wire: CoinbaseWire, bids: inout [BookLevel], asks: inout [BookLevel],
        latest: inout UnixNanos?
    ) -> Bool {
        wire.walkElements(at: range.lowerBound) { start in
            var side: Range<Int>?
            var time: Range<Int>?
            var price: Range<Int>?
            var quantity: Range<Int>?
            let end = wire.walkObject(at: start) { key, r in
                if key.equals("side") { side = r } else if key.equals("price_level") { price = r }
                else if key.equals("new_quantity") { quantity = r } else if key.equals("event_time") { time = r }
            }
            guard let end, let sideRaw = wire.string(side), let p = wire.decimal(price), let q = wire.decimal(quantity)
            else { return nil }
            if time != nil {
                guard let t = wire.time(time) else { return nil }
                if latest.map({ t > $0 }) ?? true { latest = t }
            }
            if sideRaw.equals("bid") {
                bids.append(BookLevel(price: p, quantity: q))
            } else if sideRaw.equals("offer") || sideRaw.equals("ask") {
                asks.append(BookLevel(price: p, quantity: q))
            } else {
                return nil
            }
            return end
        }
    }

    /// `market_trades` → one ``Trade`` per trade, ordered by (time, trade id).
    ///
    /// ```json
    /// {"channel":"market_trades","client_id":"","timestamp":"2023-02-09T20:19:35.39625135Z","sequence_num":0,
    ///  "events":[{"type":"snapshot","trades":[{"trade_id":"000000000","product_id":"ETH-USD",
    ///    "price":"1260.01","size":"0.3","side":"BUY","time":"2019-08-14T20:42:27.265Z"}]}]}
    /// ```
    /// Side: "Each market trade belongs to a `side`, which refers to the makers side, and can be of
    /// type `BUY`, or `SELL`" (https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-channels#market-trades-channel),
    /// so the taker side published is the opposite, as for the Exchange `match` (CONTRACTS.md).
    ///
    /// Order: an `update` batches the last 250 ms and a `snapshot` replays recent trades; the docs do
    /// not promise an order inside a batch. Downstream dedup keeps a per-instrument trade-id
    /// high-water mark, so trades are emitted sorted by (time, trade id), stably, which is the
    /// venue's own order. Both `snapshot` and `update` trades are published (dedup drops repeats).
    /// `trade_id` is sent as a string; a numeric one becomes ``TradeID/number(_:)``.
    mutating func parseMarketTrades(
        _ envelope: CoinbaseEnvelope, _ wire: CoinbaseWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        guard let events = envelope.events else { throw VenueParseFailure(reason: "missing key events") }
        var trades: [Trade] = []
        let ok = try wire.walkElements(at: events.lowerBound) { start throws(VenueParseFailure) -> Int? in
            var type: Range<Int>?
            var list: Range<Int>?
            let end = wire.walkObject(at: start) { key, r in
                if key.equals("trades") { list = r } else if key.equals("type") { type = r }
            }
            guard let end else { return nil }
            guard let kind = wire.string(type), kind.equals("snapshot") || kind.equals("update") else {
                throw VenueParseFailure(reason: Self.reason("event type", type))
            }
            guard let list else { throw VenueParseFailure(reason: "missing key trades") }
            let listOK = try wire.walkElements(at: list.lowerBound) { start throws(VenueParseFailure) -> Int? in
                guard let (end, trade) = try marketTrade(at: start, wire, receiveTime: receiveTime) else { return nil }
                trades.append(trade)
                return end
            }
            return listOK ? end : nil
        }
        guard ok else { throw VenueParseFailure(reason: "malformed events") }

        if !Self.isOrdered(trades) {
            trades = trades.enumerated().sorted { a, b in
                Self.precedes(a.element, b.element) || (!Self.precedes(b.element, a.element) && a.offset < b.offset)
            }.map(\.element)
        }
        for trade in trades { out.append(.trade(trade)) }
    }

    /// One `market_trades` trade object; `nil` when it is not an object.
    private mutating func marketTrade(
        at start: Int, _ wire: CoinbaseWire, receiveTime: UnixNanos
    ) throws(VenueParseFailure) -> (Int, Trade)? {
        var e = CoinbaseEnvelope()  // same key names as the Exchange `match`
        guard let end = wire.walkObject(at: start, { e.assign($0, $1) }) else { return nil }
        guard let productRaw = wire.string(e.productID),
            let instrument = symbols.instrument(for: productRaw, make: Self.instrument(productID:))
        else { throw VenueParseFailure(reason: e.productID == nil ? "missing key product_id" : "unknown symbol") }
        let id: TradeID
        if let n = wire.int(e.tradeID) {
            id = .number(n)
        } else if let text = wire.decodedString(e.tradeID), !text.isEmpty {
            id = .text(text)
        } else {
            throw VenueParseFailure(reason: Self.reason("trade_id", e.tradeID))
        }
        guard let price = wire.decimal(e.price) else { throw VenueParseFailure(reason: Self.reason("price", e.price)) }
        guard let size = wire.decimal(e.size) else { throw VenueParseFailure(reason: Self.reason("size", e.size)) }
        guard let maker = Self.side(wire.string(e.side)) else { throw VenueParseFailure(reason: Self.reason("side", e.side)) }
        guard let time = wire.time(e.time) else { throw VenueParseFailure(reason: Self.reason("time", e.time)) }
        let trade = Trade(
            instrument: instrument, id: id, price: price, quantity: size, side: maker == .buy ? .sell : .buy,
            eventTime: time, receiveTime: receiveTime, count: 1, stream: .raw)
        return (end, trade)
    }

    static func precedes(_ a: Trade, _ b: Trade) -> Bool {
        if a.eventTime != b.eventTime { return a.eventTime < b.eventTime }
        if case .number(let x) = a.id, case .number(let y) = b.id { return x < y }
        return false
    }

    static func isOrdered(_ trades: [Trade]) -> Bool {
        for i in trades.indices.dropFirst() where precedes(trades[i], trades[i - 1]) { return false }
        return true
    }
}

/// Continuity of Advanced Trade `sequence_num` on one connection, and the link it gives book messages.
///
/// `sequence_num` is one counter per **connection**, shared by every channel and product on it
/// (heartbeats, market_trades, l2_data for each product…). So consecutive book messages of one
/// product do not have consecutive numbers, and `.sequence(n)` with an `n == previous + 1` check per
/// product would report a gap on almost every message of a shared connection.
///
/// Instead the adapter watches every message of the connection and gives each book message
/// `.linked(first: n, last: n, previous: p)`, where `p` is the `sequence_num` of the same product's
/// previous book message **only if every number between `p` and `n` was received and parsed** on
/// this connection. Otherwise `p` is ``CoinbaseAdapter/unprovenLink``, which matches nothing, so the
/// synchronizer's `previous == previous last` check fails and the book is resynced. What the check
/// then assumes: (1) Coinbase numbers every message of the connection consecutively (a missing
/// number is a lost message, of any channel — it is treated as a possible lost book message for
/// every product, so the check can fail falsely but never pass falsely); (2) the adapter sees every
/// frame of the connection (true for live feeds and whole captures). A book message the adapter
/// could not parse, or an unreadable frame, breaks continuity the same way. A number that does not
/// increase means a new connection (sequence restarts): all links are dropped.
struct CoinbaseSequenceLinker: Sendable {
    /// The last `sequence_num` seen on the connection.
    private(set) var last: Int64?
    /// The first number of the current run in which nothing was lost.
    private(set) var runStart: Int64 = 0
    /// Canonical symbol → `sequence_num` of its last book message.
    private var lastBook: [String: Int64] = [:]

    /// Records the `sequence_num` of any message on the connection.
    mutating func observe(_ n: Int64) {
        if let last {
            if n == last &+ 1 {
                // Contiguous: the run continues.
            } else if n > last {
                runStart = n  // last+1 ..< n were lost
            } else {
                runStart = n  // restarted (new connection) or replayed: nothing before is comparable
                lastBook.removeAll()
            }
        } else {
            runStart = n
        }
        last = n
    }

    /// Nothing up to the last observed message can be trusted (a message was unreadable or not applied).
    mutating func distrustUpToLast() {
        runStart = (last ?? -1) &+ 1
    }

    /// The `previous` link for a book message of `product` numbered `n`, and records it as that product's last.
    mutating func link(product: String, at n: Int64) -> Int64 {
        defer { lastBook[product] = n }
        guard let p = lastBook[product], p >= runStart, p <= n else { return CoinbaseAdapter.unprovenLink }
        return p
    }
}
