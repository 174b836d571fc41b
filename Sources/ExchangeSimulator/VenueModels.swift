public import MarketCore

/// A model that must know a capture's recorded REST answers before the timeline reaches them
/// (Binance: a client that syncs early must get the very snapshot the capture's diffs sync to).
public protocol RESTPrescanning: VenueModel {
    /// Called once per recorded `rest` line, in timeline order, before the timeline starts.
    mutating func prescanREST(url: String, body: String)
}

/// The built-in venue models.
public enum VenueModels {
    /// A fresh model for `venue`, or nil for a venue the simulator does not know (pass a model
    /// to ``ExchangeSimulator/addVenue(_:captures:model:speed:)`` then).
    public static func make(_ venue: Venue) -> (any VenueModel)? {
        switch venue {
        case .binance, .binanceUSDM, .binanceCOINM: BinanceModel(venue: venue)
        case .coinbase: CoinbaseModel()
        case .kraken: KrakenModel()
        case .okx: OKXModel()
        case .bybit: BybitModel()
        default: nil
        }
    }
}
