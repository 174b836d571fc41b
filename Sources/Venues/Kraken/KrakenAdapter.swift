public import MarketCore

/// Parses Kraken spot websocket frames, API v1 (`wss://ws.kraken.com`) and v2
/// (`wss://ws.kraken.com/v2`), into ``VenueEvent``s for venue id `kraken`.
///
/// The two APIs are told apart per frame by shape: v1 data messages are JSON **arrays**
/// (`[channelID, payload…, channelName, pair]`) and v1 control messages objects with an `event`
/// key; v2 messages are objects with a `channel` key (data) or a `method` key (request responses).
///
/// | API | message | result |
/// |---|---|---|
/// | v1 | `trade` | ``Trade`` per entry, id ``TradeID/none``, taker side `b`/`s` |
/// | v1 | `ticker` | ``Ticker`` (best bid/ask with lot volume), receive time |
/// | v1 | `book-N` `as`/`bs` | ``BookUpdate`` snapshot |
/// | v1 | `book-N` `a`/`b` (+`c`) | ``BookUpdate`` delta (both sides when sent as two objects), checksum `c` |
/// | v1 | `spread`, `ohlc-N` | nothing (known, unused: candles are built from trades) |
/// | v1 | `systemStatus`, `subscriptionStatus`, `heartbeat`, `pong` | nothing, or a status (below) |
/// | v2 | `trade` | ``Trade`` per entry, id ``TradeID/number(_:)`` (`trade_id`) |
/// | v2 | `ticker` | ``Ticker`` |
/// | v2 | `book` snapshot / update | ``BookUpdate`` per symbol, checksum `checksum` |
/// | v2 | `instrument` | nothing; records each pair's price/qty precision for the checksum |
/// | v2 | `heartbeat`, `status`, `ohlc`, method responses | nothing, or a status (below) |
/// | both | errors (`subscriptionStatus` `error`, `event` `error`, `success: false`) | ``FeedStatus`` `venue_error` |
/// | both | a system status other than `online` | ``FeedStatus`` `venue_status` |
///
/// Anything else, and any malformed, truncated or incomplete frame, becomes one `.parseError` with
/// an excerpt; a frame yields either all of its events or that one error, never a part.
///
/// Books: Kraken sends snapshots in-stream and no sequence numbers, so every ``BookUpdate`` is
/// `.unsequenced` under the `.unsequenced` rule; integrity comes from the CRC32 checksum
/// (``KrakenChecksum``) that the synchronizer verifies after every update carrying one, and from
/// `depthLimit` = the subscribed depth: "after each update, truncate your book to the subscribed
/// depth — you will not receive `qty: 0` for levels that fall out of scope"
/// (https://docs.kraken.com/exchange/guides/websockets/book-checksum-v2 ; the v1 guide says the same).
///
/// Symbols (CONTRACTS.md): the native symbol is the pair as sent (`XBT/USD`); the canonical symbol
/// maps Kraken's asset codes `XBT` → `BTC` and `XDG` → `DOGE` (`XBT/USD` → `BTC-USD`). v2 already
/// writes `BTC/USD`.
///
/// Pure: no I/O, no clock, no Foundation. Parse-side state only: the symbol cache, per connection
/// the v1 `channelID` → pair/channel map and the v2 subscribed book depths, and the v2 pair precisions.
public struct KrakenAdapter: VenueAdapter {
    public var venue: Venue { .kraken }

    /// v2 trade ids are "a sequence number, unique per book" and the v2/v1 comparison lists the v2
    /// trade id as "Sequential int" (https://docs.kraken.com/api/docs/websocket-v2/trade ,
    /// https://docs.kraken.com/exchange/api-reference/spot-websocket), so a jump is a gap. v1 trades
    /// carry no id (``TradeID/none``), which the normalizer never checks for gaps, so this single flag
    /// only ever applies to v2 trades.
    public var tradeIDsAreContiguous: Bool { true }

    /// Kraken's default book depth when a subscription names none (v1 and v2: 10).
    public static let defaultBookDepth = 10

    /// v1 channel of a `channelID` on one connection (from `subscriptionStatus`).
    struct V1Channel: Sendable {
        var pair: [UInt8]
        var name: [UInt8]
    }

    /// What is known about one connection (`conn` of the capture; `""` when unknown).
    struct Connection: Sendable {
        /// v1: `channelID` → pair and channel name, from `subscriptionStatus` (ids are per connection).
        var channels: [Int64: V1Channel] = [:]
        /// v2: the subscribed book depth per pair, from the subscribe request (`sent`) and its ack.
        var bookDepths: [Instrument: Int] = [:]
    }

    var symbols = SymbolCache()
    var connections: [String: Connection] = [:]
    /// v2 pair precisions (the `instrument` channel is venue-wide, not per connection).
    var precisions: [Instrument: KrakenPrecision] = [:]

    /// - Parameter precisions: known pair precisions by native v2 symbol (`"BTC/USD"`), for the v2
    ///   checksum (see ``KrakenChecksum``); the `instrument` channel adds and updates them.
    public init(precisions: [String: KrakenPrecision] = [:]) {
        for (pair, precision) in precisions {
            if let instrument = Self.instrument(pair: pair) { self.precisions[instrument] = precision }
        }
    }

    public mutating func handle(
        kind: FrameKind, url: String?, connection: String?, frame: UnsafeRawBufferPointer, receiveTime: UnixNanos,
        into out: inout [VenueEvent]
    ) {
        let conn = connection ?? ""
        switch kind {
        case .ws:
            break
        case .open:
            // A new connection starts with no subscriptions: channel ids and depths do not carry over.
            connections[conn] = nil
            return
        case .sent:
            noteSentRequest(KrakenWire(bytes: frame), connection: conn)
            return
        case .tick, .close:
            return
        case .rest:
            // Kraken books come in-stream (websocket snapshots); no REST response is expected.
            out.append(parseError("unexpected REST response", frame: frame))
            return
        }

        // The one place a failure of this venue's readers becomes a `parse_error`.
        do throws(VenueParseFailure) {
            try readFrame(KrakenWire(bytes: frame), connection: conn, receiveTime: receiveTime, into: &out)
        } catch {
            out.append(parseError(error, frame: frame))
        }
    }

    mutating func readFrame(
        _ wire: KrakenWire, connection: String, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var s = JSONScanner(wire.bytes)
        switch s.peek() {
        case UInt8(ascii: "["):
            try handleV1Array(wire, connection: connection, receiveTime: receiveTime, into: &out)
        case UInt8(ascii: "{"):
            try handleObject(wire, connection: connection, receiveTime: receiveTime, into: &out)
        default:
            throw VenueParseFailure(reason: "not a JSON object or array")
        }
    }

    /// Dispatches an object frame: v1 `event`, v2 `channel` / `method`.
    mutating func handleObject(
        _ wire: KrakenWire, connection: String, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        var top = KrakenTopLevel()
        guard let end = wire.walkObject(at: 0, { top.assign($0, $1) }) else { throw VenueParseFailure(reason: "malformed JSON") }
        guard wire.onlyWhitespace(after: end) else { throw VenueParseFailure(reason: "trailing bytes after JSON object") }
        if top.event != nil {
            try handleV1Event(top, wire, connection: connection, receiveTime: receiveTime, into: &out)
        } else if top.channel != nil {
            try handleV2Channel(top, wire, receiveTime: receiveTime, connection: connection, into: &out)
        } else if top.method != nil || top.error != nil {
            try handleV2Response(top, wire, connection: connection, receiveTime: receiveTime, into: &out)
        } else {
            throw VenueParseFailure(reason: "unknown message")
        }
    }

    // MARK: Symbols

    /// The instrument for a Kraken websocket pair (`XBT/USD`, `BTC/USD`, `XDG/EUR`), or `nil`
    /// when it is not `BASE/QUOTE` of letters and digits (reported as `unknown symbol`).
    public static func instrument(pair: String) -> Instrument? {
        let parts = pair.split(separator: "/", omittingEmptySubsequences: false)
        func isAlphanumeric(_ c: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c)
        }
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(isAlphanumeric) }) else { return nil }
        return Instrument(
            venue: .kraken, base: canonicalAsset(parts[0].uppercased()), quote: canonicalAsset(parts[1].uppercased()),
            kind: .spot, nativeSymbol: pair)
    }

    /// Kraken's own asset codes mapped to the common ones (CONTRACTS.md): `XBT` → `BTC`, `XDG` → `DOGE`.
    public static func canonicalAsset(_ code: String) -> String {
        switch code {
        case "XBT": "BTC"
        case "XDG": "DOGE"
        default: code
        }
    }

    /// Resolves a pair's bytes; throws `missing or bad pair` / `unknown symbol …`.
    mutating func instrument(_ raw: UnsafeRawBufferPointer?) throws(VenueParseFailure) -> Instrument {
        guard let raw else { throw VenueParseFailure(reason: "missing or bad pair") }
        guard let instrument = symbols.instrument(for: raw, make: Self.instrument(pair:)) else {
            throw VenueParseFailure(reason: "unknown symbol \(String(decoding: raw, as: UTF8.self))")
        }
        return instrument
    }

    /// A venue-level `venue_error` status.
    func venueError(_ detail: String, time: UnixNanos) -> VenueEvent {
        .status(FeedStatus(kind: .venueError, venue: venue, instrument: nil, detail: detail, time: time))
    }

    /// `taker side` as Kraken writes it: v1 `b`/`s`, v2 `buy`/`sell`.
    static func side(_ raw: UnsafeRawBufferPointer?) -> Side? {
        guard let raw else { return nil }
        if raw.equals("b") || raw.equals("buy") { return .buy }
        if raw.equals("s") || raw.equals("sell") { return .sell }
        return nil
    }
}

/// Byte ranges of the top-level values of one Kraken object frame (v1 events, v2 messages).
struct KrakenTopLevel {
    // v1 events
    var event: Range<Int>?
    var status: Range<Int>?
    var channelID: Range<Int>?
    var channelName: Range<Int>?
    var pair: Range<Int>?
    var errorMessage: Range<Int>?
    var subscription: Range<Int>?
    // v2
    var channel: Range<Int>?
    var type: Range<Int>?
    var data: Range<Int>?
    var method: Range<Int>?
    var success: Range<Int>?
    var error: Range<Int>?
    var result: Range<Int>?
    var symbol: Range<Int>?

    mutating func assign(_ key: UnsafeRawBufferPointer, _ range: Range<Int>) {
        if key.equals("event") { event = range }
        else if key.equals("status") { status = range }
        else if key.equals("channelID") { channelID = range }
        else if key.equals("channelName") { channelName = range }
        else if key.equals("pair") { pair = range }
        else if key.equals("errorMessage") { errorMessage = range }
        else if key.equals("subscription") { subscription = range }
        else if key.equals("channel") { channel = range }
        else if key.equals("type") { type = range }
        else if key.equals("data") { data = range }
        else if key.equals("method") { method = range }
        else if key.equals("success") { success = range }
        else if key.equals("error") { error = range }
        else if key.equals("result") { result = range }
        else if key.equals("symbol") { symbol = range }
    }
}
