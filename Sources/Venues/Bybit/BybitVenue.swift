public import MarketCore

/// Bybit v5 public streams; one connection carries one category, named by its URL
/// (`…/v5/public/spot`, `…/linear`). ``isSpot(wsURL:)`` is the one place that decides it.
///
/// From the documentation (https://bybit-exchange.github.io/docs/v5/ws/connect): send
/// `{"op":"ping"}` every 20 s; spot accepts at most 10 args per subscribe request; orderbook
/// depths: spot 1, 50, 200; linear / inverse 1, 50, 200, 500, 1000. Books come as a snapshot on
/// subscribe.
///
/// ```json
/// {"req_id":"1","op":"subscribe","args":["orderbook.200.BTCUSDT","publicTrade.BTCUSDT","tickers.BTCUSDT"]}
/// ```
public struct BybitVenue: VenueDefinition {
    public init() {}

    public var venue: Venue { .bybit }

    /// Whether a connection to `wsURL` is Bybit's spot stream (else its linear one): the URL's
    /// category segment, as the adapter reads it; a URL without `/v5/public/` is spot when it ends in `/spot`.
    public static func isSpot(wsURL: String) -> Bool {
        switch BybitCategory.meaning(ofURL: wsURL) {
        case .category(let c): c == .spot
        case .unsupported: false
        case .unknown: wsURL.hasSuffix("/spot")
        }
    }

    public var limitsDependOnURL: Bool { true }

    public var defaults: VenueDefaults {
        VenueDefaults(
            wsURL: BybitSubscriptions.url(category: .spot), restURL: "https://api.bybit.com", pingInterval: .seconds(20),
            rotateAfter: nil, subscribeBatch: 10, bookDepth: 200)
    }

    public func limits(wsURL: String) -> VenueLimits {
        if Self.isSpot(wsURL: wsURL) {
            var l = VenueLimits(symbolKinds: .spotOnly)
            l.bookDepths = .init(allowed: [1, 50, 200], name: "Bybit spot orderbook depth")
            l.maxSubscribeBatch = 10
            l.symbolHint = " (ws_url is Bybit's spot stream; perpetuals need …/v5/public/linear)"
            return l
        }
        var l = VenueLimits(symbolKinds: .perpetualsOnly)
        l.bookDepths = .init(allowed: [1, 50, 200, 500, 1000], name: "Bybit orderbook depth")
        l.symbolHint = "; spot symbols need ws_url …/v5/public/spot"
        return l
    }

    public func native(canonical: String, wsURL: String) -> String? {
        guard let c = CanonicalSymbol(canonical), c.expiry == nil else { return nil }
        return c.base + c.quote
    }

    public func instrument(native: String, wsURL: String, quotes: QuoteSuffixTable) -> Instrument? {
        BybitSymbols.instrument(native: native, category: Self.isSpot(wsURL: wsURL) ? .spot : .linear, quotes: quotes)
    }

    func topics(_ natives: [String], _ scope: SubscriptionScope) -> [String] {
        var topics: [String] = []
        for n in natives {
            if scope.channels.contains(.book) { topics.append(BybitSubscriptions.orderbookTopic(native: n, depth: scope.bookDepth)) }
            if scope.channels.contains(.trades) { topics.append(BybitSubscriptions.tradeTopic(native: n)) }
            if scope.channels.contains(.ticker) { topics.append(BybitSubscriptions.tickerTopic(native: n)) }
        }
        return topics
    }

    func category(_ scope: SubscriptionScope) -> BybitCategory { Self.isSpot(wsURL: scope.wsURL) ? .spot : .linear }

    public func subscribeMessages(_ natives: [String], _ scope: SubscriptionScope) -> [String] {
        BybitSubscriptions.subscribeMessages(topics: topics(natives, scope), category: category(scope), maxPerMessage: scope.batch)
    }

    public func unsubscribeMessages(_ natives: [String], _ scope: SubscriptionScope) -> [String] {
        BybitSubscriptions.subscribeMessages(
            topics: topics(natives, scope), category: category(scope), maxPerMessage: scope.batch, op: "unsubscribe")
    }

    public func pingText(_ n: Int) -> String? { BybitSubscriptions.pingMessage(requestID: "hb\(n)") }

    /// `{"op":"unsubscribe","args":["orderbook.50.BTCUSDT"]}` then `subscribe`: "Once you have subscribed
    /// successfully, you will receive a snapshot" (https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook).
    public var bookResync: BookResync { .resubscribe }

    public func makeAdapter(quotes: QuoteSuffixTable) -> any VenueAdapter { BybitAdapter(quotes: quotes) }
}
