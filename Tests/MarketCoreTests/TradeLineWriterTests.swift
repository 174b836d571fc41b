import MarketCore
import Testing

/// The replay's one-append trade line (`TradeLineWriter`) against the general writer it stands in
/// for (`MarketEvent.trade(t).writeJSON(into:)` + `endLine()`): the same bytes for every venue's
/// time precision, decimal scales, signs, ids (number and text), counts, days and instrument
/// switches, line after line in one writer.
@Suite struct TradeLineWriterTests {
    static let instruments: [Instrument] = [
        Instrument(venue: .binance, base: "BTC", quote: "USDT", nativeSymbol: "BTCUSDT"),
        Instrument(venue: .coinbase, base: "ETH", quote: "USD", nativeSymbol: "ETH-USD"),
        Instrument(venue: .kraken, base: "XBT", quote: "EUR", nativeSymbol: "XBT/EUR"),
        Instrument(venue: .okx, base: "SOL", quote: "USDT", kind: .perpetual, nativeSymbol: "SOL-USDT-SWAP"),
        Instrument(venue: .bybit, base: "DOGE", quote: "USDT", nativeSymbol: "DOGEUSDT"),
        Instrument(venue: .binanceUSDM, base: "BTC", quote: "USDT", kind: .perpetual, nativeSymbol: "BTCUSDT"),
    ]

    static func decimal(_ g: inout SeededGenerator) -> FixedDecimal {
        let scale = Int.random(in: 0...12, using: &g)
        let mantissa = Int64.random(in: -1_000_000_000_000...1_000_000_000_000, using: &g)
        let display = Bool.random(using: &g) ? scale + Int.random(in: 0...6, using: &g) : nil
        return FixedDecimal(mantissa: mantissa, scale: scale, displayScale: display) ?? FixedDecimal(mantissa)
    }

    @Test func writesTheGeneralWritersBytes() {
        var g = SeededGenerator(seed: 20_261_207)
        var fast = JSONWriter()
        var general = JSONWriter()
        var lines = TradeLineWriter()
        for n in 0..<20_000 {
            let id: TradeID =
                n % 97 == 0 ? .text("t-\(n)") : .number(n % 89 == 0 ? -Int64(n) : Int64.random(in: 0...Int64.max, using: &g))
            let count: Int64 = [1, 1, 1, 0, 2, 1_000_000, -3][Int.random(in: 0..<7, using: &g)]
            // Times from 1970 to 2100, nanosecond resolution: every day cache transition.
            let time = UnixNanos(Int64.random(in: 0...4_102_444_800_000_000_000, using: &g))
            let t = Trade(
                instrument: Self.instruments[Int.random(in: 0..<Self.instruments.count, using: &g)], id: id,
                price: Self.decimal(&g), quantity: Self.decimal(&g), side: Bool.random(using: &g) ? .buy : .sell,
                eventTime: n % 5 == 0 ? UnixNanos(time.rawValue - time.rawValue % 86_400_000_000_000) : time, receiveTime: time,
                count: count)
            lines.writeLine(t, into: &fast)
            MarketEvent.trade(t).writeJSON(into: &general)
            general.endLine()
        }
        // Compared as one Bool: a failure names the first differing line, not 3 MB of bytes.
        let same = fast.bytes == general.bytes
        let at = zip(fast.bytes, general.bytes).prefix { $0 == $1 }.count
        let line = { (b: [UInt8]) in String(decoding: b[at...].prefix { $0 != 10 }, as: UTF8.self) }
        #expect(same, "\(fast.bytes.count) vs \(general.bytes.count) bytes; first difference at byte \(at): '\(line(fast.bytes))' vs '\(line(general.bytes))'")
    }
}
