import MarketCore

/// Reference parsers for the two hot Binance frames, written with the library's own `JSONScanner`
/// primitives but reading every value where it stands, in one pass over the frame.
///
/// They are not production code: they exist so that `pipeline/binance/*/alt/one-pass` can show what
/// `BinanceAdapter` leaves on the table. The adapter scans each frame about three times (a probe
/// over the envelope that skips `data` byte by byte, a slot pass that skips every value of `data`,
/// then a re-read of each slot) and grows the level arrays from empty. Output is the same
/// `VenueEvent` values, with the same required-field checks.
struct OnePassBinanceParser {
    let instrument: Instrument
    let symbol: [UInt8]

    init(instrument: Instrument) {
        self.instrument = instrument
        self.symbol = Array(instrument.nativeSymbol.utf8)
    }

    func isSymbol(_ raw: UnsafeRawBufferPointer) -> Bool {
        symbol.withUnsafeBytes { s in s.count == raw.count && memcmpEqual(s, raw) }
    }

    /// `{"stream":"btcusdt@trade","data":{"e":"trade","E":…,"s":"BTCUSDT","t":…,"p":"…","q":"…","T":…,"m":true,"M":true}}`
    func parseTrade(_ frame: UnsafeRawBufferPointer, receiveTime: UnixNanos, into out: inout [VenueEvent]) -> Bool {
        var s = JSONScanner(frame)
        guard s.beginObject() else { return false }
        while let key = s.nextKey() {
            guard key.equals("data") else {
                guard s.skipValue() != nil else { return false }
                continue
            }
            guard s.beginObject() else { return false }
            var id: Int64? = nil
            var price: FixedDecimal? = nil
            var quantity: FixedDecimal? = nil
            var time: Int64? = nil
            var buyerIsMaker: Bool? = nil
            var isTrade = false
            var knownSymbol = false
            while let k = s.nextKey() {
                guard k.count == 1 else {
                    guard s.skipValue() != nil else { return false }
                    continue
                }
                switch k[0] {
                case UInt8(ascii: "e"): isTrade = s.readStringRaw()?.equals("trade") ?? false
                case UInt8(ascii: "s"): knownSymbol = s.readStringRaw().map(isSymbol) ?? false
                case UInt8(ascii: "t"): id = s.readInt64()
                case UInt8(ascii: "p"): price = s.readDecimal()
                case UInt8(ascii: "q"): quantity = s.readDecimal()
                case UInt8(ascii: "T"): time = s.readInt64()
                case UInt8(ascii: "m"): buyerIsMaker = s.readBool()
                default: guard s.skipValue() != nil else { return false }
                }
            }
            guard !s.failed, isTrade, knownSymbol, let id, let price, let quantity, let time, let buyerIsMaker else {
                return false
            }
            out.append(
                .trade(
                    Trade(
                        instrument: instrument, id: .number(id), price: price, quantity: quantity,
                        side: buyerIsMaker ? .sell : .buy, eventTime: .milliseconds(time), receiveTime: receiveTime)))
        }
        return !s.failed
    }

    /// `{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":…,"s":"BTCUSDT","U":…,"u":…,"b":[["p","q"],…],"a":[…]}}`
    func parseDepth(
        _ frame: UnsafeRawBufferPointer, receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) -> Bool {
        var s = JSONScanner(frame)
        guard s.beginObject() else { return false }
        while let key = s.nextKey() {
            guard key.equals("data") else {
                guard s.skipValue() != nil else { return false }
                continue
            }
            guard s.beginObject() else { return false }
            var first: Int64? = nil
            var last: Int64? = nil
            var eventMs: Int64? = nil
            var isDepth = false
            var knownSymbol = false
            // A frame is about 1.6 KB for ~45 levels: size the arrays once from the frame length
            // (an upper bound: a level takes at least 10 bytes) instead of growing them from empty.
            var bids: [BookLevel] = []
            var asks: [BookLevel] = []
            var gotBids = false
            var gotAsks = false
            while let k = s.nextKey() {
                guard k.count == 1 else {
                    guard s.skipValue() != nil else { return false }
                    continue
                }
                switch k[0] {
                case UInt8(ascii: "e"): isDepth = s.readStringRaw()?.equals("depthUpdate") ?? false
                case UInt8(ascii: "s"): knownSymbol = s.readStringRaw().map(isSymbol) ?? false
                case UInt8(ascii: "U"): first = s.readInt64()
                case UInt8(ascii: "u"): last = s.readInt64()
                case UInt8(ascii: "E"): eventMs = s.readInt64()
                case UInt8(ascii: "b"): gotBids = Self.levels(&s, into: &bids, hint: frame.count)
                case UInt8(ascii: "a"): gotAsks = Self.levels(&s, into: &asks, hint: frame.count)
                default: guard s.skipValue() != nil else { return false }
                }
            }
            guard !s.failed, isDepth, knownSymbol, gotBids, gotAsks, let first, let last, let eventMs else { return false }
            out.append(
                .book(
                    BookUpdate(
                        instrument: instrument, isSnapshot: false, bids: bids, asks: asks,
                        sequence: .range(first: first, last: last), rule: .binanceSpot,
                        eventTime: .milliseconds(eventMs), receiveTime: receiveTime)))
        }
        return !s.failed
    }

    static func levels(_ s: inout JSONScanner, into levels: inout [BookLevel], hint: Int) -> Bool {
        guard s.beginArray() else { return false }
        var reserved = false
        while s.nextElement() {
            if !reserved {
                levels.reserveCapacity(min(hint / 20, 1024))
                reserved = true
            }
            guard s.beginArray(), let p = s.readDecimal(), s.nextElement(), let q = s.readDecimal() else { return false }
            while s.nextElement() { guard s.skipValue() != nil else { return false } }
            if s.failed { return false }
            levels.append(BookLevel(price: p, quantity: q))
        }
        return !s.failed
    }
}

@inline(__always)
func memcmpEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    for i in 0..<a.count where a[i] != b[i] { return false }
    return true
}
