public import MarketCore

/// Parses Coinbase websocket frames into ``VenueEvent``s, for venue id `coinbase`.
///
/// Two feeds share this adapter and are told apart per frame: an Advanced Trade frame
/// (`wss://advanced-trade-ws.coinbase.com`) is a JSON object with a top-level `channel` key; an
/// Exchange frame (`wss://ws-feed.exchange.coinbase.com`, formerly `ws-feed.pro.coinbase.com`) has a
/// `type` key and no `channel`.
///
/// | feed | message | result |
/// |---|---|---|
/// | Exchange | `match`, `last_match` | ``Trade`` (taker side = opposite of the maker `side`) |
/// | Exchange | `snapshot` | ``BookUpdate`` snapshot, unsequenced, receive time |
/// | Exchange | `l2update` | ``BookUpdate`` delta, unsequenced |
/// | Exchange | `ticker` | ``Ticker`` |
/// | Exchange | `error` | ``FeedStatus`` `venue_error` |
/// | Exchange | `heartbeat`, `subscriptions` | nothing (control) |
/// | Advanced Trade | `l2_data` | ``BookUpdate`` per event, linked by `sequence_num` |
/// | Advanced Trade | `market_trades` | ``Trade`` per trade (taker side = opposite of the maker `side`) |
/// | Advanced Trade | `heartbeats`, `subscriptions` | nothing (control) |
///
/// Anything else, and any malformed, truncated or incomplete frame, becomes one `.parseError` with
/// an excerpt; a frame yields either all of its events or that one error, never a part.
///
/// Pure: no I/O, no clock, no Foundation. The only state is parse-side: the product-id cache and,
/// per Advanced Trade connection, the `sequence_num` continuity used to link book messages.
public struct CoinbaseAdapter: VenueAdapter {
    public var venue: Venue { .coinbase }

    /// Coinbase trade ids increase by one per trade and product, so a jump is a gap. The Exchange
    /// `level2` channel carries no sequence numbers, so trade ids are the only gap signal there.
    public var tradeIDsAreContiguous: Bool { true }

    /// The `previous` value of a ``BookSequence/linked(first:last:previous:)`` that must not match
    /// anything: continuity since the product's last book message is not proven (see
    /// ``CoinbaseSequenceLinker``). Real `sequence_num` values are never negative.
    public static let unprovenLink: Int64 = .min

    var symbols = SymbolCache()
    /// Advanced Trade `sequence_num` continuity per connection (`conn` of the capture, `""` when unknown).
    var linkers: [String: CoinbaseSequenceLinker] = [:]

    public init() {}

    public mutating func handle(
        kind: FrameKind, url: String?, connection: String?, frame: UnsafeRawBufferPointer, receiveTime: UnixNanos,
        into out: inout [VenueEvent]
    ) {
        switch kind {
        case .ws:
            break
        case .open:
            // A new connection restarts Advanced Trade `sequence_num`; nothing carries over.
            linkers[connection ?? ""] = nil
            return
        case .sent, .tick, .close:
            return
        case .rest:
            // Book snapshots come in-stream; the only REST answers are trade history (backfill).
            if let product = Self.tradeHistoryProduct(url) {
                handleTradeHistory(frame, product: product, receiveTime: receiveTime, into: &out)
            } else {
                out.append(parseError("unexpected REST response", frame: frame))
            }
            return
        }

        // The one place a failure of this venue's websocket readers becomes a `parse_error`.
        do throws(VenueParseFailure) {
            try readFrame(frame, connection: connection ?? "", receiveTime: receiveTime, into: &out)
        } catch {
            out.append(parseError(error, frame: frame))
        }
    }

    mutating func readFrame(
        _ frame: UnsafeRawBufferPointer, connection: String, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        let wire = CoinbaseWire(bytes: frame)
        var envelope = CoinbaseEnvelope()
        guard let end = wire.walkObject(at: 0, { envelope.assign($0, $1) }) else {
            // An unreadable frame on an Advanced Trade connection may have been a book message.
            linkers[connection]?.distrustUpToLast()
            throw VenueParseFailure(reason: "malformed JSON")
        }
        var rest = JSONScanner(frame, index: end)
        guard rest.isAtEnd else {
            linkers[connection]?.distrustUpToLast()
            throw VenueParseFailure(reason: "trailing bytes after JSON object")
        }

        if envelope.channel != nil {
            try handleAdvancedTrade(envelope, wire, connection: connection, receiveTime: receiveTime, into: &out)
        } else {
            try handleExchange(envelope, wire, receiveTime: receiveTime, into: &out)
        }
    }

    /// Resolves `product_id`; throws `missing key product_id` / `bad product_id` / `unknown symbol`.
    mutating func instrument(_ range: Range<Int>?, _ wire: CoinbaseWire) throws(VenueParseFailure) -> Instrument {
        guard let raw = wire.string(range) else { throw VenueParseFailure(reason: Self.reason("product_id", range)) }
        guard let instrument = symbols.instrument(for: raw, make: Self.instrument(productID:)) else {
            throw VenueParseFailure(reason: "unknown symbol")
        }
        return instrument
    }

    /// The instrument for a Coinbase product id, or `nil` when it is not a spot `BASE-QUOTE` id.
    ///
    /// Coinbase product ids are already canonical spot symbols (`BTC-USD`): the native symbol is the
    /// id as sent and the canonical symbol the same text upper-cased. Ids of another shape
    /// (Advanced Trade futures such as `BIT-28JUN24-CDE`, perpetuals such as `BTC-PERP-INTX`) are not
    /// guessed at: the caller reports `unknown symbol` (CONTRACTS.md, "Venues and symbols").
    public static func instrument(productID: String) -> Instrument? {
        let parts = productID.split(separator: "-", omittingEmptySubsequences: false)
        func isAlphanumeric(_ c: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c)
        }
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(isAlphanumeric) }) else { return nil }
        return Instrument(
            venue: .coinbase, base: parts[0].uppercased(), quote: parts[1].uppercased(), kind: .spot,
            nativeSymbol: productID)
    }

    /// The reason for a missing or unreadable required value (`missing key price` / `bad price`).
    static func reason(_ key: String, _ range: Range<Int>?) -> String {
        range == nil ? "missing key \(key)" : "bad \(key)"
    }
}
