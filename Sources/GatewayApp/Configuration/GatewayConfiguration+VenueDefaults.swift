extension GatewayConfiguration.VenueSettings {
    /// `id`'s production endpoints and documented timers and limits, enabled, with no symbols.
    ///
    /// Heartbeats and limits, from each venue's documentation:
    /// - Binance spot: the server sends a ping frame every 20 s and the client only answers it;
    ///   every connection is closed at 24 h (rotate at 23h30m, before it); at most 1024 streams per
    ///   connection; REST depth `limit` 1...5000. USD-M / COIN-M futures: the server pings every
    ///   3 min, same 24 h cut and 1024 streams; REST depth `limit` is one of 5, 10, 20, 50, 100,
    ///   500, 1000. Subscribe batches of 200 streams per message stay far inside the 1024-stream
    ///   and 5 (spot) / 10 (futures) messages-per-second limits.
    /// - Coinbase Exchange: no client ping (the `heartbeat` channel proves liveness); `level2`
    ///   sends the full book, so `book_depth` does not apply.
    /// - Kraken v1: the client may send `{"event":"ping"}` (an application ping); the server sends
    ///   a heartbeat about once a second when quiet. Ping every 30 s. Book depths 10, 25, 100,
    ///   500, 1000.
    /// - OKX v5: a connection that receives nothing for 30 s is closed; send `ping` when no
    ///   message arrived within N < 30 s: 25 s. The `books` channel has 400 levels. Subscribe
    ///   messages may hold any number of args up to 64 KB in total: 100 per message.
    /// - Bybit v5: send `{"op":"ping"}` every 20 s; spot accepts at most 10 args per subscribe
    ///   request; orderbook depths: spot 1, 50, 200; linear / inverse 1, 50, 200, 500, 1000.
    public static func defaults(for id: GatewayConfiguration.VenueID) -> Self {
        var s: Self
        switch id {
        case .binance:
            s = Self(id: id, wsURL: "wss://stream.binance.com:9443/ws", restURL: "https://api.binance.com", subscribeBatch: 200, bookDepth: 1000)
        case .binanceUSDM:
            s = Self(id: id, wsURL: "wss://fstream.binance.com/ws", restURL: "https://fapi.binance.com", subscribeBatch: 200, bookDepth: 1000)
        case .binanceCOINM:
            s = Self(id: id, wsURL: "wss://dstream.binance.com/ws", restURL: "https://dapi.binance.com", subscribeBatch: 200, bookDepth: 1000)
        case .coinbase:
            s = Self(id: id, wsURL: "wss://ws-feed.exchange.coinbase.com", restURL: "https://api.exchange.coinbase.com", subscribeBatch: 100, bookDepth: 1000)
        case .kraken:
            s = Self(id: id, wsURL: "wss://ws.kraken.com", restURL: "https://api.kraken.com", subscribeBatch: 100, bookDepth: 1000)
            s.pingInterval = .seconds(30)
        case .okx:
            s = Self(id: id, wsURL: "wss://ws.okx.com:8443/ws/v5/public", restURL: "https://www.okx.com", subscribeBatch: 100, bookDepth: 400)
            s.pingInterval = .seconds(25)
        case .bybit:
            s = Self(id: id, wsURL: "wss://stream.bybit.com/v5/public/spot", restURL: "https://api.bybit.com", subscribeBatch: 10, bookDepth: 200)
            s.pingInterval = .seconds(20)
        }
        if id.isBinance { s.rotateAfter = .seconds(23 * 3600 + 30 * 60) }
        return s
    }
}

extension GatewayConfiguration.VenueID {
    var isBinance: Bool { self == .binance || self == .binanceUSDM || self == .binanceCOINM }
}

/// The per-venue rules validation applies (the sources are cited on `defaults(for:)`).
enum VenueRules {
    enum SymbolKinds { case spotOnly, perpetualsOnly, both }

    /// Which canonical symbols a feed at `wsURL` can carry. Bybit's category is the URL's last
    /// path segment, as VenueFeedPlan reads it (`…/spot`, anything else linear).
    static func symbolKinds(_ id: GatewayConfiguration.VenueID, wsURL: String) -> SymbolKinds {
        switch id {
        case .binance, .coinbase, .kraken: .spotOnly
        case .binanceUSDM, .binanceCOINM: .perpetualsOnly
        case .okx: .both
        case .bybit: isBybitSpot(wsURL) ? .spotOnly : .perpetualsOnly
        }
    }

    static func isBybitSpot(_ wsURL: String) -> Bool { wsURL.hasSuffix("/spot") }

    /// The allowed `book_depth` values: a set when the venue only offers fixed depths, with the
    /// name used in the message.
    static func bookDepths(_ id: GatewayConfiguration.VenueID, wsURL: String) -> (allowed: [Int], name: String)? {
        switch id {
        case .binanceUSDM, .binanceCOINM: ([5, 10, 20, 50, 100, 500, 1000], "Binance futures REST depth limit")
        case .kraken: ([10, 25, 100, 500, 1000], "Kraken book depth")
        case .bybit: isBybitSpot(wsURL) ? ([1, 50, 200], "Bybit spot orderbook depth") : ([1, 50, 200, 500, 1000], "Bybit orderbook depth")
        default: nil
        }
    }

    /// The largest `book_depth` where the venue takes any value up to a limit.
    static func maxBookDepth(_ id: GatewayConfiguration.VenueID) -> Int? {
        switch id {
        case .binance: 5000
        case .okx: 400
        default: nil
        }
    }

    /// The largest `subscribe_batch` a venue documents.
    static func maxSubscribeBatch(_ id: GatewayConfiguration.VenueID, wsURL: String) -> Int? {
        switch id {
        case .binance, .binanceUSDM, .binanceCOINM: 1024
        case .bybit: isBybitSpot(wsURL) ? 10 : nil
        default: nil
        }
    }
}
