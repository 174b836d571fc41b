public import MarketCore

/// Kraken spot, websocket v1 (the adapter also reads v2).
///
/// From the documentation (https://docs.kraken.com/api/docs/websocket-v1/subscribe, …/ping): the
/// client may send `{"event":"ping"}` (every 30 s here); the server sends a heartbeat about once a
/// second when quiet; book depths 10, 25, 100, 500, 1000; pairs use Kraken's asset codes (`XBT`,
/// `XDG`). Books come as a snapshot on subscribe.
///
/// ```json
/// {"event":"subscribe","pair":["XBT/USD","ETH/USD"],"subscription":{"name":"book","depth":1000}}
/// ```
public struct KrakenVenue: VenueDefinition {
    public init() {}

    public var venue: Venue { .kraken }

    public static let bookDepths = [10, 25, 100, 500, 1000]

    public var defaults: VenueDefaults {
        VenueDefaults(
            wsURL: "wss://ws.kraken.com", restURL: "https://api.kraken.com", pingInterval: .seconds(30), rotateAfter: nil,
            subscribeBatch: 100, bookDepth: 1000)
    }

    public func limits(wsURL: String) -> VenueLimits {
        var l = VenueLimits(symbolKinds: .spotOnly)
        l.bookDepths = .init(allowed: Self.bookDepths, name: "Kraken book depth")
        return l
    }

    public func native(canonical: String, wsURL: String) -> String? {
        guard let c = CanonicalSymbol(canonical), c.isSpot else { return nil }
        let k: (String) -> String = { $0 == "BTC" ? "XBT" : $0 == "DOGE" ? "XDG" : $0 }
        return "\(k(c.base))/\(k(c.quote))"
    }

    public func instrument(native: String, wsURL: String, quotes: QuoteSuffixTable) -> Instrument? {
        KrakenAdapter.instrument(pair: native)
    }

    /// The subscribed depth: the smallest documented one at least `d` deep.
    static func depth(_ d: Int) -> Int { bookDepths.first { $0 >= d } ?? 1000 }

    func messages(_ event: String, _ natives: [String], _ scope: SubscriptionScope) -> [String] {
        var subs: [String] = []
        if scope.channels.contains(.book) { subs.append(#"{"name":"book","depth":\#(Self.depth(scope.bookDepth))}"#) }
        if scope.channels.contains(.trades) { subs.append(#"{"name":"trade"}"#) }
        if scope.channels.contains(.ticker) { subs.append(#"{"name":"ticker"}"#) }
        var out: [String] = []
        for sub in subs {
            for i in stride(from: 0, to: natives.count, by: scope.batch) {
                var w = JSONWriter()
                w.beginArray()
                for n in natives[i..<min(i + scope.batch, natives.count)] { w.string(n) }
                w.endArray()
                out.append(#"{"event":"\#(event)","pair":\#(String(decoding: w.bytes, as: UTF8.self)),"subscription":\#(sub)}"#)
            }
        }
        return out
    }

    public func subscribeMessages(_ natives: [String], _ scope: SubscriptionScope) -> [String] { messages("subscribe", natives, scope) }

    public func unsubscribeMessages(_ natives: [String], _ scope: SubscriptionScope) -> [String] { messages("unsubscribe", natives, scope) }

    public func pingText(_ n: Int) -> String? { #"{"event":"ping","reqid":\#(n)}"# }

    /// `{"event":"unsubscribe","pair":["XBT/USD"],"subscription":{"name":"book",…}}` then `subscribe`:
    /// "On subscription, a snapshot is published" (https://docs.kraken.com/api/docs/websocket-v1/book,
    /// …/unsubscribe; v2 alike).
    public var bookResync: BookResync { .resubscribe }

    public func makeAdapter(quotes: QuoteSuffixTable) -> any VenueAdapter { KrakenAdapter() }
}
