public import MarketCore

/// OKX v5 public streams: spot, perpetual swaps and dated futures.
///
/// From the documentation (https://www.okx.com/docs-v5/en/#overview-websocket): a connection that
/// receives nothing for 30 s is closed, so the client sends `ping` when nothing arrived within
/// N < 30 s (25 s here); the `books` channel has 400 levels; subscribe messages may hold any number
/// of args up to 64 KB in total (100 per message here). Books come as a snapshot on subscribe.
///
/// ```json
/// {"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"},{"channel":"books","instId":"BTC-USDT"}]}
/// ```
public struct OKXVenue: VenueDefinition {
    public init() {}

    public var venue: Venue { .okx }

    public var defaults: VenueDefaults {
        VenueDefaults(
            wsURL: OKXSubscriptions.publicURL, restURL: "https://www.okx.com", pingInterval: .seconds(25), rotateAfter: nil,
            subscribeBatch: 100, bookDepth: 400)
    }

    public func limits(wsURL: String) -> VenueLimits {
        var l = VenueLimits(symbolKinds: .both)
        l.maxBookDepth = 400
        l.silenceLimit = TimedLimit(
            value: .seconds(30), rule: "must be on and under 30s (OKX closes a connection that receives nothing for 30 s)")
        return l
    }

    public func native(canonical: String, wsURL: String) -> String? {
        guard let c = CanonicalSymbol(canonical) else { return nil }
        if let expiry = c.expiry { return "\(c.base)-\(c.quote)-\(expiry)" }
        return c.perpetual ? "\(c.base)-\(c.quote)-SWAP" : "\(c.base)-\(c.quote)"
    }

    public func instrument(native: String, wsURL: String, quotes: QuoteSuffixTable) -> Instrument? {
        OKXSymbols.instrument(native: native)
    }

    func args(_ natives: [String], _ scope: SubscriptionScope) -> [(channel: String, instID: String)] {
        var channels: [String] = []
        if scope.channels.contains(.trades) { channels.append("trades") }
        if scope.channels.contains(.book) { channels.append("books") }
        if scope.channels.contains(.ticker) { channels.append("tickers") }
        return OKXSubscriptions.args(instIDs: natives, channels: channels)
    }

    public func subscribeMessages(_ natives: [String], _ scope: SubscriptionScope) -> [String] {
        OKXSubscriptions.subscribeMessages(args(natives, scope), maxPerMessage: scope.batch)
    }

    public func unsubscribeMessages(_ natives: [String], _ scope: SubscriptionScope) -> [String] {
        OKXSubscriptions.subscribeMessages(args(natives, scope), op: "unsubscribe", maxPerMessage: scope.batch)
    }

    public func pingText(_ n: Int) -> String? { OKXSubscriptions.ping }

    /// `{"op":"unsubscribe","args":[{"channel":"books","instId":…}]}` then `subscribe`: the first push
    /// after a subscribe is a `snapshot` (https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-order-book-channel).
    public var bookResync: BookResync { .resubscribe }

    public func makeAdapter(quotes: QuoteSuffixTable) -> any VenueAdapter { OKXAdapter() }
}
