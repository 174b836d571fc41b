internal import MarketCore

/// Byte ranges of the top-level values of one Coinbase frame (the "wire view", STYLE.md §4.5).
///
/// A recorded Exchange frame (`Tests/Fixtures/coinbase/exchange-level2-2021-04-17.jsonl.gz`):
/// ```json
/// {"type":"match","trade_id":280232,"maker_order_id":"2a0da34e-61f7-4c36-88e5-c9dd15927b16",
///  "taker_order_id":"3c82abaa-c01e-4608-be59-6a1e69742891","side":"sell","size":"985","price":"0.00001305",
///  "product_id":"SKL-BTC","sequence":177100030,"time":"2021-04-17T16:43:37.089723Z"}
/// ```
/// Filled by a single pass over the object's keys; unknown keys are skipped. Ranges index the frame
/// bytes and include the quotes of string values. Exchange and Advanced Trade frames share this
/// view: an Advanced Trade frame is recognized by its `channel` key, and its `events` (and REST
/// trade history) are read with ``RangeWire/walkElements(at:end:_:)``.
struct CoinbaseEnvelope {
    // Exchange feed (`type`-tagged messages).
    var type: Range<Int>?
    var productID: Range<Int>?
    var time: Range<Int>?
    var tradeID: Range<Int>?
    var side: Range<Int>?
    var size: Range<Int>?
    var price: Range<Int>?
    var sequence: Range<Int>?
    var bestBid: Range<Int>?
    var bestAsk: Range<Int>?
    var bestBidSize: Range<Int>?
    var bestAskSize: Range<Int>?
    var bids: Range<Int>?
    var asks: Range<Int>?
    var changes: Range<Int>?
    var message: Range<Int>?
    var reason: Range<Int>?
    // Advanced Trade envelope.
    var channel: Range<Int>?
    var sequenceNum: Range<Int>?
    var timestamp: Range<Int>?
    var events: Range<Int>?

    /// Records `range` under `key` when it is a key this adapter reads (first byte, then exact match).
    mutating func assign(_ key: UnsafeRawBufferPointer, _ range: Range<Int>) {
        guard let first = key.first else { return }
        switch first {
        case UInt8(ascii: "t"):
            if key.equals("type") { type = range }
            else if key.equals("time") { time = range }
            else if key.equals("trade_id") { tradeID = range }
            else if key.equals("timestamp") { timestamp = range }
        case UInt8(ascii: "p"):
            if key.equals("product_id") { productID = range }
            else if key.equals("price") { price = range }
        case UInt8(ascii: "s"):
            if key.equals("side") { side = range }
            else if key.equals("size") { size = range }
            else if key.equals("sequence") { sequence = range }
            else if key.equals("sequence_num") { sequenceNum = range }
        case UInt8(ascii: "b"):
            if key.equals("best_bid") { bestBid = range }
            else if key.equals("best_ask") { bestAsk = range }
            else if key.equals("best_bid_size") { bestBidSize = range }
            else if key.equals("best_ask_size") { bestAskSize = range }
            else if key.equals("bids") { bids = range }
        case UInt8(ascii: "a"):
            if key.equals("asks") { asks = range }
        case UInt8(ascii: "c"):
            if key.equals("changes") { changes = range }
            else if key.equals("channel") { channel = range }
        case UInt8(ascii: "m"):
            if key.equals("message") { message = range }
        case UInt8(ascii: "r"):
            if key.equals("reason") { reason = range }
        case UInt8(ascii: "e"):
            if key.equals("events") { events = range }
        default:
            break
        }
    }
}

/// Reads values out of one frame's bytes by range. Every read is bounds-checked and returns `nil`
/// on malformed input, never traps. The buffer must not outlive the `handle` call that owns it.
struct CoinbaseWire: RangeWire {
    let bytes: UnsafeRawBufferPointer

    /// A non-negative exact decimal, quoted (`"0.00001306"`, Coinbase's form) or bare.
    func decimal(_ range: Range<Int>?) -> FixedDecimal? {
        guard let r = range else { return nil }
        let raw = string(r) ?? UnsafeRawBufferPointer(rebasing: bytes[r])
        guard case .success(let value) = FixedDecimal.parse(raw), !value.isNegative else { return nil }
        return value
    }

    /// An ISO-8601 UTC time string, parsed exactly (`2021-04-17T16:43:37.075687Z`, up to 9 fraction digits).
    func time(_ range: Range<Int>?) -> UnixNanos? {
        guard let raw = string(range) else { return nil }
        return UnixNanos.parseISO8601(raw)
    }

    /// Parses `[["price","size",...], ...]` (Exchange `snapshot` `bids`/`asks`), appending in the order sent.
    /// Extra elements after the size are skipped. - Returns: `false` when malformed.
    func levels(at range: Range<Int>, into levels: inout [BookLevel]) -> Bool {
        var s = JSONScanner(bytes, index: range.lowerBound)
        guard s.beginArray() else { return false }
        while s.nextElement() {
            guard s.beginArray(), s.nextElement(), let price = s.readDecimal(), s.nextElement(),
                let quantity = s.readDecimal(), !price.isNegative, !quantity.isNegative, Self.skipRest(&s)
            else { return false }
            levels.append(BookLevel(price: price, quantity: quantity))
        }
        return !s.failed
    }

    /// Parses `[["buy"|"sell","price","size"], ...]` (Exchange `l2update` `changes`) into bids and asks.
    /// - Returns: `false` when malformed or a side is neither `buy` nor `sell`.
    func changes(at range: Range<Int>, bids: inout [BookLevel], asks: inout [BookLevel]) -> Bool {
        var s = JSONScanner(bytes, index: range.lowerBound)
        guard s.beginArray() else { return false }
        while s.nextElement() {
            guard s.beginArray(), s.nextElement(), let side = s.readStringRaw(), s.nextElement(),
                let price = s.readDecimal(), s.nextElement(), let quantity = s.readDecimal(),
                !price.isNegative, !quantity.isNegative, Self.skipRest(&s)
            else { return false }
            // `buy` is the bid side of the book, `sell` the ask side; size "0" removes the level.
            if side.equals("buy") {
                bids.append(BookLevel(price: price, quantity: quantity))
            } else if side.equals("sell") {
                asks.append(BookLevel(price: price, quantity: quantity))
            } else {
                return false
            }
        }
        return !s.failed
    }

    /// Skips the remaining elements of the current array and its `]`.
    private static func skipRest(_ s: inout JSONScanner) -> Bool {
        while s.nextElement() {
            guard s.skipValue() != nil else { return false }
        }
        return !s.failed
    }
}
