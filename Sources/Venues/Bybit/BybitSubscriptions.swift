import MarketCore

/// Bybit v5 public stream URLs, topic names, subscribe and ping messages
/// (https://bybit-exchange.github.io/docs/v5/ws/connect).
///
/// Spot accepts at most 10 args per subscribe request ("Spot can input up to 10 args for each
/// subscription request sent to one connection"), and one connection's args may not exceed 21,000
/// characters in total, so topic lists are split into several requests.
public enum BybitSubscriptions {
    /// `wss://stream.bybit.com/v5/public/{category}` (testnet: `stream-testnet.bybit.com`).
    public static func url(category: BybitCategory, testnet: Bool = false) -> String {
        "wss://\(testnet ? "stream-testnet" : "stream").bybit.com/v5/public/\(category.rawValue)"
    }

    /// `orderbook.{depth}.{symbol}`. Depths: 1, 50, 200, 1000 (spot, linear, inverse); 25, 100 (option).
    public static func orderbookTopic(native: String, depth: Int) -> String { "orderbook.\(depth).\(native)" }

    /// `publicTrade.{symbol}` (options subscribe by base coin: `publicTrade.BTC`).
    public static func tradeTopic(native: String) -> String { "publicTrade.\(native)" }

    /// `tickers.{symbol}`.
    public static func tickerTopic(native: String) -> String { "tickers.\(native)" }

    /// `{"req_id":"…","op":"subscribe","args":[…]}` messages, at most `maxPerMessage` topics each
    /// (default: 10 on spot, 100 elsewhere).
    public static func subscribeMessages(
        topics: [String], category: BybitCategory, maxPerMessage: Int? = nil, firstRequestID: Int = 1, op: String = "subscribe"
    ) -> [String] {
        let limit = max(1, maxPerMessage ?? (category == .spot ? 10 : 100))
        var messages: [String] = []
        var id = firstRequestID
        var i = 0
        while i < topics.count {
            var w = JSONWriter()
            w.beginObject()
            w.key("req_id")
            w.string(String(id))
            w.key("op")
            w.string(op)
            w.key("args")
            w.beginArray()
            for t in topics[i..<min(i + limit, topics.count)] { w.string(t) }
            w.endArray()
            w.endObject()
            messages.append(String(decoding: w.bytes, as: UTF8.self))
            id += 1
            i += limit
        }
        return messages
    }

    /// The heartbeat the docs ask for every 20 s: `{"req_id":"…","op":"ping"}`.
    public static func pingMessage(requestID: String) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("req_id")
        w.string(requestID)
        w.key("op")
        w.string("ping")
        w.endObject()
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
