/// Reading back what ``MarketEvent/writeJSON(into:)`` wrote: the `data` of a frame another node
/// published (a cluster `services` node needs the values: books to fill against, candles for
/// signals). Decimals are parsed from their text into fixed point, never through `Double`, so a
/// decoded event writes the same bytes again.
///
/// What the JSON does not carry is filled as follows: the receive time is the event time, a
/// trade's stream is `raw`, a ticker has no update id, and a `gap` status is a trade-id gap when
/// its detail says so (`trade ids …`, the normalizer's wording) and a book gap otherwise.
extension MarketEvent {
    public struct DecodeError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        public init(_ d: String) { description = d }
    }

    /// Decodes the `data` object of a frame of `type` (`trade`, `candle`, `book_snapshot`,
    /// `ticker`, `status`). `instrument` maps (venue, canonical symbol) to the instrument with its
    /// native symbol when the caller knows it; by default the symbol is read as canonical
    /// (`BASE-QUOTE[-PERP|-YYYYMMDD[-STRIKE-C|P]]`) and is its own native symbol.
    public init(
        type: String, data: some Collection<UInt8>,
        instrument resolve: ((String, String) -> Instrument?)? = nil
    ) throws(DecodeError) {
        let bytes = Array(data)
        let result: Result<MarketEvent, DecodeError> = bytes.withUnsafeBytes { raw in
            var f = Fields()
            guard f.read(raw) else { return .failure(DecodeError("\(type): data is not a JSON object of known fields")) }
            do throws(DecodeError) {
                return .success(try Self.make(type: type, f, resolve))
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    /// The parsed canonical symbol as an instrument (its own native symbol), or nil when it is not one.
    public static func canonicalInstrument(venue: String, symbol: String) -> Instrument? {
        let parts = symbol.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        let kind: InstrumentKind
        switch parts.count {
        case 2: kind = .spot
        case 3 where parts[2] == "PERP": kind = .perpetual
        case 3 where parts[2].count == 8 && parts[2].allSatisfy(\.isNumber): kind = .future(expiry: parts[2])
        case 5 where parts[4] == "C" || parts[4] == "P": kind = .option(expiry: parts[2], strike: parts[3], isCall: parts[4] == "C")
        default: return nil
        }
        let i = Instrument(venue: Venue(venue), base: parts[0], quote: parts[1], kind: kind, nativeSymbol: symbol)
        return i.symbol == symbol ? i : nil
    }

    /// The fields of any event type, as read (values stay text or numbers until the type says what they are).
    struct Fields {
        var strings: [String: String] = [:]
        var nulls: Set<String> = []
        var ints: [String: Int64] = [:]
        var bools: [String: Bool] = [:]
        var decimals: [String: FixedDecimal] = [:]
        var levels: [String: [BookLevel]] = [:]

        static let decimalKeys: Set<String> = ["price", "qty", "open", "high", "low", "close", "bid", "bid_qty", "ask", "ask_qty"]
        static let levelKeys: Set<String> = ["bids", "asks"]

        mutating func read(_ raw: UnsafeRawBufferPointer) -> Bool {
            var s = JSONScanner(raw)
            guard s.beginObject() else { return false }
            while let k = s.nextKey() {
                let key = String(decoding: k, as: UTF8.self)
                guard let c = s.peek() else { return false }
                if c == UInt8(ascii: "n") {
                    guard s.readNull() else { return false }
                    nulls.insert(key)
                } else if Self.levelKeys.contains(key) {
                    guard let l = Self.readLevels(&s) else { return false }
                    levels[key] = l
                } else if Self.decimalKeys.contains(key) {
                    guard let d = s.readDecimal() else { return false }
                    decimals[key] = d
                } else if c == UInt8(ascii: "\"") {
                    guard let t = s.readString() else { return false }
                    strings[key] = t
                } else if c == UInt8(ascii: "t") || c == UInt8(ascii: "f") {
                    guard let b = s.readBool() else { return false }
                    bools[key] = b
                } else if c == UInt8(ascii: "-") || (c &- 48) < 10 {
                    guard let n = s.readInt64() else { return false }
                    ints[key] = n
                } else {
                    guard s.skipValue() != nil else { return false }
                }
            }
            return !s.failed && s.isAtEnd
        }

        static func readLevels(_ s: inout JSONScanner) -> [BookLevel]? {
            guard s.beginArray() else { return nil }
            var out: [BookLevel] = []
            while s.nextElement() {
                guard s.beginArray(), let p = s.readDecimal(), s.nextElement(), let q = s.readDecimal(), !s.nextElement() else { return nil }
                out.append(BookLevel(price: p, quantity: q))
            }
            return s.failed ? nil : out
        }

        func string(_ k: String) throws(DecodeError) -> String {
            guard let v = strings[k] else { throw DecodeError("missing or bad '\(k)'") }
            return v
        }
        func time(_ k: String) throws(DecodeError) -> UnixNanos {
            guard let t = strings[k].flatMap(UnixNanos.parseISO8601) else { throw DecodeError("missing or bad time '\(k)'") }
            return t
        }
        func decimal(_ k: String) throws(DecodeError) -> FixedDecimal {
            guard let v = decimals[k] else { throw DecodeError("missing or bad decimal '\(k)'") }
            return v
        }
        func wide(_ k: String) throws(DecodeError) -> WideDecimal {
            guard let v = strings[k].flatMap(WideDecimal.parse) else { throw DecodeError("missing or bad decimal '\(k)'") }
            return v
        }
        func int(_ k: String) throws(DecodeError) -> Int64 {
            guard let v = ints[k] else { throw DecodeError("missing or bad integer '\(k)'") }
            return v
        }
        func bool(_ k: String) throws(DecodeError) -> Bool {
            guard let v = bools[k] else { throw DecodeError("missing or bad boolean '\(k)'") }
            return v
        }
        /// A nullable decimal: nil for `null`, an error when absent.
        func optionalDecimal(_ k: String) throws(DecodeError) -> FixedDecimal? {
            if nulls.contains(k) { return nil }
            return try decimal(k)
        }
    }

    static func make(type: String, _ f: Fields, _ resolve: ((String, String) -> Instrument?)?) throws(DecodeError) -> MarketEvent {
        let venue = try f.string("venue")
        func instrument() throws(DecodeError) -> Instrument {
            let symbol = try f.string("symbol")
            guard let i = resolve?(venue, symbol) ?? canonicalInstrument(venue: venue, symbol: symbol) else {
                throw DecodeError("'\(symbol)' is not a canonical symbol")
            }
            return i
        }
        switch type {
        case "trade":
            let i = try instrument()
            let id: TradeID
            if f.nulls.contains("id") {
                id = .none
            } else {
                let text = try f.string("id")
                // Numeric ids are written as their decimal text; anything else stays text.
                if let n = Int64(text), String(n) == text { id = .number(n) } else { id = .text(text) }
            }
            let side: Side
            switch try f.string("side") {
            case "buy": side = .buy
            case "sell": side = .sell
            case let s: throw DecodeError("bad side '\(s)'")
            }
            let t = try f.time("ts")
            return .trade(
                Trade(
                    instrument: i, id: id, price: try f.decimal("price"), quantity: try f.decimal("qty"), side: side, eventTime: t,
                    receiveTime: t, count: f.ints["trades"] ?? 1))
        case "candle":
            let i = try instrument()
            guard let interval = Interval(try f.string("interval")) else { throw DecodeError("bad interval") }
            return .candle(
                Candle(
                    instrument: i, interval: interval, start: try f.time("start"), open: try f.decimal("open"), high: try f.decimal("high"),
                    low: try f.decimal("low"), close: try f.decimal("close"), volume: try f.wide("volume"),
                    quoteVolume: try f.wide("quote_volume"), trades: try f.int("trades"), takerBuyVolume: try f.wide("taker_buy_volume"),
                    closed: try f.bool("closed"), revision: Int(try f.int("revision")), complete: try f.bool("complete")))
        case "book_snapshot":
            let i = try instrument()
            guard let bids = f.levels["bids"], let asks = f.levels["asks"] else { throw DecodeError("missing 'bids' or 'asks'") }
            return .bookSnapshot(BookSnapshot(instrument: i, time: try f.time("ts"), bids: bids, asks: asks, valid: try f.bool("valid")))
        case "ticker":
            let i = try instrument()
            let t = try f.time("ts")
            func level(_ p: String, _ q: String) throws(DecodeError) -> BookLevel? {
                guard let price = try f.optionalDecimal(p), let qty = try f.optionalDecimal(q) else { return nil }
                return BookLevel(price: price, quantity: qty)
            }
            return .ticker(
                Ticker(
                    instrument: i, bestBid: try level("bid", "bid_qty"), bestAsk: try level("ask", "ask_qty"), updateID: nil, eventTime: t,
                    receiveTime: t, timeSource: f.strings["time_source"] == "receive" ? .receive : .venue))
        case "status":
            let detail = try f.string("detail")
            let name = try f.string("event")
            guard let kind = FeedStatus.Kind(name: name, detail: detail) else { throw DecodeError("unknown status event '\(name)'") }
            var i: Instrument?
            if !f.nulls.contains("symbol") { i = try instrument() }
            return .status(FeedStatus(kind: kind, venue: Venue(venue), instrument: i, detail: detail, time: try f.time("ts")))
        default:
            throw DecodeError("not a market event type '\(type)'")
        }
    }
}

extension FeedStatus.Kind {
    /// The kind an `event` name stands for. `gap` is ambiguous on the wire: a trade-id gap's detail
    /// starts with `trade ids` (the normalizer's text); any other gap is taken as a book gap (the
    /// safe reading: the book is invalid until resynchronized).
    public init?(name: String, detail: String) {
        switch name {
        case "gap": self = detail.hasPrefix("trade ids") ? .gap(.tradeIDs) : .gap(.book)
        default:
            let all: [FeedStatus.Kind] = [
                .synced, .resynced, .resync, .crossed, .uncrossed, .checksumFailed, .invalidTrade, .futureTrade, .tradeHeld, .tradeOutlier,
                .lateTradeDropped, .parseError, .venueError, .venueStatus, .serverShutdown, .reconnected, .stale, .disconnected, .bookReset,
                .tradeGap, .candleSuspect,
            ]
            guard let k = all.first(where: { $0.name == name }) else { return nil }
            self = k
        }
    }
}
