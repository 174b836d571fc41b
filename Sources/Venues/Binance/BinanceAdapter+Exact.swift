import MarketCore

/// The spot `trade` and `aggTrade` frames exactly as Binance writes them, read front to back with
/// every key and separator expected in its place:
/// `{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}`,
/// `{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1723161255343,"s":"BTCUSDT","a":3735683259,"p":"61837.63000000","q":"0.02000000","f":3735683259,"l":3735683259,"T":1723161255342,"m":true,"M":true}}`
/// (or the bare payloads). Trades are most of a feed's frames; this is about twice as fast as the
/// key-by-key reader (BENCHMARKS.md). Any byte out of place returns `false` before anything is
/// appended, and the key-by-key reader then decides, so both give the same events (tested on
/// every recorded trade frame).
extension BinanceAdapter {
    mutating func parseSpotTradeExact(
        _ frame: UnsafeRawBufferPointer, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) -> Bool {
        parseSpotTrade(frame, escaped: false, receiveTime: receiveTime, into: &out)
    }

    /// ``parseSpotTradeExact(_:receiveTime:into:)`` on the frame as a capture line holds it, still a
    /// JSON string's content: every quote written `\"`, and no other escape (a frame with any other
    /// backslash is refused). When this accepts, the decoded frame is this text with each `\"`
    /// made `"`, which the decoded reader accepts with the same values: so a replay can skip
    /// decoding the frame (~12 % of a 200k-trade replay).
    mutating func parseSpotTradeEscaped(
        _ frame: UnsafeRawBufferPointer, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) -> Bool {
        parseSpotTrade(frame, escaped: true, receiveTime: receiveTime, into: &out)
    }

    /// One reader for both forms: `escaped` picks the literals with `\"` for `"`.
    @inline(__always)
    mutating func parseSpotTrade(
        _ frame: UnsafeRawBufferPointer, escaped: Bool, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) -> Bool {
        var r = ExactReader(frame, escaped: escaped)
        let combined = r.expect(escaped ? #"{\"stream\":\""# : #"{"stream":""#)
        if combined {
            guard r.plainString() != nil, r.expect(escaped ? #",\"data\":{\"e\":\""# : #","data":{"e":""#) else { return false }
        } else {
            guard r.expect(escaped ? #"{\"e\":\""# : #"{"e":""#) else { return false }
        }
        let aggregated: Bool
        if r.expect(escaped ? #"trade\",\"E\":"# : #"trade","E":"#) {
            aggregated = false
        } else if r.expect(escaped ? #"aggTrade\",\"E\":"# : #"aggTrade","E":"#) {
            aggregated = true
        } else {
            return false
        }
        guard r.integer() != nil, r.expect(escaped ? #",\"s\":\""# : #","s":""#), let symbol = r.plainString(),
            r.expect(
                escaped ? (aggregated ? #",\"a\":"# : #",\"t\":"#) : (aggregated ? #","a":"# : #","t":"#)),
            let id = r.integer(),
            r.expect(escaped ? #",\"p\":\""# : #","p":""#), let price = r.quotedDecimal(),
            r.expect(escaped ? #",\"q\":\""# : #","q":""#), let quantity = r.quotedDecimal()
        else { return false }
        var first: Int64? = nil
        var last: Int64? = nil
        if aggregated {
            guard r.expect(escaped ? #",\"f\":"# : #","f":"#), let f = r.integer(),
                r.expect(escaped ? #",\"l\":"# : #","l":"#), let l = r.integer()
            else { return false }
            first = f
            last = l
        }
        guard r.expect(escaped ? #",\"T\":"# : #","T":"#), let time = r.integer(),
            r.expect(escaped ? #",\"m\":"# : #","m":"#), let buyerIsMaker = r.bool(),
            r.expect(escaped ? #",\"M\":"# : #","M":"#), r.bool() != nil, r.expect("}")
        else { return false }
        guard !combined || r.expect("}"), r.atEnd, let instrument = self.instrument(symbol) else { return false }
        // The instrument and then the trade are moved, not copied: a copy is a retain and a release per frame.
        guard
            let trade = Self.trade(
                consume instrument, id: id, price: price, quantity: quantity, time: time, buyerIsMaker: buyerIsMaker,
                aggregated: aggregated, first: first, last: last, receiveTime: receiveTime)
        else { return false }
        out.append(.trade(consume trade))
        return true
    }
}

/// A cursor that only moves forward over bytes it recognises exactly.
struct ExactReader {
    let bytes: UnsafeRawBufferPointer
    var index = 0
    /// The bytes are a JSON string's content: a string value ends at `\"`, and any other
    /// backslash (an escape to decode) is refused.
    let escaped: Bool

    init(_ bytes: UnsafeRawBufferPointer, escaped: Bool = false) {
        self.bytes = bytes
        self.escaped = escaped
    }

    var atEnd: Bool { index == bytes.count }

    /// Consumes `literal` when the bytes at the cursor are exactly it.
    @inline(__always)
    mutating func expect(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard index &+ n <= bytes.count, n > 0 else { return false }
        // Eight bytes at a time: the escaped literals are 10–20 bytes, compared byte by byte
        // they were a good part of the frame reader's time.
        let a = bytes.baseAddress! + index
        let b = UnsafeRawPointer(literal.utf8Start)
        var k = 0
        while k &+ 8 <= n {
            guard a.loadUnaligned(fromByteOffset: k, as: UInt64.self) == b.loadUnaligned(fromByteOffset: k, as: UInt64.self)
            else { return false }
            k &+= 8
        }
        if k &+ 4 <= n {
            guard a.loadUnaligned(fromByteOffset: k, as: UInt32.self) == b.loadUnaligned(fromByteOffset: k, as: UInt32.self)
            else { return false }
            k &+= 4
        }
        while k < n {
            guard a.load(fromByteOffset: k, as: UInt8.self) == b.load(fromByteOffset: k, as: UInt8.self) else { return false }
            k &+= 1
        }
        index &+= n
        return true
    }

    /// 1–18 digits (no sign, so no overflow).
    @inline(__always)
    mutating func integer() -> Int64? {
        var v: Int64 = 0
        let start = index
        while index < bytes.count, index &- start < 19 {
            let d = bytes[index] &- 48
            guard d < 10 else { break }
            v = v &* 10 &+ Int64(d)
            index &+= 1
        }
        let n = index &- start
        return n > 0 && n <= 18 ? v : nil
    }

    /// The rest of a string without escapes, through its closing quote.
    @inline(__always)
    mutating func plainString() -> UnsafeRawBufferPointer? {
        let start = index
        while index < bytes.count {
            let c = bytes[index]
            if escaped {
                // A bare quote cannot be inside a JSON string's content; `\"` ends the value.
                if c == UInt8(ascii: "\"") { return nil }
                if c == UInt8(ascii: "\\") {
                    guard index &+ 1 < bytes.count, bytes[index &+ 1] == UInt8(ascii: "\"") else { return nil }
                    defer { index &+= 2 }
                    return UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                }
                index &+= 1
                continue
            }
            if c == UInt8(ascii: "\"") {
                defer { index &+= 1 }
                return UnsafeRawBufferPointer(rebasing: bytes[start..<index])
            }
            if c == UInt8(ascii: "\\") { return nil }
            index &+= 1
        }
        return nil
    }

    /// The rest of a quoted decimal, through its closing quote.
    @inline(__always)
    mutating func quotedDecimal() -> FixedDecimal? {
        if escaped {
            let (result, end) = FixedDecimal.parse(bytes, from: index, terminator: UInt8(ascii: "\\"))
            guard case .success(let v) = result, end &+ 1 < bytes.count, bytes[end &+ 1] == UInt8(ascii: "\"") else {
                return nil
            }
            index = end &+ 2
            return v
        }
        let (result, end) = FixedDecimal.parse(bytes, from: index, terminator: UInt8(ascii: "\""))
        guard case .success(let v) = result, end < bytes.count else { return nil }
        index = end &+ 1
        return v
    }

    @inline(__always)
    mutating func bool() -> Bool? {
        if expect("true") { return true }
        if expect("false") { return false }
        return nil
    }
}
