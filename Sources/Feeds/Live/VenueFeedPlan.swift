public import MarketCore
public import Venues

/// How the books of a venue are synchronized after a (re)connect (defined with the venue).
public typealias BookSyncMode = Venues.BookSyncMode
/// How one instrument's book comes back while the connection stays up (defined with the venue).
public typealias BookResync = Venues.BookResync

/// One connection's wire plan: the venue's ``VenueDefinition`` applied to ``FeedSettings``
/// (native symbols, subscribe messages, heartbeat text, REST URLs, control frames). Pure: no I/O.
public struct VenueFeedPlan: Sendable {
    public let settings: FeedSettings
    /// Native symbol per canonical symbol, in configuration order.
    public let natives: [(canonical: String, native: String)]
    /// Everything the feed needs to know about the venue.
    public let definition: any VenueDefinition
    /// The venue's parser, asked only to classify control frames (parse-side state is not used).
    let adapter: any VenueAdapter

    public init(_ settings: FeedSettings) throws(FeedPlanError) {
        guard let definition = VenueRegistry.definition(settings.venue) else {
            throw FeedPlanError(description: "\(settings.venue.id): no such venue (known: \(VenueRegistry.supported.map(\.id).joined(separator: ", ")))")
        }
        self.settings = settings
        self.definition = definition
        var natives: [(String, String)] = []
        for s in settings.symbols {
            guard let n = definition.native(canonical: s, wsURL: settings.wsURL) else {
                throw FeedPlanError(description: "\(settings.venue.id): cannot map symbol '\(s)' to the venue's own symbol")
            }
            natives.append((s, n))
        }
        self.natives = natives
        self.adapter = definition.makeAdapter(quotes: .builtIn)
    }

    public var venue: Venue { settings.venue }

    public var bookSync: BookSyncMode { definition.bookSync }

    /// How one instrument's book is resynchronized while the connection stays up.
    public var bookResync: BookResync { definition.bookResync }

    /// The canonical → native symbol rule of each venue (CONTRACTS.md, "Venues and symbols", in reverse).
    public static func native(canonical: String, venue: Venue) -> String? {
        guard let d = VenueRegistry.definition(venue) else { return nil }
        return d.native(canonical: canonical, wsURL: d.defaults.wsURL)
    }

    var scope: SubscriptionScope {
        SubscriptionScope(channels: settings.channels.venueChannels, bookDepth: settings.bookDepth, batch: settings.subscribeBatch, wsURL: settings.wsURL)
    }

    /// The subscribe messages for one connection, batched within the venue's limits.
    public func subscribeMessages() -> [String] { definition.subscribeMessages(natives.map(\.native), scope) }

    /// The messages that subscribe (or unsubscribe) one instrument alone.
    public func subscribeMessages(native: String) -> [String] { definition.subscribeMessages([native], scope) }
    public func unsubscribeMessages(native: String) -> [String] { definition.unsubscribeMessages([native], scope) }

    /// Unsubscribes and resubscribes one instrument's book channel alone (its trades and ticker
    /// stay subscribed): the venue answers with a fresh snapshot of that book.
    public func resubscribeBookMessages(native: String) -> [String] {
        var book = scope
        book.channels = .book
        return definition.unsubscribeMessages([native], book) + definition.subscribeMessages([native], book)
    }

    /// The application-level ping text, when the venue wants one.
    public func pingText(_ n: Int) -> String? { definition.pingText(n) }

    /// REST depth snapshot URL (REST-synced venues).
    public func depthSnapshotURL(native: String) -> String {
        definition.depthSnapshotURL(native: native, restURL: settings.restURL, bookDepth: settings.bookDepth) ?? settings.restURL
    }

    /// REST trade history from `fromID` (at most 1000), where the venue has one with id ranges.
    public func tradeHistoryURL(native: String, fromID: Int64, stream: TradeStream) -> String? {
        definition.tradeHistoryURL(native: native, fromID: fromID, stream: stream, restURL: settings.restURL)
    }

    /// What `frame` means for the connection (refusal, shutdown notice, pong), as the venue's
    /// adapter reads it; `nil` for data.
    public func control(_ frame: [UInt8]) -> ControlFrame? {
        frame.withUnsafeBytes { adapter.control($0) }
    }
}

/// A feed configuration that cannot be turned into a connection plan.
public struct FeedPlanError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
