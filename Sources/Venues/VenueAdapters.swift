public import MarketCore

/// The adapters this build knows, by venue id.
public enum VenueAdapters {
    /// Venue ids with an adapter.
    public static let supported: [Venue] = [.binance, .binanceUSDM, .binanceCOINM, .coinbase, .kraken, .okx, .bybit]

    /// A fresh adapter for `venue`, or `nil` when none exists.
    public static func make(_ venue: Venue, quotes: QuoteSuffixTable = .builtIn) -> (any VenueAdapter)? {
        switch venue {
        case .binance, .binanceUSDM, .binanceCOINM: BinanceAdapter(venue: venue, quotes: quotes)
        case .coinbase: CoinbaseAdapter()
        case .kraken: KrakenAdapter()
        case .okx: OKXAdapter()
        case .bybit: BybitAdapter(quotes: quotes)
        default: nil
        }
    }
}
