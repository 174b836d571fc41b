public import MarketCore

/// Turns normalizer output into row lines (``RowBatch``) for the store's tables.
///
/// Stored: trades, closed 1m/5m candles (each revision; the store keeps the latest), and valid
/// book snapshots. Other events (tickers, statuses, open-candle updates, other intervals) are not
/// stored and return `nil`.
///
/// Times are the replay output's ISO-8601 text at the venue's precision. Trades without a venue
/// id (Kraken v1) get a derived id `t<time_ns>.<n>` (n counts id-less trades of that instrument
/// at that same time, in arrival order), so storing the same capture twice stores them once.
public struct StoreRowEncoder: Sendable {
    private var idless: [Instrument: (time: UnixNanos, count: Int)] = [:]
    private var line: [UInt8] = []

    public init() { line.reserveCapacity(512) }

    /// The table and row line (with `\n`) for an event, or `nil` when the event is not stored.
    public mutating func encode(_ event: MarketEvent) -> (table: StoreTable, line: [UInt8])? {
        line.removeAll(keepingCapacity: true)
        let table: StoreTable
        switch event {
        case .trade(let t):
            table = .trades
            encode(t)
        case .candle(let c):
            guard c.closed, let t = StoreTable.candles(c.interval) else { return nil }
            table = t
            encode(c)
        case .bookSnapshot(let s):
            guard s.valid else { return nil }
            table = .bookSnapshots
            encode(s)
        case .ticker, .status:
            return nil
        }
        line.append(0x0A)
        return (table, line)
    }

    private mutating func encode(_ t: Trade) {
        time(t.eventTime, digits: t.instrument.venue.timeFractionDigits)
        instrument(t.instrument)
        switch t.id {
        case .number(let n): text(String(n))
        case .text(let s): text(s)
        case .none:
            var n = 0
            if let last = idless[t.instrument], last.time == t.eventTime { n = last.count + 1 }
            idless[t.instrument] = (t.eventTime, n)
            text("t\(t.eventTime.rawValue).\(n)")
        }
        t.price.write(into: &line)
        tab()
        t.quantity.write(into: &line)
        tab()
        text(t.side.text)
        line.append(contentsOf: String(t.count).utf8)  // the last field: no tab after it
    }

    private mutating func encode(_ c: Candle) {
        time(c.start, digits: 0)
        instrument(c.instrument)
        for d in [c.open, c.high, c.low, c.close] {
            d.write(into: &line)
            tab()
        }
        c.volume.write(into: &line)
        tab()
        c.quoteVolume.write(into: &line)
        tab()
        int(c.trades)
        c.vwap.write(into: &line)
        tab()
        c.takerBuyVolume.write(into: &line)
        tab()
        int(Int64(c.revision))
        line.append(c.complete ? UInt8(ascii: "t") : UInt8(ascii: "f"))
    }

    private mutating func encode(_ s: BookSnapshot) {
        time(s.time, digits: s.instrument.venue.timeFractionDigits)
        instrument(s.instrument)
        optional(s.bestBid?.price)
        optional(s.bestBid?.quantity)
        optional(s.bestAsk?.price)
        optional(s.bestAsk?.quantity)
        optional(s.spread)
        optional(s.mid)
        levels(s.bids)
        tab()
        levels(s.asks)
    }

    // MARK: fields (each followed by a tab, except the last one of a row)

    private mutating func tab() { line.append(0x09) }

    private mutating func time(_ t: UnixNanos, digits: Int) {
        t.writeISO8601(fractionDigits: digits, into: &line)
        tab()
    }

    private mutating func instrument(_ i: Instrument) {
        text(i.venue.id)
        text(i.symbol)
    }

    private mutating func text(_ s: String) {
        for c in s.utf8 {
            switch c {
            case 0x5C: line.append(0x5C); line.append(0x5C)
            case 0x09: line.append(0x5C); line.append(UInt8(ascii: "t"))
            case 0x0A: line.append(0x5C); line.append(UInt8(ascii: "n"))
            case 0x0D: line.append(0x5C); line.append(UInt8(ascii: "r"))
            default: line.append(c)
            }
        }
        tab()
    }

    private mutating func int(_ v: Int64) {
        line.append(contentsOf: String(v).utf8)
        tab()
    }

    private mutating func optional(_ d: FixedDecimal?) {
        if let d { d.write(into: &line) } else { line.append(0x5C); line.append(UInt8(ascii: "N")) }
        tab()
    }

    /// `{{price,qty},...}`; `{}` when empty. Decimals need no quoting in an array literal.
    private mutating func levels(_ levels: [BookLevel]) {
        line.append(UInt8(ascii: "{"))
        for (i, l) in levels.enumerated() {
            if i > 0 { line.append(UInt8(ascii: ",")) }
            line.append(UInt8(ascii: "{"))
            l.price.write(into: &line)
            line.append(UInt8(ascii: ","))
            l.quantity.write(into: &line)
            line.append(UInt8(ascii: "}"))
        }
        line.append(UInt8(ascii: "}"))
    }
}
