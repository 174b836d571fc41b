public import MarketCore

/// Coinbase Exchange (`ws-feed.exchange.coinbase.com`); the adapter also reads Advanced Trade.
///
/// From the documentation (https://docs.cdp.coinbase.com/exchange/websocket-feed/overview): no
/// client ping (the `heartbeat` channel proves liveness); `level2_batch` sends the full book on
/// subscribe, so `book_depth` does not apply; spot products only. Trade history (backfill) pages
/// with `before`/`after` trade ids.
///
/// ```json
/// {"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channels":["level2_batch","matches","ticker","heartbeat"]}
/// ```
public struct CoinbaseVenue: VenueDefinition {
    public init() {}

    public var venue: Venue { .coinbase }

    public var defaults: VenueDefaults {
        VenueDefaults(
            wsURL: "wss://ws-feed.exchange.coinbase.com", restURL: "https://api.exchange.coinbase.com", pingInterval: nil,
            rotateAfter: nil, subscribeBatch: 100, bookDepth: 1000)
    }

    public func limits(wsURL: String) -> VenueLimits { VenueLimits(symbolKinds: .spotOnly) }

    public func native(canonical: String, wsURL: String) -> String? {
        guard let c = CanonicalSymbol(canonical), c.isSpot else { return nil }
        return "\(c.base)-\(c.quote)"
    }

    public func instrument(native: String, wsURL: String, quotes: QuoteSuffixTable) -> Instrument? {
        CoinbaseAdapter.instrument(productID: native)
    }

    func channels(_ scope: SubscriptionScope) -> [String] {
        var channels: [String] = []
        if scope.channels.contains(.book) { channels.append("level2_batch") }
        if scope.channels.contains(.trades) { channels.append("matches") }
        if scope.channels.contains(.ticker) { channels.append("ticker") }
        channels.append("heartbeat")
        return channels
    }

    func messages(_ type: String, _ natives: [String], _ scope: SubscriptionScope) -> [String] {
        stride(from: 0, to: natives.count, by: scope.batch).map {
            CoinbaseAdapter.exchangeMessage(
                type: type, productIDs: Array(natives[$0..<min($0 + scope.batch, natives.count)]), channels: channels(scope))
        }
    }

    public func subscribeMessages(_ natives: [String], _ scope: SubscriptionScope) -> [String] { messages("subscribe", natives, scope) }

    public func unsubscribeMessages(_ natives: [String], _ scope: SubscriptionScope) -> [String] { messages("unsubscribe", natives, scope) }

    public func tradeHistoryURL(native: String, fromID: Int64, stream: TradeStream, restURL: String) -> String? {
        // The page of trades right after `fromID - 1`, oldest 1000 of them (newest first).
        "\(trimmed(restURL))/products/\(native)/trades?before=\(fromID - 1)&limit=1000"
    }

    /// `unsubscribe` then `subscribe` with one `product_ids` entry: the level2 channels start every
    /// subscription with a `snapshot` (https://docs.cdp.coinbase.com/exchange/websocket-feed/channels).
    public var bookResync: BookResync { .resubscribe }

    public func makeAdapter(quotes: QuoteSuffixTable) -> any VenueAdapter { CoinbaseAdapter() }
}
