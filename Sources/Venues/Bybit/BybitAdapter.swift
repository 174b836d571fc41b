public import MarketCore

/// Parses Bybit v5 public websocket frames into ``VenueEvent``s, for venue id `bybit`.
///
/// | frame | result |
/// |---|---|
/// | `orderbook.{depth}.{symbol}` `snapshot` / `delta` | ``BookUpdate`` (`.sequence(u)`, `.inStreamSequenced`) |
/// | `publicTrade.{symbol}` | one ``Trade`` per element of `data` (taker side `S`, id `i` as text) |
/// | `tickers.{symbol}` (linear, inverse, option) | ``Ticker`` from `bid1Price`/`ask1Price` (deltas merged) |
/// | `kline.`, `liquidation.`, `allLiquidation.`, `insurance.`, `priceLimit.`, `adlAlert.` | nothing (known, unused) |
/// | `{"success":true,"op":"subscribe"}`, pongs | nothing (control) |
/// | `{"success":false,"ret_msg":…}`, option `COMMAND_RESP` with `failTopics` | ``FeedStatus`` `venue_error` |
///
/// Anything else, and any malformed, truncated or incomplete frame, becomes one `.parseError` with a
/// short excerpt; a frame yields either all of its events or that one error, never a part.
///
/// **Category.** The same native symbol means a different instrument per category (`BTCUSDT` is
/// `BTC-USDT` on `/v5/public/spot`, `BTC-USDT-PERP` on `/v5/public/linear`), and the frames do not
/// say which. The adapter remembers each connection's category from the URL of its `open` / `sent`
/// lines (or a `ws` line's URL when the live feed passes one); frames on a connection with no known
/// URL are linear (CONTRACTS.md). Docs: https://bybit-exchange.github.io/docs/v5/ws/connect
///
/// Pure: no I/O, no clock, no Foundation. Its state is parse-side only: per-connection categories,
/// per-category symbol caches and the merged top of book of ticker deltas.
public struct BybitAdapter: VenueAdapter {
    public var venue: Venue { .bybit }

    /// Bybit trade ids (`i`) are strings — UUIDs on derivatives, numeric text on spot — and the docs
    /// promise neither order nor contiguity, so trade ids never signal a gap here
    /// (https://bybit-exchange.github.io/docs/v5/websocket/public/trade: "i string Trade ID").
    public var tradeIDsAreContiguous: Bool { false }

    /// Quote suffixes for splitting concatenated symbols (configuration may extend them).
    public let quotes: QuoteSuffixTable

    /// What each connection's URL said, keyed by the capture's `conn` (`""` when absent).
    var connections: [String: BybitCategory.URLMeaning] = [:]
    /// One cache per category: `BTCUSDT` maps differently on spot and linear.
    var symbols = [SymbolCache](repeating: SymbolCache(), count: BybitCategory.allCases.count)
    /// Top of book per connection and instrument, so that ticker deltas (changed fields only) make whole tickers.
    var tickerTops: [String: [Instrument: BybitTickerTop]] = [:]

    public init(quotes: QuoteSuffixTable = .builtIn) {
        self.quotes = quotes
    }

    /// The category frames on `connection` are parsed with: from its URL, linear when none is known.
    /// - Returns: `nil` when the URL names a public stream this adapter does not parse (`spread`, `rfq`).
    public func category(forConnection connection: String?) -> BybitCategory? {
        switch connections[connection ?? ""] {
        case .category(let c)?: c
        case .unsupported?: nil
        case .unknown?, nil: .linear
        }
    }

    public mutating func handle(
        kind: FrameKind, url: String?, connection: String?, frame: UnsafeRawBufferPointer, receiveTime: UnixNanos,
        into out: inout [VenueEvent]
    ) {
        let key = connection ?? ""
        switch kind {
        case .open:
            // A new connection: its URL decides the category; ticker state does not carry over.
            tickerTops[key] = nil
            connections[key] = url.map(BybitCategory.meaning(ofURL:)) ?? .unknown
            return
        case .sent:
            remember(url, connection: key)
            return
        case .tick, .close:
            return
        case .rest:
            // Bybit sends its book snapshots in-stream; no REST response is expected.
            out.append(parseError("unexpected REST response", frame: frame))
            return
        case .ws:
            remember(url, connection: key)
        }
        handleFrame(frame, connection: key, receiveTime: receiveTime, into: &out)
    }

    /// Records a category from a URL that names one; other URLs leave the connection's category as it was.
    mutating func remember(_ url: String?, connection: String) {
        guard let url else { return }
        let meaning = BybitCategory.meaning(ofURL: url)
        if meaning != .unknown { connections[connection] = meaning }
    }

    /// Top-level value positions of one frame.
    struct Envelope {
        var topic: Int?
        var type: Int?
        var ts: Int?
        var cts: Int?
        var cs: Int?
        var data: Int?
        var op: Int?
        var success: Int?
        var retMsg: Int?

        mutating func assign(_ key: UnsafeRawBufferPointer, _ at: Int) {
            switch key.count {
            case 2:
                if key.equals("ts") { ts = at } else if key.equals("op") { op = at } else if key.equals("cs") { cs = at }
            case 3: if key.equals("cts") { cts = at }
            case 4: if key.equals("type") { type = at } else if key.equals("data") { data = at }
            case 5: if key.equals("topic") { topic = at }
            case 7: if key.equals("success") { success = at } else if key.equals("ret_msg") { retMsg = at }
            default: break
            }
        }
    }

    /// Parses one websocket frame, e.g.
    /// `{"topic":"orderbook.1.BANDUSDT","type":"snapshot","ts":1749833474773,"data":{"s":"BANDUSDT","b":[["0.6131","17.9"]],"a":[["0.6134","35.4"]],"u":24042997,"seq":209972815373},"cts":1749833474768}`.
    /// The one place a failure of this venue's readers becomes a `parse_error`.
    mutating func handleFrame(
        _ frame: UnsafeRawBufferPointer, connection: String, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) {
        do throws(VenueParseFailure) {
            try readFrame(frame, connection: connection, receiveTime: receiveTime, into: &out)
        } catch {
            out.append(parseError(error, frame: frame))
        }
    }

    mutating func readFrame(
        _ frame: UnsafeRawBufferPointer, connection: String, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        let wire = BybitWire(bytes: frame)
        var envelope = Envelope()
        guard let end = wire.walkObject(at: 0, { envelope.assign($0, $1) }) else { throw VenueParseFailure(reason: "malformed JSON") }
        var rest = JSONScanner(frame, index: end)
        guard rest.isAtEnd else { throw VenueParseFailure(reason: "trailing bytes after JSON object") }
        guard envelope.topic != nil else {
            try handleControl(envelope, wire, receiveTime: receiveTime, into: &out)
            return
        }
        guard let topic = wire.string(envelope.topic) else { throw VenueParseFailure(reason: "bad topic") }
        let category: BybitCategory
        switch connections[connection] {
        case .category(let c)?: category = c
        case .unsupported(let name)?: throw VenueParseFailure(reason: "unsupported Bybit stream /v5/public/\(name)")
        case .unknown?, nil: category = .linear
        }
        if BybitWire.hasPrefix(topic, "orderbook.") {
            try handleOrderbook(envelope, wire, topic: topic, category: category, receiveTime: receiveTime, into: &out)
        } else if BybitWire.hasPrefix(topic, "publicTrade.") {
            try handleTrades(envelope, wire, category: category, receiveTime: receiveTime, into: &out)
        } else if BybitWire.hasPrefix(topic, "tickers.") {
            try handleTicker(envelope, wire, category: category, connection: connection, receiveTime: receiveTime, into: &out)
        } else if Self.isKnownUnusedTopic(topic) {
            // Candles are built locally from trades; liquidations and the rest are not normalized.
            return
        } else {
            throw VenueParseFailure(reason: "unknown topic")
        }
    }

    /// Bybit v5 public topics this gateway does not use (https://bybit-exchange.github.io/docs/v5/websocket/public/kline etc.).
    static func isKnownUnusedTopic(_ topic: UnsafeRawBufferPointer) -> Bool {
        BybitWire.hasPrefix(topic, "kline.") || BybitWire.hasPrefix(topic, "liquidation.")
            || BybitWire.hasPrefix(topic, "allLiquidation.") || BybitWire.hasPrefix(topic, "insurance.")
            || BybitWire.hasPrefix(topic, "priceLimit.") || BybitWire.hasPrefix(topic, "adlAlert.")
    }

    /// The instrument for a native symbol in `category`; throws when it cannot be mapped.
    mutating func instrument(_ raw: UnsafeRawBufferPointer?, category: BybitCategory) throws(VenueParseFailure) -> Instrument {
        guard let raw, raw.count > 0 else { throw VenueParseFailure(reason: "missing or bad symbol") }
        let quotes = self.quotes
        guard
            let instrument = symbols[category.index].instrument(
                for: raw, make: { BybitSymbols.instrument(native: $0, category: category, quotes: quotes) })
        else {
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: raw.prefix(40)), as: UTF8.self)
            throw VenueParseFailure(reason: "unknown symbol \(name)\(raw.count > 40 ? "…" : "")")
        }
        return instrument
    }

    /// The venue time of a data frame: `cts` when present, else `ts`; throws when a present time is
    /// unreadable. `receive` when the frame carries neither.
    func eventTime(
        _ envelope: Envelope, _ wire: BybitWire, preferMatchingEngine: Bool, receiveTime: UnixNanos, instrument: Instrument
    ) throws(VenueParseFailure) -> (UnixNanos, TimeSource) {
        let at = preferMatchingEngine ? (envelope.cts ?? envelope.ts) : envelope.ts
        guard let at else { return (receiveTime, .receive) }
        guard let t = BybitWire.nanos(milliseconds: wire.int(at)) else {
            throw VenueParseFailure(reason: "bad ts/cts", instrument: instrument)
        }
        return (t, .venue)
    }

    // MARK: Control messages

    /// Subscribe acks and pongs are fine; failures become `venue_error`.
    ///
    /// Shapes (https://bybit-exchange.github.io/docs/v5/ws/connect): subscribe response
    /// `{"success":true,"ret_msg":"","conn_id":"…","req_id":"","op":"subscribe"}`; pong
    /// `{"success":true,"ret_msg":"pong","conn_id":"…","op":"ping"}` (spot, linear) or
    /// `{"args":["1672916271846"],"op":"pong"}` (option); option subscribe response
    /// `{"success":true,"conn_id":"…","data":{"failTopics":[],"successTopics":[…]},"type":"COMMAND_RESP"}`.
    mutating func handleControl(
        _ envelope: Envelope, _ wire: BybitWire, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var success: Bool? = nil
        if envelope.success != nil {
            guard let s = wire.bool(envelope.success) else { throw VenueParseFailure(reason: "bad success flag") }
            success = s
        }
        if wire.stringEquals(envelope.type, "COMMAND_RESP") {
            try handleCommandResponse(envelope, wire, success: success, receiveTime: receiveTime, into: &out)
            return
        }
        var op = "request"
        if envelope.op != nil {
            guard let raw = wire.string(envelope.op) else { throw VenueParseFailure(reason: "bad op") }
            guard raw.equals("subscribe") || raw.equals("unsubscribe") || raw.equals("ping") || raw.equals("pong")
                || raw.equals("auth")
            else { throw VenueParseFailure(reason: "unknown op") }
            op = String(decoding: raw, as: UTF8.self)
        } else if success == nil {
            throw VenueParseFailure(reason: "unknown message")
        }
        switch success {
        case true?:
            return
        case false?:
            let message = wire.text(envelope.retMsg) ?? ""
            out.append(venueError("\(op) failed: \(message)", time: receiveTime))
        case nil:
            // Pongs of the option stream (and server pings) carry no `success`; other ops must.
            if op == "pong" || op == "ping" { return }
            throw VenueParseFailure(reason: "\(op) response without success")
        }
    }

    /// The option stream's `COMMAND_RESP`: any `failTopics` (or `success:false`) is a `venue_error`.
    mutating func handleCommandResponse(
        _ envelope: Envelope, _ wire: BybitWire, success: Bool?, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var failTopicsAt: Int? = nil
        if let data = envelope.data {
            let ok = wire.walkObject(at: data) { key, at in if key.equals("failTopics") { failTopicsAt = at } }
            guard ok != nil else { throw VenueParseFailure(reason: "bad COMMAND_RESP data") }
        }
        var failed: [String] = []
        if let failTopicsAt {
            let ok = wire.walkArray(at: failTopicsAt) { at in
                guard let t = wire.text(at) else { return false }
                failed.append(t)
                return true
            }
            guard ok else { throw VenueParseFailure(reason: "bad failTopics") }
        }
        if success == false || !failed.isEmpty {
            let message = wire.text(envelope.retMsg) ?? ""
            let topics = failed.isEmpty ? "" : " topics \(failed.joined(separator: ","))"
            out.append(venueError("subscribe failed:\(topics)\(message.isEmpty ? "" : " \(message)")", time: receiveTime))
        }
    }

    func venueError(_ detail: String, time: UnixNanos) -> VenueEvent {
        // CONTRACTS.md: `detail` is a short string.
        let short = detail.count > 200 ? String(detail.prefix(200)) + "…" : detail
        return .status(FeedStatus(kind: .venueError, venue: venue, instrument: nil, detail: short, time: time))
    }
}
