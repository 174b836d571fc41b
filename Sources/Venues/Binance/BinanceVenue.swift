public import MarketCore

/// Binance spot, USD-M and COIN-M futures: one definition per venue id.
///
/// From the documentation (https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams,
/// …/derivatives/usds-margined-futures/websocket-market-streams): the server pings (every 20 s spot,
/// 3 min futures) and the client only answers; every connection is closed at 24 h (rotate at
/// 23h30m); at most 1024 streams per connection and 5 (spot) / 10 (futures) incoming messages a
/// second, so 200 streams per subscribe message; REST depth `limit` 1...5000 (spot), one of 5, 10,
/// 20, 50, 100, 500, 1000 (futures). Books sync from a REST snapshot.
///
/// ```json
/// {"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@depth@100ms"],"id":1}
/// ```
public struct BinanceVenue: VenueDefinition {
    public let venue: Venue

    /// - Parameter venue: `.binance`, `.binanceUSDM` or `.binanceCOINM`.
    public init(_ venue: Venue) { self.venue = venue }

    var isFutures: Bool { venue == .binanceUSDM || venue == .binanceCOINM }

    public var defaults: VenueDefaults {
        let (ws, rest) =
            switch venue {
            case .binanceUSDM: ("wss://fstream.binance.com/ws", "https://fapi.binance.com")
            case .binanceCOINM: ("wss://dstream.binance.com/ws", "https://dapi.binance.com")
            default: ("wss://stream.binance.com:9443/ws", "https://api.binance.com")
            }
        return VenueDefaults(
            wsURL: ws, restURL: rest, pingInterval: nil, rotateAfter: .seconds(23 * 3600 + 30 * 60), subscribeBatch: 200,
            bookDepth: 1000)
    }

    public func limits(wsURL: String) -> VenueLimits {
        var l = VenueLimits(symbolKinds: isFutures ? .perpetualsOnly : .spotOnly)
        if isFutures {
            l.bookDepths = .init(allowed: [5, 10, 20, 50, 100, 500, 1000], name: "Binance futures REST depth limit")
        } else {
            l.maxBookDepth = 5000
            l.symbolHint = " (perpetuals are on binance-usdm and binance-coinm)"
        }
        l.maxSubscribeBatch = 1024
        l.connectionLifetime = TimedLimit(value: .seconds(24 * 3600), rule: "must be under 24h (Binance closes every connection at 24 h)")
        return l
    }

    public func native(canonical: String, wsURL: String) -> String? {
        guard let c = CanonicalSymbol(canonical) else { return nil }
        switch venue {
        case .binanceUSDM: return c.expiry.map { c.base + c.quote + "_" + $0 } ?? c.base + c.quote
        case .binanceCOINM: return c.base + c.quote + "_" + (c.expiry ?? "PERP")
        default: return c.isSpot ? c.base + c.quote : nil
        }
    }

    public func instrument(native: String, wsURL: String, quotes: QuoteSuffixTable) -> Instrument? {
        BinanceSymbols.instrument(native: native, venue: venue, quotes: quotes)
    }

    func streams(_ natives: [String], _ scope: SubscriptionScope) -> [String] {
        let ch = scope.channels
        return natives.flatMap {
            BinanceSubscriptions.streams(native: $0, trades: ch.contains(.trades), depth: ch.contains(.book), bookTicker: ch.contains(.ticker))
        }
    }

    public func subscribeMessages(_ natives: [String], _ scope: SubscriptionScope) -> [String] {
        BinanceSubscriptions.subscribeMessages(streams: streams(natives, scope), maxPerMessage: scope.batch)
    }

    public func unsubscribeMessages(_ natives: [String], _ scope: SubscriptionScope) -> [String] {
        BinanceSubscriptions.subscribeMessages(streams: streams(natives, scope), method: "UNSUBSCRIBE", maxPerMessage: scope.batch)
    }

    public var bookSync: BookSyncMode { .restSnapshot }

    var apiPath: String {
        switch venue {
        case .binanceUSDM: "/fapi/v1"
        case .binanceCOINM: "/dapi/v1"
        default: "/api/v3"
        }
    }

    public func depthSnapshotURL(native: String, restURL: String, bookDepth: Int) -> String? {
        BinanceSubscriptions.depthSnapshotURL(
            venue: venue, native: native, limit: min(max(bookDepth, 5), 5000), base: trimmed(restURL) + apiPath + "/depth")
    }

    public func tradeHistoryURL(native: String, fromID: Int64, stream: TradeStream, restURL: String) -> String? {
        "\(trimmed(restURL))\(apiPath)/\(stream == .aggregated ? "aggTrades" : "historicalTrades")?symbol=\(native)&fromId=\(fromID)&limit=1000"
    }

    public func makeAdapter(quotes: QuoteSuffixTable) -> any VenueAdapter { BinanceAdapter(venue: venue, quotes: quotes) }
}
