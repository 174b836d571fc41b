public import MarketCore

/// Parses OKX v5 public websocket frames (`wss://ws.okx.com:8443/ws/v5/public`) into
/// ``VenueEvent``s, for venue id `okx`.
///
/// Reference: https://www.okx.com/docs-v5/en/ — "WS / Trades channel"
/// (`#order-book-trading-market-data-ws-trades-channel`), "WS / Order book channel"
/// (`#order-book-trading-market-data-ws-order-book-channel`, incl. "Sequence ID" and "Checksum"),
/// "WS / Tickers channel" (`#order-book-trading-market-data-ws-tickers-channel`), and the
/// websocket overview for `ping`/`pong`, `event` responses and notices (`#overview-websocket`).
///
/// | message | result |
/// |---|---|
/// | `trades` (aggregated per taker order and price), `trades-all` | ``Trade`` per element (`side` is the taker's) |
/// | `books`, `books-l2-tbt`, `books50-l2-tbt` (`action` snapshot/update) | ``BookUpdate``, see ``OKXAdapter`` sequencing below |
/// | `books5`, `bbo-tbt` (full snapshot every push, no `action`) | ``BookUpdate`` snapshot, unsequenced |
/// | `tickers` | ``Ticker`` (best bid/ask) |
/// | `{"event":"error",…}`, `channel-conn-count-error` | ``FeedStatus`` `venue_error` |
/// | `{"event":"notice","code":"64008",…}` (service upgrade, reconnect) | ``FeedStatus`` `server_shutdown` |
/// | `subscribe`/`unsubscribe`/`login`/`channel-conn-count` events, text `pong` | nothing (control) |
/// | other known public channels (candles, mark/index prices, funding, `books-elp`, …) | nothing (not normalized) |
///
/// Anything else — an unknown channel or event, a missing required field, an unknown instrument,
/// malformed or truncated JSON — becomes one `.parseError` with an excerpt; a frame yields either
/// all of its events or that one error, never a part.
///
/// **Book sequencing.** With `seqId`/`prevSeqId` (current feeds), a snapshot is
/// `.linked(first: seqId, last: seqId, previous: prevSeqId)` (`prevSeqId` is `-1` there) and an update
/// `.linked(first: seqId, last: seqId, previous: prevSeqId)`, under `.inStreamSequenced`: "The
/// prevSeqId in the new message matches with seqId of the previous message". The documented
/// exceptions — a keep-alive with empty sides and `prevSeqId == seqId == ` the last `seqId`, and a
/// maintenance reset where `seqId < prevSeqId` but `prevSeqId` still equals the last `seqId` — both
/// satisfy `previous == last`, so they pass the synchronizer's rule as ordinary updates. Without
/// `seqId` (recordings before OKX added it) messages are `.unsequenced` and the checksum is the
/// continuity check. A non-zero `checksum` is attached as an ``OKXChecksum`` check; `0` is OKX's
/// deprecated placeholder (see ``OKXChecksum``) and attaches nothing.
///
/// **Volumes** stay in the venue's unit: contracts for swaps, futures and options, base currency for spot.
///
/// Pure: no I/O, no clock. The only state is the instrument cache.
public struct OKXAdapter: VenueAdapter {
    public var venue: Venue { .okx }

    /// False. The `trades` channel aggregates: "The `tradeId` field in the message becomes the last
    /// trade ID in the aggregation" and `count` trades are covered (ids `tradeId − count + 1 … tradeId`),
    /// so consecutive messages may legitimately jump by more than one. The normalizer compares each id
    /// with the previous id + 1 and would report false gaps. (The 2021/2022 recordings predate
    /// aggregation: their ids are contiguous per instrument, which a test checks.)
    public var tradeIDsAreContiguous: Bool { false }

    var symbols = SymbolCache()

    public init() {}

    public mutating func handle(
        kind: FrameKind, url: String?, connection: String?, frame: UnsafeRawBufferPointer, receiveTime: UnixNanos,
        into out: inout [VenueEvent]
    ) {
        switch kind {
        case .ws:
            handleFrame(frame, receiveTime: receiveTime, into: &out)
        case .open, .sent, .tick, .close:
            return
        case .rest:
            // OKX sends book snapshots in-stream; the adapter reads no REST response.
            out.append(parseError("unexpected REST response", frame: frame))
        }
    }

    /// Parses one websocket frame. The one place a failure of this venue's readers becomes a
    /// `parse_error`: all or nothing, so what the frame produced before failing is dropped.
    public mutating func handleFrame(_ frame: UnsafeRawBufferPointer, receiveTime: UnixNanos, into out: inout [VenueEvent]) {
        if Self.isPong(frame) { return }
        let start = out.count
        do throws(VenueParseFailure) {
            try readFrame(frame, receiveTime: receiveTime, into: &out)
        } catch {
            out.removeSubrange(start...)
            out.append(parseError(error, frame: frame))
        }
    }

    mutating func readFrame(
        _ frame: UnsafeRawBufferPointer, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        let wire = OKXWire(bytes: frame)
        var envelope = OKXEnvelope()
        guard let end = wire.walkObject(at: 0, { envelope.assign($0, $1) }) else {
            var probe = JSONScanner(frame)
            throw VenueParseFailure(reason: probe.peek() == UInt8(ascii: "{") ? "malformed JSON" : "not a JSON object")
        }
        var rest = JSONScanner(frame, index: end)
        guard rest.isAtEnd else { throw VenueParseFailure(reason: "trailing bytes after JSON object") }
        if envelope.event != nil {
            try handleEvent(envelope, wire, receiveTime: receiveTime, into: &out)
            return
        }
        guard let argRange = envelope.arg, let dataRange = envelope.data else {
            throw VenueParseFailure(reason: "unknown message (no event, arg or data)")
        }
        var arg = OKXArg()
        guard wire.walkObject(at: argRange.lowerBound, { arg.assign($0, $1) }) != nil, let channel = wire.string(arg.channel)
        else { throw VenueParseFailure(reason: "bad arg") }
        try handleData(channel: channel, arg: arg, action: envelope.action, data: dataRange, wire, receiveTime: receiveTime, into: &out)
    }

    /// What a channel's messages are.
    enum ChannelKind {
        case trades(TradeStream)
        case incrementalBook
        case snapshotBook
        case tickers
        case ignored
    }

    /// The channel's kind, or `nil` for a channel OKX does not document (a parse error).
    static func channelKind(_ channel: UnsafeRawBufferPointer) -> ChannelKind? {
        if channel.equals("books") || channel.equals("books-l2-tbt") || channel.equals("books50-l2-tbt") {
            return .incrementalBook
        }
        if channel.equals("trades") { return .trades(.aggregated) }
        if channel.equals("tickers") { return .tickers }
        if channel.equals("books5") || channel.equals("bbo-tbt") { return .snapshotBook }
        // `trades-all` (on /ws/v5/business) sends every trade once: preferred over `trades` when both arrive.
        if channel.equals("trades-all") { return .trades(.raw) }
        for known in ignoredChannels where channel.equals(known) { return .ignored }
        for prefix in ignoredChannelPrefixes where channel.count > prefix.utf8CodeUnitCount
            && UnsafeRawBufferPointer(rebasing: channel[0..<prefix.utf8CodeUnitCount]).equals(prefix)
        {
            return .ignored
        }
        return nil
    }

    /// Documented public channels the gateway does not normalize. `books-elp`/`books-rpi` carry other
    /// order populations (Enhanced Liquidity Program, retail price improvement) and must never be
    /// merged into the instrument's book.
    static let ignoredChannels: [StaticString] = [
        "instruments", "open-interest", "funding-rate", "price-limit", "mark-price", "index-tickers", "opt-summary",
        "estimated-price", "liquidation-orders", "status", "books-elp", "books-rpi", "option-trades",
        "call-auction-details", "adl-warning", "public-block-trades", "block-tickers",
    ]
    /// `candle1m`, `mark-price-candle1m`, `index-candle1m`, …: candles are built locally from trades.
    static let ignoredChannelPrefixes: [StaticString] = ["candle", "mark-price-candle", "index-candle"]

    mutating func handleData(
        channel: UnsafeRawBufferPointer, arg: OKXArg, action: Range<Int>?, data: Range<Int>, _ wire: OKXWire,
        receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        guard let kind = Self.channelKind(channel) else {
            throw VenueParseFailure(reason: "unknown channel \(String(decoding: channel, as: UTF8.self))")
        }
        if case .ignored = kind { return }
        let argInstrument = try instrument(wire.string(arg.instID), required: false)
        var isSnapshot = true
        if case .incrementalBook = kind {
            guard let a = wire.string(action) else {
                throw VenueParseFailure(reason: action == nil ? "book message without action" : "bad action", instrument: argInstrument)
            }
            if a.equals("snapshot") {
                isSnapshot = true
            } else if a.equals("update") {
                isSnapshot = false
            } else {
                throw VenueParseFailure(reason: "unknown action", instrument: argInstrument)
            }
        }
        // A failing element ends the walk; the entry point drops the elements read before it.
        let ok = try wire.walkElements(at: data.lowerBound, end: data.upperBound) { at throws(VenueParseFailure) -> Int? in
            var element = OKXElement()
            guard let end = wire.walkObject(at: at, { element.assign($0, $1) }) else { return nil }
            switch kind {
            case .trades(let stream):
                // `instId` of the element (always sent) wins over the arg's.
                let inst = try elementInstrument(element, wire, fallback: argInstrument)
                out.append(.trade(try Self.trade(element, wire, inst, stream: stream, receiveTime: receiveTime)))
            case .incrementalBook, .snapshotBook:
                guard let inst = argInstrument else { throw VenueParseFailure(reason: "missing key arg.instId") }
                let incremental: Bool
                if case .incrementalBook = kind { incremental = true } else { incremental = false }
                out.append(
                    .book(try Self.book(element, wire, inst, isSnapshot: isSnapshot, incremental: incremental, receiveTime: receiveTime)))
            case .tickers:
                let inst = try elementInstrument(element, wire, fallback: argInstrument)
                out.append(.ticker(try Self.ticker(element, wire, inst, receiveTime: receiveTime)))
            case .ignored:
                break
            }
            return end
        }
        guard ok else { throw VenueParseFailure(reason: "malformed data", instrument: argInstrument) }
    }

    /// Resolves an `instId`; `nil` when absent and not required. Throws on a bad or unknown symbol.
    mutating func instrument(_ raw: UnsafeRawBufferPointer?, required: Bool) throws(VenueParseFailure) -> Instrument? {
        guard let raw else {
            if required { throw VenueParseFailure(reason: "bad instId") }
            return nil
        }
        guard let instrument = symbols.instrument(for: raw, make: OKXSymbols.instrument(native:)) else {
            throw VenueParseFailure(reason: "unknown symbol \(String(decoding: raw, as: UTF8.self))")
        }
        return instrument
    }

    /// The element's own `instId` when it has one, else the arg's.
    mutating func elementInstrument(_ e: OKXElement, _ wire: OKXWire, fallback: Instrument?) throws(VenueParseFailure) -> Instrument {
        if e.instID != nil, let inst = try instrument(wire.string(e.instID), required: true) { return inst }
        guard let fallback else { throw VenueParseFailure(reason: "missing key instId") }
        return fallback
    }

    static func reason(_ key: String, _ range: Range<Int>?) -> String {
        range == nil ? "missing key \(key)" : "bad \(key)"
    }

    // MARK: Messages

    /// `trades` / `trades-all` element → ``Trade``.
    ///
    /// ```json
    /// {"arg":{"channel":"trades","instId":"BTC-USD-220527"},"data":[{"instId":"BTC-USD-220527","tradeId":"7849",
    ///  "px":"30218.8","sz":"1","side":"buy","ts":"1652459199958"}]}
    /// ```
    /// `side` is the taker's ("Trade side of taker"); `sz` is contracts for derivatives, base currency
    /// for spot; `ts` is the fill time (ms). Current feeds add `count` ("The count of trades
    /// aggregated", default 1 when absent), `source` and `seqId`.
    static func trade(
        _ e: OKXElement, _ wire: OKXWire, _ instrument: Instrument, stream: TradeStream, receiveTime: UnixNanos
    ) throws(VenueParseFailure) -> Trade {
        func fail(_ key: String, _ range: Range<Int>?) -> VenueParseFailure {
            VenueParseFailure(reason: reason(key, range), instrument: instrument)
        }
        // OKX sends ids as numeric strings ("7849"); a non-numeric id is kept as text rather than dropped.
        let id: TradeID
        if let raw = wire.string(e.tradeID), !raw.isEmpty {
            if let n = JSONScanner.parseInt64(raw), n >= 0 {
                id = .number(n)
            } else {
                id = .text(String(decoding: raw, as: UTF8.self))
            }
        } else if let n = wire.int(e.tradeID), n >= 0 {
            id = .number(n)
        } else {
            throw fail("tradeId", e.tradeID)
        }
        guard let price = wire.decimal(e.px) else { throw fail("px", e.px) }
        guard let size = wire.decimal(e.sz) else { throw fail("sz", e.sz) }
        let side: Side
        if let s = wire.string(e.side), s.equals("buy") {
            side = .buy
        } else if let s = wire.string(e.side), s.equals("sell") {
            side = .sell
        } else {
            throw fail("side", e.side)
        }
        guard let time = wire.milliseconds(e.ts) else { throw fail("ts", e.ts) }
        var count: Int64 = 1
        if e.count != nil {
            guard let c = wire.int(e.count), c >= 1 else { throw fail("count", e.count) }
            count = c
        }
        return Trade(
            instrument: instrument, id: id, price: price, quantity: size, side: side, eventTime: time,
            receiveTime: receiveTime, count: count, stream: stream)
    }

    /// Book element → ``BookUpdate``.
    ///
    /// ```json
    /// {"arg":{"channel":"books","instId":"BTC-USD-220527"},"action":"update","data":[{"asks":[["30249.4","0","0","0"],
    ///  ["30261","4","0","1"]],"bids":[["30182.6","452","0","1"]],"ts":"1652459225464","checksum":-914047754}]}
    /// ```
    /// Levels are `[price, size, "0" (deprecated liquidated orders), orders]`; size `"0"` removes the
    /// level. Current feeds add `"prevSeqId":123456,"seqId":123457`. `books5`/`bbo-tbt` pushes have no
    /// `action` and are always full snapshots (`isSnapshot` true, unsequenced).
    static func book(
        _ e: OKXElement, _ wire: OKXWire, _ instrument: Instrument, isSnapshot: Bool, incremental: Bool,
        receiveTime: UnixNanos
    ) throws(VenueParseFailure) -> BookUpdate {
        func fail(_ key: String, _ range: Range<Int>?) -> VenueParseFailure {
            VenueParseFailure(reason: reason(key, range), instrument: instrument)
        }
        var bids: [BookLevel] = []
        var asks: [BookLevel] = []
        if isSnapshot {
            bids.reserveCapacity(400)
            asks.reserveCapacity(400)
        }
        guard let b = e.bids, wire.levels(b, into: &bids) else { throw fail("bids", e.bids) }
        guard let a = e.asks, wire.levels(a, into: &asks) else { throw fail("asks", e.asks) }
        guard let time = wire.milliseconds(e.ts) else { throw fail("ts", e.ts) }

        var check: ChecksumCheck?
        if e.checksum != nil {
            guard let c = wire.int(e.checksum), let signed = Int32(exactly: c) else { throw fail("checksum", e.checksum) }
            // 0 is the deprecated field's fixed value since 2026-06-23 (see OKXChecksum), not a checksum.
            if signed != 0 { check = ChecksumCheck(expected: UInt32(bitPattern: signed), algorithm: OKXChecksum()) }
        }

        var sequence = BookSequence.unsequenced
        var rule = BookSyncRule.unsequenced
        if incremental {
            var seq: Int64?
            var prev: Int64?
            if e.seqID != nil {
                guard let s = wire.int(e.seqID), s >= 0 else { throw fail("seqId", e.seqID) }
                seq = s
            }
            if e.prevSeqID != nil {
                guard let p = wire.int(e.prevSeqID), p >= -1 else { throw fail("prevSeqId", e.prevSeqID) }
                prev = p
            }
            switch (seq, prev) {
            case (let s?, let p?):
                sequence = .linked(first: s, last: s, previous: p)
                rule = .inStreamSequenced
            case (let s?, nil) where isSnapshot:
                // The snapshot's prevSeqId is documented as always -1.
                sequence = .linked(first: s, last: s, previous: -1)
                rule = .inStreamSequenced
            case (nil, nil):
                break
            default:
                throw VenueParseFailure(reason: "update needs both seqId and prevSeqId", instrument: instrument)
            }
        }
        return BookUpdate(
            instrument: instrument, isSnapshot: isSnapshot, bids: bids, asks: asks, sequence: sequence, rule: rule,
            eventTime: time, receiveTime: receiveTime, timeSource: .venue, checksum: check)
    }

    /// `tickers` element → ``Ticker``.
    ///
    /// ```json
    /// {"arg":{"channel":"tickers","instId":"FUN-BTC"},"data":[{"instType":"SPOT","instId":"FUN-BTC","last":"0.000000454",
    ///  "lastSz":"11.83","askPx":"0.000000455","askSz":"142796.14","bidPx":"0.000000452","bidSz":"141211.03",
    ///  "open24h":"0.000000445","high24h":"0.000000467","low24h":"0.000000443","sodUtc0":"0.000000446",
    ///  "sodUtc8":"0.000000449","volCcy24h":"0.13","vol24h":"302436.11","ts":"1626995753163"}]}
    /// ```
    /// A side whose price is absent or `""` (no orders) is `nil`; an absent or empty size is zero ("unknown").
    static func ticker(
        _ e: OKXElement, _ wire: OKXWire, _ instrument: Instrument, receiveTime: UnixNanos
    ) throws(VenueParseFailure) -> Ticker {
        func level(_ px: Range<Int>?, _ sz: Range<Int>?, _ name: String) throws(VenueParseFailure) -> BookLevel? {
            guard let px, !wire.isEmptyString(px), !wire.isNull(px) else { return nil }
            guard let p = wire.decimal(px) else { throw VenueParseFailure(reason: "bad \(name)Px", instrument: instrument) }
            guard let sz, !wire.isEmptyString(sz), !wire.isNull(sz) else { return BookLevel(price: p, quantity: .zero) }
            guard let q = wire.decimal(sz) else { throw VenueParseFailure(reason: "bad \(name)Sz", instrument: instrument) }
            return BookLevel(price: p, quantity: q)
        }
        let bid = try level(e.bidPx, e.bidSz, "bid")
        let ask = try level(e.askPx, e.askSz, "ask")
        guard let time = wire.milliseconds(e.ts) else { throw VenueParseFailure(reason: reason("ts", e.ts), instrument: instrument) }
        return Ticker(
            instrument: instrument, bestBid: bid, bestAsk: ask, updateID: nil, eventTime: time, receiveTime: receiveTime,
            timeSource: .venue)
    }

    // MARK: Control

    /// `event` responses.
    ///
    /// ```json
    /// {"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}
    /// {"event":"error","code":"60012","msg":"Invalid request: …","connId":"a4d3ae55"}
    /// {"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a4d3ae55"}
    /// ```
    mutating func handleEvent(
        _ e: OKXEnvelope, _ wire: OKXWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        guard let event = wire.string(e.event) else { throw VenueParseFailure(reason: "bad event") }
        if event.equals("subscribe") || event.equals("unsubscribe") || event.equals("login")
            || event.equals("channel-conn-count")
        {
            return
        }
        let detail = "code \(wire.text(e.code) ?? "?"): \(wire.decodedString(e.msg) ?? "")"
        if event.equals("error") || event.equals("channel-conn-count-error") {
            out.append(.status(FeedStatus(kind: .venueError, venue: venue, instrument: nil, detail: detail, time: receiveTime)))
        } else if event.equals("notice") {
            // 64008: the server will close this connection for an upgrade; reconnect ahead of it.
            out.append(.status(FeedStatus(kind: .serverShutdown, venue: venue, instrument: nil, detail: detail, time: receiveTime)))
        } else {
            throw VenueParseFailure(reason: "unknown event")
        }
    }

    /// The text frame `pong` answering the client's `ping` (OKX keep-alive), surrounding whitespace allowed.
    static func isPong(_ frame: UnsafeRawBufferPointer) -> Bool {
        var lo = 0
        var hi = frame.count
        while lo < hi, frame[lo] == 0x20 || frame[lo] == 0x0A || frame[lo] == 0x0D || frame[lo] == 0x09 { lo += 1 }
        while hi > lo, frame[hi - 1] == 0x20 || frame[hi - 1] == 0x0A || frame[hi - 1] == 0x0D || frame[hi - 1] == 0x09 { hi -= 1 }
        return UnsafeRawBufferPointer(rebasing: frame[lo..<hi]).equals("pong")
    }
}
