public import MarketCore

/// Binance spot, USD-M and COIN-M futures: trades, aggregated trades, diff depth, book ticker and
/// the REST depth snapshot, in raw or combined-stream (`{"stream":…,"data":…}`) envelopes.
///
/// Sequencing (documented local-book procedure) is attached to each ``BookUpdate`` as
/// ``BookSequence`` + ``BookSyncRule``; the normalizer's synchronizer applies it.
public struct BinanceAdapter: VenueAdapter {
    public let venue: Venue
    public var quotes: QuoteSuffixTable
    public var tradeIDsAreContiguous: Bool { true }
    var symbols = SymbolCache()
    let isFutures: Bool

    /// - Parameter venue: `.binance`, `.binanceUSDM` or `.binanceCOINM`.
    public init(venue: Venue = .binance, quotes: QuoteSuffixTable = .builtIn) {
        self.venue = venue
        self.quotes = quotes
        self.isFutures = venue == .binanceUSDM || venue == .binanceCOINM
    }

    public mutating func handle(
        kind: FrameKind, url: String?, connection: String?, frame: UnsafeRawBufferPointer, receiveTime: UnixNanos,
        into out: inout [VenueEvent]
    ) {
        switch kind {
        case .ws: handleStreamFrame(frame, receiveTime: receiveTime, into: &out)
        case .rest:
            if Self.isTradeHistory(url) {
                handleTradeHistory(frame, url: url, receiveTime: receiveTime, into: &out)
            } else {
                handleDepthSnapshot(frame, url: url, receiveTime: receiveTime, into: &out)
            }
        case .open, .sent, .tick, .close: break
        }
    }

    /// Spot `trade` and `aggTrade` frames in their exact form (``parseSpotTradeEscaped(_:receiveTime:into:)``).
    public mutating func handleEscapedFrame(
        _ escaped: UnsafeRawBufferPointer, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) -> Bool {
        parseSpotTradeEscaped(escaped, receiveTime: receiveTime, into: &out)
    }

    mutating func instrument(_ raw: UnsafeRawBufferPointer) -> Instrument? {
        // Cache hits (nearly every frame) touch nothing else: no copies of the quote table.
        if let hit = symbols.cached(raw) { return hit }
        let made = BinanceSymbols.instrument(native: String(decoding: raw, as: UTF8.self), venue: venue, quotes: quotes)
        symbols.insert(raw, made)
        return made
    }

    // MARK: Websocket frames

    /// Parses a stream frame, e.g.
    /// `{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}`.
    /// The one place a failure of this venue's stream readers becomes a `parse_error`.
    public mutating func handleStreamFrame(
        _ frame: UnsafeRawBufferPointer, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) {
        if parseSpotTradeExact(frame, receiveTime: receiveTime, into: &out) { return }
        do throws(VenueParseFailure) {
            try readStreamFrame(frame, receiveTime: receiveTime, into: &out)
        } catch {
            out.append(parseError(error, frame: frame))
        }
    }

    mutating func readStreamFrame(
        _ frame: UnsafeRawBufferPointer, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var s = JSONScanner(frame)
        guard s.beginObject() else { throw VenueParseFailure(reason: "not a JSON object") }
        // One pass: combined streams start with "stream" (or "data"), whose object is parsed in
        // place; acks and errors start with "result"/"id"/"code"/"msg"; anything else is a raw payload.
        guard let first = s.nextKey() else { throw VenueParseFailure(reason: s.failed ? "malformed JSON" : "empty object") }
        if first.equals("result") || first.equals("id") || first.equals("code") || first.equals("msg") {
            handleControl(frame, receiveTime: receiveTime, into: &out)
            return
        }
        guard first.equals("stream") || first.equals("data") else {
            // A raw stream payload: read it from its start.
            var raw = JSONScanner(frame)
            _ = raw.beginObject()
            try handlePayload(&raw, receiveTime: receiveTime, into: &out)
            return
        }
        let mark = out.count
        var sawData = false
        // A payload's failure is reported once the envelope has been read to its end: an envelope
        // that turns out malformed is reported as such instead.
        var payloadFailure: VenueParseFailure?
        var key: UnsafeRawBufferPointer? = first
        while let k = key {
            if k.equals("data") {
                guard s.beginObject() else { throw payloadFailure ?? VenueParseFailure(reason: "data is not an object") }
                do throws(VenueParseFailure) {
                    try handlePayload(&s, receiveTime: receiveTime, into: &out)
                } catch {
                    payloadFailure = payloadFailure ?? error
                }
                sawData = true
            } else {
                guard s.skipValue() != nil else { break }
            }
            key = s.nextKey()
        }
        if s.failed {
            // A frame gives all of its events or one error: drop what the payload produced.
            out.removeSubrange(mark...)
            throw VenueParseFailure(reason: "malformed JSON")
        }
        if let payloadFailure { throw payloadFailure }
        if !sawData { throw VenueParseFailure(reason: "stream envelope without data") }
    }

    /// Subscription acks (`{"result":null,"id":1}`) are fine; errors (`{"code":2,"msg":"…"}`) become a status.
    mutating func handleControl(_ frame: UnsafeRawBufferPointer, receiveTime: UnixNanos, into out: inout [VenueEvent]) {
        var s = JSONScanner(frame)
        _ = s.beginObject()
        var message: String? = nil
        var code: Int64? = nil
        while let key = s.nextKey() {
            if key.equals("msg") {
                message = s.readString()
            } else if key.equals("code") {
                code = s.readInt64()
            } else {
                s.skipValue()
            }
        }
        if code != nil || message != nil {
            out.append(
                .status(
                    FeedStatus(
                        kind: .venueError, venue: venue, instrument: nil,
                        detail: "code \(code.map(String.init) ?? "?"): \(message ?? "")", time: receiveTime)))
        }
    }

    /// Reads one stream payload (the scanner stands just inside its `{`) and leaves the scanner after it.
    ///
    /// Each message shape has one one-pass reader (`BinanceAdapter+Inline.swift`). Binance writes
    /// `"e"` first, so the type is known at once; otherwise a probe over the keys finds it first.
    mutating func handlePayload(
        _ s: inout JSONScanner, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var type: UnsafeRawBufferPointer? = nil
        var probe = s
        if let key = probe.nextKey(), key.equals("e") {
            // Usual case: continue right after the type.
            type = probe.readStringRaw()
            s = probe
        } else {
            probe = s
            while let key = probe.nextKey() {
                if key.equals("e") {
                    type = probe.readStringRaw()
                    break
                }
                guard probe.skipValue() != nil else { break }
            }
            if probe.failed { throw VenueParseFailure(reason: "malformed JSON") }
        }
        guard let type else {
            // Spot bookTicker carries no "e".
            try parseBookTickerInline(&s, receiveTime: receiveTime, into: &out)
            return
        }
        if type.equals("trade") || type.equals("aggTrade") {
            try parseTradeInline(&s, aggregated: type.count == 8, receiveTime: receiveTime, into: &out)
        } else if type.equals("depthUpdate") {
            try parseDepthInline(&s, receiveTime: receiveTime, into: &out)
        } else if type.equals("bookTicker") {
            try parseBookTickerInline(&s, receiveTime: receiveTime, into: &out)
        } else if type.equals("kline") || type.equals("24hrTicker") || type.equals("24hrMiniTicker")
            || type.equals("markPriceUpdate")
        {
            // Known streams the normalizer does not use: candles are built locally from trades.
            s.skipRestOfObject()
        } else if type.equals("serverShutdown") {
            s.skipRestOfObject()
            out.append(
                .status(
                    FeedStatus(
                        kind: .serverShutdown, venue: venue, instrument: nil, detail: "venue announced shutdown",
                        time: receiveTime)))
        } else {
            s.skipRestOfObject()
            throw VenueParseFailure(reason: "unknown event type")
        }
    }

    /// The instrument for a payload's `s` value; throws `missing or bad symbol` / `unknown symbol …`.
    func resolve(_ symbolRaw: UnsafeRawBufferPointer?, _ instrument: Instrument?) throws(VenueParseFailure) -> Instrument {
        guard let raw = symbolRaw else { throw VenueParseFailure(reason: "missing or bad symbol") }
        guard let instrument else { throw VenueParseFailure(reason: "unknown symbol \(String(decoding: raw, as: UTF8.self))") }
        return instrument
    }

    // MARK: REST depth snapshot

    /// Parses `GET /api/v3/depth` (or `/fapi/v1/depth`, `/dapi/v1/depth`):
    /// `{"lastUpdateId":50093239218,"bids":[["61837.63000000","3.78826000"],…],"asks":[…]}`
    /// (futures add `E`, `T`, COIN-M `symbol`). The symbol comes from the URL's `symbol=` or the body.
    /// The one place a failure of the depth snapshot reader becomes a `parse_error`.
    public mutating func handleDepthSnapshot(
        _ frame: UnsafeRawBufferPointer, url: String?, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) {
        do throws(VenueParseFailure) {
            try readDepthSnapshot(frame, url: url, receiveTime: receiveTime, into: &out)
        } catch {
            out.append(parseError(error, frame: frame))
        }
    }

    mutating func readDepthSnapshot(
        _ frame: UnsafeRawBufferPointer, url: String?, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var s = JSONScanner(frame)
        guard s.beginObject() else { throw VenueParseFailure(reason: "REST depth is not a JSON object") }
        var lastUpdateID: Int64? = nil
        var bidsAt = -1
        var asksAt = -1
        var eventMs: Int64? = nil
        var bodySymbol: UnsafeRawBufferPointer? = nil
        var code: Int64? = nil
        while let key = s.nextKey() {
            s.skipWhitespace()
            if key.equals("lastUpdateId") {
                lastUpdateID = s.readInt64()
            } else if key.equals("bids") {
                bidsAt = s.index
                s.skipValue()
            } else if key.equals("asks") {
                asksAt = s.index
                s.skipValue()
            } else if key.equals("T") {
                eventMs = s.readInt64()
            } else if key.equals("symbol") {
                bodySymbol = s.readStringRaw()
            } else if key.equals("code") {
                code = s.readInt64()
            } else {
                s.skipValue()
            }
        }
        if s.failed { throw VenueParseFailure(reason: "malformed REST depth") }
        if code != nil { throw VenueParseFailure(reason: "REST error response") }
        var instrument: Instrument? = nil
        if let raw = bodySymbol {
            instrument = self.instrument(raw)
        } else if let native = Self.querySymbol(url) {
            var copy = native
            instrument = copy.withUTF8 { self.instrument(UnsafeRawBufferPointer($0)) }
        }
        guard let instrument else { throw VenueParseFailure(reason: "REST depth for unknown symbol (url \(url ?? "none"))") }
        var bids: [BookLevel] = []
        var asks: [BookLevel] = []
        bids.reserveCapacity(1000)
        asks.reserveCapacity(1000)
        guard let lastUpdateID, bidsAt >= 0, asksAt >= 0, Self.levels(frame, bidsAt, into: &bids),
            Self.levels(frame, asksAt, into: &asks)
        else { throw VenueParseFailure(reason: "REST depth missing lastUpdateId or levels", instrument: instrument) }
        out.append(
            .book(
                BookUpdate(
                    instrument: instrument, isSnapshot: true, bids: bids, asks: asks,
                    sequence: .snapshot(lastUpdateID: lastUpdateID), rule: isFutures ? .binanceFutures : .binanceSpot,
                    eventTime: eventMs.map(UnixNanos.milliseconds) ?? receiveTime, receiveTime: receiveTime,
                    timeSource: eventMs == nil ? .receive : .venue)))
    }

    /// `symbol` query parameter of a REST URL.
    static func querySymbol(_ url: String?) -> String? {
        guard let url, let q = url.firstIndex(of: "?") else { return nil }
        for pair in url[url.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0] == "symbol" { return String(kv[1]) }
        }
        return nil
    }
}
