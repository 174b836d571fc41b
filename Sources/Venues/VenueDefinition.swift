public import MarketCore

/// Which data a feed subscribes to per symbol.
public struct VenueChannels: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let trades = VenueChannels(rawValue: 1)
    public static let book = VenueChannels(rawValue: 2)
    public static let ticker = VenueChannels(rawValue: 4)
    public static let all: VenueChannels = [.trades, .book, .ticker]
}

/// How the books of a venue are synchronized after a (re)connect.
public enum BookSyncMode: Sendable {
    /// Diffs are buffered and a REST depth snapshot bridges them (Binance).
    case restSnapshot
    /// The venue pushes a snapshot on subscribe (Coinbase, Kraken, OKX, Bybit): resync = resubscribe.
    case streamSnapshot
}

/// How one instrument's book comes back while its connection stays up (a gap, a checksum failure).
public enum BookResync: Sendable, Hashable {
    /// Fetch a REST depth snapshot of that instrument (Binance).
    case restSnapshot
    /// Unsubscribe and resubscribe that instrument's book channel on the live connection: the venue
    /// answers with a fresh snapshot of it, and the connection's other books carry on.
    case resubscribe
    /// Reconnect: the resubscription brings every book of the connection back (and invalidates them all).
    case reconnect
}

/// A venue's production endpoints and timers: the defaults of a feed and of the configuration.
public struct VenueDefaults: Sendable, Hashable {
    /// The websocket endpoint.
    public var wsURL: String
    /// The REST base (depth snapshots and trade history hang off it).
    public var restURL: String
    /// Application-level ping period; nil when the venue pings us.
    public var pingInterval: Duration?
    /// Make-before-break rotation age; nil = never.
    public var rotateAfter: Duration?
    /// Streams/args per subscribe message.
    public var subscribeBatch: Int
    /// REST snapshot limit / subscribed book depth.
    public var bookDepth: Int
}

/// A documented limit in time, with the rule as configuration errors state it.
public struct TimedLimit: Sendable, Hashable {
    public var value: Duration
    /// e.g. `must be under 24h (Binance closes every connection at 24 h)`.
    public var rule: String
}

/// What a venue documents as allowed on one connection (some depend on the URL: Bybit's category).
public struct VenueLimits: Sendable, Hashable {
    public enum SymbolKinds: Sendable, Hashable { case spotOnly, perpetualsOnly, both }
    /// Which canonical symbols a connection can carry.
    public var symbolKinds: SymbolKinds
    /// Appended to a wrong-kind symbol's error: where those symbols go instead.
    public var symbolHint = ""
    /// Book depths when the venue only offers fixed ones, and their name in messages.
    public var bookDepths: FixedDepths? = nil
    /// The largest book depth where any value up to it is accepted.
    public var maxBookDepth: Int? = nil
    /// The most streams/args per subscribe message.
    public var maxSubscribeBatch: Int? = nil
    /// The venue closes a connection that receives nothing this long: pings must be on and shorter.
    public var silenceLimit: TimedLimit? = nil
    /// The venue closes every connection at this age: rotation must come earlier.
    public var connectionLifetime: TimedLimit? = nil

    public init(symbolKinds: SymbolKinds) { self.symbolKinds = symbolKinds }

    public struct FixedDepths: Sendable, Hashable {
        public var allowed: [Int]
        /// e.g. `Kraken book depth`.
        public var name: String
    }
}

/// What one connection subscribes to, besides its symbols.
public struct SubscriptionScope: Sendable, Hashable {
    public var channels: VenueChannels
    /// The configured book depth (venues with fixed depths round it up).
    public var bookDepth: Int
    /// Streams/args (or symbols) per message.
    public var batch: Int
    /// The connection's URL (Bybit's category is in it).
    public var wsURL: String

    public init(channels: VenueChannels, bookDepth: Int, batch: Int, wsURL: String) {
        self.channels = channels
        self.bookDepth = bookDepth
        self.batch = max(1, batch)
        self.wsURL = wsURL
    }
}

/// Everything about one venue id that is not parsing: endpoints and documented limits (one
/// table), symbols both ways, subscribe/unsubscribe, heartbeat, REST snapshot and backfill
/// requests, and how books resync. One conforming type per folder under `Sources/Venues/`;
/// ``VenueRegistry`` lists them. Pure: text in, text out.
public protocol VenueDefinition: Sendable {
    var venue: Venue { get }
    /// Production endpoints and timers.
    var defaults: VenueDefaults { get }
    /// The documented limits of a connection to `wsURL`.
    func limits(wsURL: String) -> VenueLimits
    /// Whether ``limits(wsURL:)`` and the symbols depend on the URL (Bybit's category).
    var limitsDependOnURL: Bool { get }
    /// The venue's own symbol for a canonical one (`BTC-USDT-PERP`), or nil when it has none.
    func native(canonical: String, wsURL: String) -> String?
    /// The instrument a native symbol names on a connection to `wsURL`.
    func instrument(native: String, wsURL: String, quotes: QuoteSuffixTable) -> Instrument?
    /// The messages that subscribe `natives`, batched within the venue's limits. One instrument
    /// alone is a valid list, so a single instrument can be resubscribed.
    func subscribeMessages(_ natives: [String], _ scope: SubscriptionScope) -> [String]
    /// The messages that undo ``subscribeMessages(_:_:)`` for `natives`.
    func unsubscribeMessages(_ natives: [String], _ scope: SubscriptionScope) -> [String]
    /// The `n`th application-level ping, when the venue wants one.
    func pingText(_ n: Int) -> String?
    /// How books come back after a break.
    var bookSync: BookSyncMode { get }
    /// How one instrument's book is resynchronized while the connection stays up.
    var bookResync: BookResync { get }
    /// REST depth snapshot URL (REST-synced venues).
    func depthSnapshotURL(native: String, restURL: String, bookDepth: Int) -> String?
    /// REST trade history from `fromID` (at most 1000), where the venue has one with id ranges.
    func tradeHistoryURL(native: String, fromID: Int64, stream: TradeStream, restURL: String) -> String?
    /// A fresh parser.
    func makeAdapter(quotes: QuoteSuffixTable) -> any VenueAdapter
}

extension VenueDefinition {
    public var limitsDependOnURL: Bool { false }
    public var bookSync: BookSyncMode { .streamSnapshot }
    /// REST-synced venues fetch one snapshot; the others reconnect unless they say they can resubscribe one book.
    public var bookResync: BookResync { bookSync == .restSnapshot ? .restSnapshot : .reconnect }
    public func pingText(_ n: Int) -> String? { nil }
    public func depthSnapshotURL(native: String, restURL: String, bookDepth: Int) -> String? { nil }
    public func tradeHistoryURL(native: String, fromID: Int64, stream: TradeStream, restURL: String) -> String? { nil }

    /// `url` without one trailing `/`.
    func trimmed(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }
}

/// A canonical symbol taken apart: `BASE-QUOTE`, `BASE-QUOTE-PERP` or `BASE-QUOTE-YYYYMMDD`
/// (CONTRACTS.md, "Venues and symbols").
public struct CanonicalSymbol: Sendable, Hashable {
    public var base: String
    public var quote: String
    public var perpetual: Bool
    /// A dated future's expiry as the venues write it: `YYMMDD`.
    public var expiry: String?

    public var isSpot: Bool { !perpetual && expiry == nil }

    public init?(_ canonical: String) {
        let parts = canonical.uppercased().split(separator: "-").map(String.init)
        guard parts.count >= 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        base = parts[0]
        quote = parts[1]
        perpetual = parts.count == 3 && parts[2] == "PERP"
        expiry = parts.count == 3 && parts[2].count == 8 && parts[2].allSatisfy(\.isNumber) ? String(parts[2].dropFirst(2)) : nil
        guard parts.count == 2 || perpetual || expiry != nil else { return nil }
    }
}
