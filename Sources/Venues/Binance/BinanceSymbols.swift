public import MarketCore

/// Binance symbol mapping for spot, USD-M and COIN-M (CONTRACTS.md, "Venues and symbols").
///
/// - spot `BTCUSDT` → `BTC-USDT` (split by the longest known quote suffix);
/// - USD-M `BTCUSDT` → `BTC-USDT-PERP`, `BTCUSDT_210924` → `BTC-USDT-20210924`;
/// - COIN-M `BTCUSD_PERP` → `BTC-USD-PERP`, `BTCUSD_211231` → `BTC-USD-20211231`.
public enum BinanceSymbols {
    public static func instrument(native: String, venue: Venue, quotes: QuoteSuffixTable) -> Instrument? {
        let upper = native.uppercased()
        let parts = upper.split(separator: "_", omittingEmptySubsequences: false)
        guard let pair = parts.first, !pair.isEmpty, parts.count <= 2 else { return nil }
        guard let (base, quote) = quotes.split(String(pair)) else { return nil }
        let isFutures = venue == .binanceUSDM || venue == .binanceCOINM
        if parts.count == 1 {
            // A bare pair is spot on the spot venue and the perpetual on USD-M.
            return Instrument(venue: venue, base: base, quote: quote, kind: isFutures ? .perpetual : .spot, nativeSymbol: native)
        }
        let suffix = parts[1]
        if suffix == "PERP" {
            return Instrument(venue: venue, base: base, quote: quote, kind: .perpetual, nativeSymbol: native)
        }
        // Delivery contracts: YYMMDD.
        guard suffix.count == 6, suffix.allSatisfy(\.isNumber) else { return nil }
        return Instrument(venue: venue, base: base, quote: quote, kind: .future(expiry: "20" + suffix), nativeSymbol: native)
    }
}
