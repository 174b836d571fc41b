public import MarketCore

/// OKX v5 subscribe messages and endpoints: pure functions returning the text to send.
///
/// https://www.okx.com/docs-v5/en/#overview-websocket-subscribe:
/// `{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},…]}`; one request may carry
/// several args and counts once against the per-connection request limit. The docs recommend fewer
/// than 30 of the 50/400-level book channels per connection, so callers spread many instruments over
/// several connections. Keep-alive: send the text `ping` when nothing arrived for less than 30 s; the
/// server answers `pong` (which the adapter ignores).
public enum OKXSubscriptions {
    /// Public channels (trades, books, tickers).
    public static let publicURL = "wss://ws.okx.com:8443/ws/v5/public"
    /// `trades-all` and candles live on the business endpoint.
    public static let businessURL = "wss://ws.okx.com:8443/ws/v5/business"
    /// The keep-alive text frame.
    public static let ping = "ping"

    /// The channels the gateway uses per instrument: taker trades, the 400-level book (public, 100 ms),
    /// and the ticker. `books-l2-tbt`/`books50-l2-tbt` need a VIP tier and login.
    public static let defaultChannels = ["trades", "books", "tickers"]

    /// `(channel, instId)` pairs for instruments given by their OKX ids (`BTC-USDT-SWAP`).
    public static func args(instIDs: [String], channels: [String] = defaultChannels) -> [(channel: String, instID: String)] {
        var out: [(channel: String, instID: String)] = []
        for channel in channels {
            for id in instIDs { out.append((channel, id)) }
        }
        return out
    }

    /// `{"op":"subscribe","args":[…]}` messages of at most `maxPerMessage` args each.
    public static func subscribeMessages(
        _ args: [(channel: String, instID: String)], op: String = "subscribe", maxPerMessage: Int = 50
    ) -> [String] {
        var messages: [String] = []
        var i = 0
        let step = max(1, maxPerMessage)
        while i < args.count {
            var w = JSONWriter()
            w.beginObject()
            w.key("op")
            w.string(op)
            w.key("args")
            w.beginArray()
            for a in args[i..<min(i + step, args.count)] {
                w.beginObject()
                w.key("channel")
                w.string(a.channel)
                w.key("instId")
                w.string(a.instID)
                w.endObject()
            }
            w.endArray()
            w.endObject()
            messages.append(String(decoding: w.bytes, as: UTF8.self))
            i += step
        }
        return messages
    }

    /// The OKX id for an instrument of this venue: its native symbol as OKX sent it.
    public static func instID(for instrument: Instrument) -> String { instrument.nativeSymbol }
}
