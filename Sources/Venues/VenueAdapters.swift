public import MarketCore

/// The adapters this build knows, by venue id (from ``VenueRegistry``).
public enum VenueAdapters {
    /// Venue ids with an adapter.
    public static var supported: [Venue] { VenueRegistry.supported }

    /// A fresh adapter for `venue`, or `nil` when none exists.
    public static func make(_ venue: Venue, quotes: QuoteSuffixTable = .builtIn) -> (any VenueAdapter)? {
        VenueRegistry.definition(venue)?.makeAdapter(quotes: quotes)
    }
}
