public import MarketCore

/// Which data a feed subscribes to per symbol.
public struct FeedChannels: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let trades = FeedChannels(rawValue: 1)
    public static let book = FeedChannels(rawValue: 2)
    public static let ticker = FeedChannels(rawValue: 4)
    public static let all: FeedChannels = [.trades, .book, .ticker]
}

/// Everything one venue's live feed needs: endpoints, symbols, timers. Endpoints are
/// configuration, so tests point them at the local exchange simulator.
public struct FeedSettings: Sendable, Hashable {
    public var venue: Venue
    /// Canonical symbols (`BTC-USDT`, `BTC-USDT-PERP`).
    public var symbols: [String]
    public var channels: FeedChannels = .all
    /// The websocket endpoint (`wss://stream.binance.com:9443/ws`).
    public var wsURL: String
    /// The REST base (`https://api.binance.com`): depth snapshots and trade history hang off it.
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
    public static let knownVenues: [Venue] = [.binance, .binanceUSDM, .binanceCOINM, .coinbase, .kraken, .okx, .bybit]

    /// Production endpoints and documented timers per venue.
    public static func defaults(for venue: Venue, symbols: [String]) -> FeedSettings {
        var s: FeedSettings
        switch venue {
        case .binanceUSDM:
            s = FeedSettings(venue: venue, symbols: symbols, wsURL: "wss://fstream.binance.com/ws", restURL: "https://fapi.binance.com")
        case .binanceCOINM:
            s = FeedSettings(venue: venue, symbols: symbols, wsURL: "wss://dstream.binance.com/ws", restURL: "https://dapi.binance.com")
        case .coinbase:
            s = FeedSettings(venue: venue, symbols: symbols, wsURL: "wss://ws-feed.exchange.coinbase.com", restURL: "https://api.exchange.coinbase.com")
        case .kraken:
            s = FeedSettings(venue: venue, symbols: symbols, wsURL: "wss://ws.kraken.com", restURL: "https://api.kraken.com")
            s.pingInterval = .seconds(30)
        case .okx:
            s = FeedSettings(venue: venue, symbols: symbols, wsURL: "wss://ws.okx.com:8443/ws/v5/public", restURL: "https://www.okx.com")
            s.pingInterval = .seconds(25)
            s.bookDepth = 400
        case .bybit:
            s = FeedSettings(venue: venue, symbols: symbols, wsURL: "wss://stream.bybit.com/v5/public/spot", restURL: "https://api.bybit.com")
            s.pingInterval = .seconds(20)
            s.bookDepth = 200
            s.subscribeBatch = 10
        default:
            s = FeedSettings(venue: venue, symbols: symbols, wsURL: "wss://stream.binance.com:9443/ws", restURL: "https://api.binance.com")
        }
        if venue == .binance || venue == .binanceUSDM || venue == .binanceCOINM {
            // Binance disconnects every connection after 24 h; rotate well before.
            s.rotateAfter = .seconds(23 * 3600 + 30 * 60)
            s.subscribeBatch = 200
        }
        return s
    }
}
