public import MarketCore
public import Venues

/// Which data a feed subscribes to per symbol (``VenueChannels`` for the venue definitions).
public struct FeedChannels: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let trades = FeedChannels(rawValue: 1)
    public static let book = FeedChannels(rawValue: 2)
    public static let ticker = FeedChannels(rawValue: 4)
    public static let all: FeedChannels = [.trades, .book, .ticker]

    var venueChannels: VenueChannels { VenueChannels(rawValue: rawValue) }
}

/// Everything one venue's live feed needs: endpoints, symbols, timers. Endpoints are
/// configuration, so tests point them at the local exchange simulator.
public struct FeedSettings: Sendable, Hashable {
    public var venue: Venue
    /// Canonical symbols (`BTC-USDT`, `BTC-USDT-PERP`).
    public var symbols: [String]
    public var channels: FeedChannels = .all
    /// The websocket endpoint (production: the venue's `VenueDefinition.defaults`).
    public var wsURL: String
    /// The REST base: depth snapshots and trade history hang off it.
    public var restURL: String
    /// No frame for this long means the stream is dead: reconnect.
    public var staleAfter: Duration = .seconds(30)
    /// Application-level ping period (OKX, Bybit, Kraken); nil when the venue pings us.
    public var pingInterval: Duration? = nil
    public var reconnectInitial: Duration = .seconds(1)
    public var reconnectMax: Duration = .seconds(60)
    /// Make-before-break rotation age (Binance: before its 24 h forced disconnect); nil = never.
    public var rotateAfter: Duration? = nil
    /// Streams/args per subscribe message (the venue's documented limit).
    public var subscribeBatch: Int = 100
    /// REST snapshot limit / subscribed book depth.
    public var bookDepth: Int = 1000
    /// Offer permessage-deflate (the venue decides).
    public var compression = true
    /// Largest websocket message accepted (depth snapshots exceed WSClient's 16 KiB default).
    public var maxMessageBytes = 16 << 20
    /// Wait after subscribing before fetching REST snapshots, so diffs are buffered first.
    public var snapshotDelay: Duration = .milliseconds(300)

    public init(venue: Venue, symbols: [String], wsURL: String, restURL: String) {
        self.venue = venue
        self.symbols = symbols
        self.wsURL = wsURL
        self.restURL = restURL
    }

    /// Venues with a live feed plan.
    public static var knownVenues: [Venue] { VenueRegistry.supported }

    /// Production endpoints and documented timers per venue, from its ``VenueDefinition``
    /// (unknown venues get Binance spot's, as a placeholder the plan then refuses).
    public static func defaults(for venue: Venue, symbols: [String]) -> FeedSettings {
        let d = (VenueRegistry.definition(venue) ?? VenueRegistry.all[0]).defaults
        var s = FeedSettings(venue: venue, symbols: symbols, wsURL: d.wsURL, restURL: d.restURL)
        s.pingInterval = d.pingInterval
        s.rotateAfter = d.rotateAfter
        s.subscribeBatch = d.subscribeBatch
        s.bookDepth = d.bookDepth
        return s
    }
}
