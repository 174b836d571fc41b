public import MarketCore

/// The venues this build knows: one line per venue id. Adding a venue is a folder under
/// `Sources/Venues/` with its ``VenueDefinition`` and adapter, one line here and one simulator model
/// (docs/venues.md, "Adding a venue").
public enum VenueRegistry {
    public static let all: [any VenueDefinition] = [
        BinanceVenue(.binance),
        BinanceVenue(.binanceUSDM),
        BinanceVenue(.binanceCOINM),
        CoinbaseVenue(),
        KrakenVenue(),
        OKXVenue(),
        BybitVenue(),
    ]

    /// Venue ids with a definition, in registry order.
    public static let supported: [Venue] = all.map(\.venue)

    /// The definition of `venue`, or nil when the build does not know it.
    public static func definition(_ venue: Venue) -> (any VenueDefinition)? {
        all.first { $0.venue == venue }
    }
}
