import MarketCore

extension BybitAdapter {
    /// `orderbook.{depth}.{symbol}` (https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook):
    /// `type` `snapshot` or `delta`; `data.s` symbol, `data.b`/`data.a` `[price, size]` levels (size 0 in
    /// a delta deletes the level), `data.u` update id, `data.seq` cross sequence; top-level `ts` and `cts`.
    ///
    /// Rules from the docs, and how they map onto ``BookUpdate``:
    /// - "If you receive a new snapshot message, you will have to reset your local orderbook": every
    ///   `snapshot` is `isSnapshot: true`, and the synchronizer replaces the book with it.
    /// - `u` "Update ID": consecutive per symbol, so a delta is `.sequence(u)` under
    ///   `.inStreamSequenced` (each delta must be the previous `u + 1`; anything else is a gap).
    /// - "Occasionally, you'll receive "u"=1, which is a snapshot data due to the restart of the
    ///   service. So please overwrite the locally saved orderbook": a snapshot with `u == 1` is a
    ///   snapshot like any other, and resets the sequence to 1.
    /// - "Linear, inverse, spot level 1 data has snapshot message only" and "if 3 seconds have
    ///   elapsed without a change in the orderbook, a snapshot message will be pushed again, and the
    ///   field u will be the same as that in the previous message": `orderbook.1` is a stream of
    ///   snapshots, each a complete book, so a repeated or skipped `u` there is never a gap.
    /// - `seq` "Cross sequence" increases but is not contiguous ("monotonically increasing per feed,
    ///   not guaranteed to be continuous", https://bybit-exchange.github.io/docs/v5/sbe/level-50/sbe-level-50),
    ///   so it is not a continuity check; it is not used.
    ///
    /// Event time is `cts`, "the timestamp from the matching engine when this orderbook data is
    /// produced. It can be correlated with T from public trade channel", so books and trades share
    /// one clock; `ts` ("the timestamp that the system generates the data") is the push service's
    /// time — a level-1 resend restamps `ts` while the book is older. Frames without `cts` (older
    /// docs samples) use `ts`.
    mutating func handleOrderbook(
        _ envelope: Envelope, _ wire: BybitWire, topic: UnsafeRawBufferPointer, category: BybitCategory,
        receiveTime: UnixNanos, into out: inout [VenueEvent]
    ) throws(VenueParseFailure) {
        // `orderbook.{depth}.{symbol}`: the depth must be digits followed by a dot.
        let afterPrefix = BybitWire.dropping(topic, 10)
        var digits = 0
        while digits < afterPrefix.count, BybitSymbols.isDigit(afterPrefix[digits]) { digits += 1 }
        guard digits > 0, digits < afterPrefix.count, afterPrefix[digits] == UInt8(ascii: ".") else {
            throw VenueParseFailure(reason: "bad orderbook topic")
        }
        let isSnapshot: Bool
        if wire.stringEquals(envelope.type, "snapshot") {
            isSnapshot = true
        } else if wire.stringEquals(envelope.type, "delta") {
            isSnapshot = false
        } else {
            throw VenueParseFailure(reason: envelope.type == nil ? "orderbook without type" : "unknown orderbook type")
        }
        guard let dataAt = envelope.data else { throw VenueParseFailure(reason: "orderbook without data") }
        var s: Int? = nil
        var b: Int? = nil
        var a: Int? = nil
        var u: Int? = nil
        let walked = wire.walkObject(at: dataAt) { key, at in
            guard key.count == 1 else { return }
            switch key[0] {
            case UInt8(ascii: "s"): s = at
            case UInt8(ascii: "b"): b = at
            case UInt8(ascii: "a"): a = at
            case UInt8(ascii: "u"): u = at
            default: break
            }
        }
        guard walked != nil else { throw VenueParseFailure(reason: "orderbook data is not an object") }
        let instrument = try instrument(wire.string(s), category: category)
        guard let updateID = wire.int(u) else {
            throw VenueParseFailure(reason: u == nil ? "orderbook missing u" : "orderbook bad u", instrument: instrument)
        }
        var bids: [BookLevel] = []
        var asks: [BookLevel] = []
        guard wire.levels(b, into: &bids), wire.levels(a, into: &asks) else {
            throw VenueParseFailure(reason: "orderbook missing or bad levels", instrument: instrument)
        }
        let (time, source) = try eventTime(
            envelope, wire, preferMatchingEngine: true, receiveTime: receiveTime, instrument: instrument)
        out.append(
            .book(
                BookUpdate(
                    instrument: instrument, isSnapshot: isSnapshot, bids: bids, asks: asks, sequence: .sequence(updateID),
                    rule: .inStreamSequenced, eventTime: time, receiveTime: receiveTime, timeSource: source)))
    }
}
