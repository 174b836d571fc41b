internal import MarketCore

/// Byte ranges of the top-level values of one OKX v5 frame (the "wire view", STYLE.md §4.5).
///
/// A recorded frame (`Tests/Fixtures/okx/v5-books-trades-2022-05-13.jsonl.gz`):
/// ```json
/// {"arg":{"channel":"books","instId":"BTC-USD-220527"},"action":"update","data":[{"asks":[["30249.4","0","0","0"],
///  ["30261","4","0","1"],["30310.3","19","0","1"]],"bids":[["30182.6","452","0","1"]],"ts":"1652459225464","checksum":-914047754}]}
/// ```
/// Control: `{"event":"subscribe","arg":{…},"connId":"…"}`, `{"event":"error","code":"60012","msg":"…"}`.
/// Ranges index the frame bytes and include the quotes of string values; `data` elements are read
/// with ``RangeWire/walkElements(at:end:_:)`` into an ``OKXElement``.
struct OKXEnvelope {
    var arg: Range<Int>?
    var action: Range<Int>?
    var data: Range<Int>?
    var event: Range<Int>?
    var code: Range<Int>?
    var msg: Range<Int>?

    mutating func assign(_ key: UnsafeRawBufferPointer, _ range: Range<Int>) {
        guard let first = key.first else { return }
        switch first {
        case UInt8(ascii: "a"):
            if key.equals("arg") { arg = range } else if key.equals("action") { action = range }
        case UInt8(ascii: "d"):
            if key.equals("data") { data = range }
        case UInt8(ascii: "e"):
            if key.equals("event") { event = range }
        case UInt8(ascii: "c"):
            if key.equals("code") { code = range }
        case UInt8(ascii: "m"):
            if key.equals("msg") { msg = range }
        default:
            break
        }
    }
}

/// The `arg` object: which channel and instrument a push belongs to.
struct OKXArg {
    var channel: Range<Int>?
    var instID: Range<Int>?

    mutating func assign(_ key: UnsafeRawBufferPointer, _ range: Range<Int>) {
        if key.equals("channel") { channel = range } else if key.equals("instId") { instID = range }
    }
}

/// Byte ranges of one element of `data`; the union of the keys of every channel the adapter reads.
struct OKXElement {
    // Shared.
    var instID: Range<Int>?
    var ts: Range<Int>?
    // Books.
    var asks: Range<Int>?
    var bids: Range<Int>?
    var checksum: Range<Int>?
    var seqID: Range<Int>?
    var prevSeqID: Range<Int>?
    // Trades.
    var tradeID: Range<Int>?
    var px: Range<Int>?
    var sz: Range<Int>?
    var side: Range<Int>?
    var count: Range<Int>?
    // Tickers.
    var bidPx: Range<Int>?
    var bidSz: Range<Int>?
    var askPx: Range<Int>?
    var askSz: Range<Int>?

    mutating func assign(_ key: UnsafeRawBufferPointer, _ range: Range<Int>) {
        guard let first = key.first else { return }
        switch first {
        case UInt8(ascii: "a"):
            if key.equals("asks") { asks = range } else if key.equals("askPx") { askPx = range }
            else if key.equals("askSz") { askSz = range }
        case UInt8(ascii: "b"):
            if key.equals("bids") { bids = range } else if key.equals("bidPx") { bidPx = range }
            else if key.equals("bidSz") { bidSz = range }
        case UInt8(ascii: "c"):
            if key.equals("checksum") { checksum = range } else if key.equals("count") { count = range }
        case UInt8(ascii: "i"):
            if key.equals("instId") { instID = range }
        case UInt8(ascii: "p"):
            if key.equals("px") { px = range } else if key.equals("prevSeqId") { prevSeqID = range }
        case UInt8(ascii: "s"):
            if key.equals("sz") { sz = range } else if key.equals("side") { side = range }
            else if key.equals("seqId") { seqID = range }
        case UInt8(ascii: "t"):
            if key.equals("ts") { ts = range } else if key.equals("tradeId") { tradeID = range }
        default:
            break
        }
    }
}

/// Reads values out of one frame's bytes by range. Every read is bounds-checked and returns `nil`
/// on malformed input, never traps. The buffer must not outlive the `handle` call that owns it.
struct OKXWire: RangeWire {
    let bytes: UnsafeRawBufferPointer

    /// The text of a string or bare value (error codes come as `"60012"` or `60012`), for cold paths.
    func text(_ range: Range<Int>?) -> String? {
        guard let r = range else { return nil }
        if let s = decodedString(r) { return s }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self)
    }

    /// True when the value is the empty string `""` (OKX's "no value", e.g. a ticker side with no orders).
    func isEmptyString(_ range: Range<Int>?) -> Bool {
        guard let r = range else { return false }
        return r.count == 2 && bytes[r.lowerBound] == UInt8(ascii: "\"")
    }

    func isNull(_ range: Range<Int>) -> Bool {
        range.count == 4 && UnsafeRawBufferPointer(rebasing: bytes[range]).equals("null")
    }

    /// A non-negative exact decimal, quoted (`"30218.8"`, OKX's form) or bare.
    func decimal(_ range: Range<Int>?) -> FixedDecimal? {
        guard let r = range else { return nil }
        let raw = string(r) ?? UnsafeRawBufferPointer(rebasing: bytes[r])
        guard case .success(let value) = FixedDecimal.parse(raw), !value.isNegative else { return nil }
        return value
    }

    /// A millisecond timestamp string (`"1652459225393"`) as nanoseconds, rejecting values that would overflow.
    func milliseconds(_ range: Range<Int>?) -> UnixNanos? {
        guard let ms = int(range), ms >= 0, ms <= Int64.max / 1_000_000 else { return nil }
        return .milliseconds(ms)
    }

    /// Parses `[["px","sz","0","orders"], ...]`, appending `[price, size]` in the order sent.
    /// The deprecated liquidated-orders field and the order count are skipped.
    /// - Returns: `false` when malformed or a value is negative.
    func levels(_ range: Range<Int>, into levels: inout [BookLevel]) -> Bool {
        var s = JSONScanner(bytes, index: range.lowerBound)
        guard s.beginArray() else { return false }
        while s.nextElement() {
            guard s.beginArray(), s.nextElement(), let price = s.readDecimal(), s.nextElement(),
                let quantity = s.readDecimal(), !price.isNegative, !quantity.isNegative
            else { return false }
            while s.nextElement() {
                guard s.skipValue() != nil else { return false }
            }
            if s.failed { return false }
            levels.append(BookLevel(price: price, quantity: quantity))
        }
        return !s.failed
    }
}
