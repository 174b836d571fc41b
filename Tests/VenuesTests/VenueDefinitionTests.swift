import MarketCore
import Testing
import Venues

/// Each venue's definition against its documentation: subscribe/unsubscribe messages for one
/// instrument (so one can be resubscribed), symbols both ways, the Bybit spot decision. Expected
/// texts are written from the venues' documented request shapes, not from the code.
@Suite("Venue definitions")
struct VenueDefinitionTests {
    static func scope(_ url: String, depth: Int = 1000, batch: Int = 100, channels: VenueChannels = .all) -> SubscriptionScope {
        SubscriptionScope(channels: channels, bookDepth: depth, batch: batch, wsURL: url)
    }

    @Test func theRegistryHasEachVenueOnce() {
        let ids = VenueRegistry.supported.map(\.id)
        #expect(ids == ["binance", "binance-usdm", "binance-coinm", "coinbase", "kraken", "okx", "bybit"])
        for v in VenueRegistry.supported {
            #expect(VenueRegistry.definition(v)?.venue == v)
            #expect(VenueAdapters.make(v)?.venue == v)
        }
    }

    /// Binance: https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams
    /// ("Live Subscribing/Unsubscribing to streams").
    @Test func binanceOneInstrument() {
        let d = BinanceVenue(.binance)
        let s = Self.scope(d.defaults.wsURL, channels: [.trades, .book])
        #expect(d.subscribeMessages(["BTCUSDT"], s) == [#"{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@depth@100ms"],"id":1}"#])
        #expect(d.unsubscribeMessages(["BTCUSDT"], s) == [#"{"method":"UNSUBSCRIBE","params":["btcusdt@trade","btcusdt@depth@100ms"],"id":1}"#])
        #expect(d.depthSnapshotURL(native: "BTCUSDT", restURL: "https://api.binance.com/", bookDepth: 1000) == "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000")
        #expect(BinanceVenue(.binanceUSDM).depthSnapshotURL(native: "BTCUSDT", restURL: "https://fapi.binance.com", bookDepth: 500) == "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=500")
        #expect(d.pingText(1) == nil, "Binance pings us")
        #expect(d.bookSync == .restSnapshot)
    }

    /// Coinbase Exchange: https://docs.cdp.coinbase.com/exchange/websocket-feed/overview ("Subscribe", "Unsubscribe").
    @Test func coinbaseOneInstrument() {
        let d = CoinbaseVenue()
        let s = Self.scope(d.defaults.wsURL, channels: [.book, .trades])
        #expect(d.subscribeMessages(["BTC-USD"], s) == [#"{"type":"subscribe","product_ids":["BTC-USD"],"channels":["level2_batch","matches","heartbeat"]}"#])
        #expect(d.unsubscribeMessages(["BTC-USD"], s) == [#"{"type":"unsubscribe","product_ids":["BTC-USD"],"channels":["level2_batch","matches","heartbeat"]}"#])
    }

    /// Kraken v1: https://docs.kraken.com/api/docs/websocket-v1/subscribe and …/unsubscribe; depths 10, 25, 100, 500, 1000.
    @Test func krakenOneInstrument() {
        let d = KrakenVenue()
        let s = Self.scope(d.defaults.wsURL, depth: 200, channels: [.book])
        #expect(d.subscribeMessages(["XBT/USD"], s) == [#"{"event":"subscribe","pair":["XBT/USD"],"subscription":{"name":"book","depth":500}}"#])
        #expect(d.unsubscribeMessages(["XBT/USD"], s) == [#"{"event":"unsubscribe","pair":["XBT/USD"],"subscription":{"name":"book","depth":500}}"#])
        #expect(d.pingText(7) == #"{"event":"ping","reqid":7}"#)
    }

    /// OKX: https://www.okx.com/docs-v5/en/#overview-websocket-subscribe and -unsubscribe.
    @Test func okxOneInstrument() {
        let d = OKXVenue()
        let s = Self.scope(d.defaults.wsURL, channels: [.book])
        #expect(d.subscribeMessages(["BTC-USDT-SWAP"], s) == [#"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT-SWAP"}]}"#])
        #expect(d.unsubscribeMessages(["BTC-USDT-SWAP"], s) == [#"{"op":"unsubscribe","args":[{"channel":"books","instId":"BTC-USDT-SWAP"}]}"#])
        #expect(d.pingText(1) == "ping")
    }

    /// Bybit: https://bybit-exchange.github.io/docs/v5/ws/connect ("How to Subscribe to Topics").
    @Test func bybitOneInstrument() {
        let d = BybitVenue()
        let s = Self.scope("wss://stream.bybit.com/v5/public/linear", depth: 50, channels: [.book, .trades])
        #expect(d.subscribeMessages(["BTCUSDT"], s) == [#"{"req_id":"1","op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT"]}"#])
        #expect(d.unsubscribeMessages(["BTCUSDT"], s) == [#"{"req_id":"1","op":"unsubscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT"]}"#])
        #expect(d.pingText(3) == #"{"req_id":"hb3","op":"ping"}"#)
    }

    /// The one place that decides whether a Bybit connection is spot: its URL's category.
    @Test func bybitSpotIsDecidedByTheURLsCategory() {
        #expect(BybitVenue.isSpot(wsURL: "wss://stream.bybit.com/v5/public/spot"))
        #expect(BybitVenue.isSpot(wsURL: "ws://127.0.0.1:9001/bybit/v5/public/spot"))
        #expect(!BybitVenue.isSpot(wsURL: "wss://stream.bybit.com/v5/public/linear"))
        #expect(BybitVenue().limits(wsURL: "wss://stream.bybit.com/v5/public/spot").maxSubscribeBatch == 10)
        #expect(BybitVenue().limits(wsURL: "wss://stream.bybit.com/v5/public/linear").symbolKinds == .perpetualsOnly)
        let linear = "wss://stream.bybit.com/v5/public/linear"
        #expect(BybitVenue().instrument(native: "BTCUSDT", wsURL: linear, quotes: .builtIn)?.symbol == "BTC-USDT-PERP")
        #expect(BybitVenue().instrument(native: "BTCUSDT", wsURL: "wss://stream.bybit.com/v5/public/spot", quotes: .builtIn)?.symbol == "BTC-USDT")
    }

    /// CONTRACTS.md, "Venues and symbols": canonical → native → canonical.
    @Test(arguments: [
        (Venue.binance, "BTC-USDT", "BTCUSDT"), (.binanceUSDM, "BTC-USDT-PERP", "BTCUSDT"),
        (.binanceUSDM, "BTC-USDT-20210924", "BTCUSDT_210924"), (.binanceCOINM, "BTC-USD-PERP", "BTCUSD_PERP"),
        (.coinbase, "BTC-USD", "BTC-USD"), (.kraken, "BTC-USD", "XBT/USD"), (.kraken, "DOGE-EUR", "XDG/EUR"),
        (.okx, "BTC-USDT", "BTC-USDT"), (.okx, "BTC-USDT-PERP", "BTC-USDT-SWAP"), (.okx, "BTC-USD-20220624", "BTC-USD-220624"),
    ])
    func symbolsBothWays(_ venue: Venue, _ canonical: String, _ native: String) throws {
        let d = try #require(VenueRegistry.definition(venue))
        #expect(d.native(canonical: canonical, wsURL: d.defaults.wsURL) == native)
        #expect(d.instrument(native: native, wsURL: d.defaults.wsURL, quotes: .builtIn)?.symbol == canonical)
    }

    @Test func spotVenuesHaveNoPerpetuals() {
        #expect(BinanceVenue(.binance).native(canonical: "BTC-USDT-PERP", wsURL: "") == nil)
        #expect(CoinbaseVenue().native(canonical: "BTC-USD-PERP", wsURL: "") == nil)
        #expect(KrakenVenue().native(canonical: "BTC-USD-PERP", wsURL: "") == nil)
        #expect(BybitVenue().native(canonical: "BTC-USDT-20250627", wsURL: "") == nil)
    }
}
