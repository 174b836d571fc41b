public import MarketCore

/// Subscribe messages for both Coinbase feeds: pure functions returning the JSON text to send.
extension CoinbaseAdapter {
    /// The Exchange channels the gateway uses: books, trades, top of book, keepalive.
    public static let exchangeDefaultChannels = ["level2", "matches", "ticker", "heartbeat"]

    /// The Advanced Trade channels the gateway uses. `heartbeats` keeps quiet subscriptions open
    /// ("Most channels close within 60-90 seconds if no updates are sent").
    public static let advancedTradeDefaultChannels = ["level2", "market_trades", "heartbeats"]

    /// The Exchange feed's subscribe message: all channels for all products in one message.
    ///
    /// ```json
    /// {"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channels":["level2","matches","ticker","heartbeat"]}
    /// ```
    /// - Parameters:
    ///   - productIDs: Coinbase product ids, which are the canonical symbols (`BTC-USD`).
    ///   - channels: channel names; `level2` needs an authenticated connection today, `level2_batch`
    ///     is its public variant with the same messages
    ///     (https://docs.cdp.coinbase.com/exchange/websocket-feed/channels).
    public static func exchangeSubscribeMessage(
        productIDs: [String], channels: [String] = exchangeDefaultChannels
    ) -> String {
        exchangeMessage(type: "subscribe", productIDs: productIDs, channels: channels)
    }

    /// An Exchange feed `subscribe` or `unsubscribe` message (same shape).
    public static func exchangeMessage(type: String, productIDs: [String], channels: [String]) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("type")
        w.string(type)
        w.key("product_ids")
        w.beginArray()
        for id in productIDs { w.string(id) }
        w.endArray()
        w.key("channels")
        w.beginArray()
        for channel in channels { w.string(channel) }
        w.endArray()
        w.endObject()
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// The Advanced Trade subscribe messages: one per channel, since "You can only subscribe to one
    /// channel per subscription message"
    /// (https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-overview).
    ///
    /// ```json
    /// {"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}
    /// {"type":"subscribe","channel":"heartbeats"}
    /// ```
    /// `heartbeats` is connection-wide and takes no products. Market-data channels work without
    /// authentication; pass a freshly generated `jwt` (they expire after 2 minutes, so one per
    /// message) for the more reliable authenticated connection.
    /// - Parameters:
    ///   - productIDs: product ids (`BTC-USD`).
    ///   - channels: channel names, e.g. `level2`, `market_trades`, `heartbeats`.
    ///   - jwt: optional CDP JWT, added as `"jwt"` to every message.
    public static func advancedTradeSubscribeMessages(
        productIDs: [String], channels: [String] = advancedTradeDefaultChannels, jwt: String? = nil
    ) -> [String] {
        channels.map { channel in
            var w = JSONWriter()
            w.beginObject()
            w.key("type")
            w.string("subscribe")
            if channel != "heartbeats" {
                w.key("product_ids")
                w.beginArray()
                for id in productIDs { w.string(id) }
                w.endArray()
            }
            w.key("channel")
            w.string(channel)
            if let jwt {
                w.key("jwt")
                w.string(jwt)
            }
            w.endObject()
            return String(decoding: w.bytes, as: UTF8.self)
        }
    }

    /// The Coinbase product id for a canonical spot symbol: the same text (`BTC-USD`).
    public static func productID(for instrument: Instrument) -> String { instrument.nativeSymbol }
}
