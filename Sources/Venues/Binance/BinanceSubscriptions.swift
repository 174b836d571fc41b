public import MarketCore

/// Binance stream names, subscribe messages and REST URLs.
///
/// Binance accepts at most 1024 streams per connection and 5 incoming messages per second
/// (https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams), so a long
/// stream list is split into several `SUBSCRIBE` messages of at most `maxPerMessage` params.
public enum BinanceSubscriptions {
    /// Stream names for one instrument, e.g. `btcusdt@trade`, `btcusdt@depth@100ms`.
    public static func streams(native: String, trades: Bool = true, aggTrades: Bool = false, depth: Bool = true,
                               bookTicker: Bool = false) -> [String] {
        let s = native.lowercased()
        var out: [String] = []
        if trades { out.append("\(s)@trade") }
        if aggTrades { out.append("\(s)@aggTrade") }
        if depth { out.append("\(s)@depth@100ms") }
        if bookTicker { out.append("\(s)@bookTicker") }
        return out
    }

    /// `{"method":"SUBSCRIBE","params":[...],"id":N}` messages (or `UNSUBSCRIBE`), `maxPerMessage` streams each.
    public static func subscribeMessages(
        streams: [String], method: String = "SUBSCRIBE", firstID: Int = 1, maxPerMessage: Int = 200
    ) -> [String] {
        var messages: [String] = []
        var id = firstID
        var i = 0
        while i < streams.count {
            let chunk = streams[i..<min(i + maxPerMessage, streams.count)]
            var w = JSONWriter()
            w.beginObject()
            w.key("method")
            w.string(method)
            w.key("params")
            w.beginArray()
            for s in chunk { w.string(s) }
            w.endArray()
            w.key("id")
            w.int(Int64(id))
            w.endObject()
            messages.append(String(decoding: w.bytes, as: UTF8.self))
            id += 1
            i += maxPerMessage
        }
        return messages
    }

    /// REST depth snapshot URL for the venue (`limit` 1000 as the local-book procedure recommends).
    public static func depthSnapshotURL(venue: Venue, native: String, limit: Int = 1000, base: String? = nil) -> String {
        let root: String
        switch venue {
        case .binanceUSDM: root = base ?? "https://fapi.binance.com/fapi/v1/depth"
        case .binanceCOINM: root = base ?? "https://dapi.binance.com/dapi/v1/depth"
        default: root = base ?? "https://api.binance.com/api/v3/depth"
        }
        return "\(root)?symbol=\(native.uppercased())&limit=\(limit)"
    }
}
