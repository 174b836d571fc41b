/// The JSON shapes of CONTRACTS.md ("`gateway replay`"): one object per event.
///
/// The same field sets are the `data` of websocket frames, so this is the one place they are written.
extension MarketEvent {
    /// Writes the event as a replay line object (`type`, `venue`, `symbol`, then the type's fields).
    public func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("type")
        w.string(typeName)
        writeFields(into: &w)
        w.endObject()
    }

    /// The event as one JSON line (no trailing newline).
    public var jsonLine: String {
        var w = JSONWriter()
        writeJSON(into: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// Writes the fields after `type` (shared by replay lines and protocol `data` objects).
    public func writeFields(into w: inout JSONWriter) {
        switch self {
        case .trade(let t): Self.write(t, into: &w)
        case .candle(let c): Self.write(c, into: &w)
        case .bookSnapshot(let s): Self.write(s, into: &w)
        case .ticker(let t): Self.write(t, into: &w)
        case .status(let s): Self.write(s, into: &w)
        }
    }

    static func writeInstrument(_ i: Instrument, into w: inout JSONWriter) {
        w.key("venue")
        w.string(i.venue.id)
        w.key("symbol")
        w.string(i.symbol)
    }

    static func write(_ t: Trade, into w: inout JSONWriter) {
        writeInstrument(t.instrument, into: &w)
        w.key("ts")
        w.time(t.eventTime, fractionDigits: t.instrument.venue.timeFractionDigits)
        w.key("id")
        switch t.id {
        case .number(let n): w.intString(n)
        case .text(let s): w.string(s)
        case .none: w.null()
        }
        w.key("price")
        w.decimal(t.price)
        w.key("qty")
        w.decimal(t.quantity)
        w.key("side")
        w.string(t.side.text)
        if t.count != 1 {
            w.key("trades")
            w.int(t.count)
        }
    }

    static func write(_ c: Candle, into w: inout JSONWriter) {
        writeCandleFields(
            venue: c.instrument.venue.id, symbol: c.instrument.symbol, interval: c.interval, start: c.start,
            open: WideDecimal(c.open), high: WideDecimal(c.high), low: WideDecimal(c.low), close: WideDecimal(c.close),
            volume: c.volume, quoteVolume: c.quoteVolume, trades: c.trades, vwap: c.vwap,
            takerBuyVolume: c.takerBuyVolume, closed: c.closed, revision: c.revision, complete: c.complete, into: &w)
    }

    /// The `candle` fields after `type` (CONTRACTS.md): shared by live candles and stored ones.
    public static func writeCandleFields(
        venue: String, symbol: String, interval: Interval, start: UnixNanos, open: WideDecimal, high: WideDecimal,
        low: WideDecimal, close: WideDecimal, volume: WideDecimal, quoteVolume: WideDecimal, trades: Int64,
        vwap: WideDecimal, takerBuyVolume: WideDecimal, closed: Bool, revision: Int, complete: Bool,
        into w: inout JSONWriter
    ) {
        w.key("venue")
        w.string(venue)
        w.key("symbol")
        w.string(symbol)
        w.key("interval")
        w.string(interval.name)
        w.key("start")
        w.time(start, fractionDigits: 0)
        w.key("open")
        w.decimal(open)
        w.key("high")
        w.decimal(high)
        w.key("low")
        w.decimal(low)
        w.key("close")
        w.decimal(close)
        w.key("volume")
        w.decimal(volume)
        w.key("quote_volume")
        w.decimal(quoteVolume)
        w.key("trades")
        w.int(trades)
        w.key("vwap")
        w.decimal(vwap)
        w.key("taker_buy_volume")
        w.decimal(takerBuyVolume)
        w.key("closed")
        w.bool(closed)
        w.key("revision")
        w.int(Int64(revision))
        w.key("complete")
        w.bool(complete)
    }

    static func writeLevels(_ levels: [BookLevel], into w: inout JSONWriter) {
        w.beginArray()
        for l in levels {
            w.beginArray()
            w.decimal(l.price)
            w.decimal(l.quantity)
            w.endArray()
        }
        w.endArray()
    }

    static func write(_ s: BookSnapshot, into w: inout JSONWriter) {
        writeInstrument(s.instrument, into: &w)
        w.key("ts")
        w.time(s.time, fractionDigits: s.instrument.venue.timeFractionDigits)
        w.key("bids")
        writeLevels(s.bids, into: &w)
        w.key("asks")
        writeLevels(s.asks, into: &w)
        w.key("best_bid")
        if let b = s.bestBid { w.decimal(b.price) } else { w.null() }
        w.key("best_ask")
        if let a = s.bestAsk { w.decimal(a.price) } else { w.null() }
        w.key("spread")
        if let v = s.spread { w.decimal(v) } else { w.null() }
        w.key("mid")
        if let v = s.mid { w.decimal(v) } else { w.null() }
        w.key("valid")
        w.bool(s.valid)
    }

    static func write(_ t: Ticker, into w: inout JSONWriter) {
        writeInstrument(t.instrument, into: &w)
        w.key("ts")
        w.time(t.eventTime, fractionDigits: t.instrument.venue.timeFractionDigits)
        if t.timeSource == .receive {
            w.key("time_source")
            w.string("receive")
        }
        w.key("bid")
        if let b = t.bestBid { w.decimal(b.price) } else { w.null() }
        w.key("bid_qty")
        if let b = t.bestBid { w.decimal(b.quantity) } else { w.null() }
        w.key("ask")
        if let a = t.bestAsk { w.decimal(a.price) } else { w.null() }
        w.key("ask_qty")
        if let a = t.bestAsk { w.decimal(a.quantity) } else { w.null() }
    }

    static func write(_ s: FeedStatus, into w: inout JSONWriter) {
        w.key("venue")
        w.string(s.venue.id)
        w.key("symbol")
        if let i = s.instrument { w.string(i.symbol) } else { w.null() }
        w.key("ts")
        w.time(s.time, fractionDigits: s.venue.timeFractionDigits)
        w.key("event")
        w.string(s.kind.name)
        w.key("detail")
        w.string(s.detail)
    }
}
