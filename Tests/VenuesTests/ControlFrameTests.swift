import Feeds
import Foundation
import MarketCore
import Testing
import Venues
import _TestSupport

/// Control frames as each adapter reports them (``VenueAdapter/control(_:)``). Samples are the
/// venues' documented examples (the `*DocSamples` folders, or quoted from the cited page) and every
/// websocket frame of the real recordings, which hold data, acks and heartbeats but no refusal:
/// none of those may be mistaken for a control frame that closes or rotates a connection.
@Suite("Venue control frames")
struct ControlFrameTests {
    static func control(_ adapter: any VenueAdapter, _ text: String) -> ControlFrame? {
        Array(text.utf8).withUnsafeBytes { adapter.control($0) }
    }

    static func docSample(_ folder: String, _ name: String) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("\(folder)/\(name)")
        return try String(contentsOf: url, encoding: .utf8)
    }

    static func isRefusal(_ c: ControlFrame?) -> Bool { if case .subscriptionRefused? = c { true } else { false } }
    static func isShutdown(_ c: ControlFrame?) -> Bool { if case .shutdownNotice? = c { true } else { false } }

    // MARK: Binance

    /// https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams ("Error Messages",
    /// "Live Subscribing/Unsubscribing") and the futures `serverShutdown` event.
    @Test func binance() {
        let a = BinanceAdapter(venue: .binance)
        #expect(Self.isRefusal(Self.control(a, #"{"error":{"code":2,"msg":"Invalid request: unknown variant `SUBSCRIB`"},"id":1}"#)))
        #expect(Self.isRefusal(Self.control(a, #"{"code": 0, "msg": "Unknown property","id": 1}"#)))
        #expect(Self.isShutdown(Self.control(a, #"{"e":"serverShutdown","E":1723161300000}"#)))
        #expect(Self.isShutdown(Self.control(a, #"{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1723161300000}}"#)))
        #expect(Self.control(a, #"{"result":null,"id":1}"#) == nil, "a subscribe ack")
        #expect(Self.control(a, #"{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}"#) == nil)
    }

    // MARK: Coinbase

    /// https://docs.cdp.coinbase.com/exchange/docs/websocket-overview ("Errors").
    @Test func coinbase() throws {
        let a = CoinbaseAdapter()
        #expect(Self.isRefusal(Self.control(a, #"{"type":"error","message":"Failed to subscribe","reason":"BTC-XYZ is not a valid product"}"#)))
        for name in ["at-heartbeats.json", "at-subscribe-heartbeats.json", "at-subscribe-level2.json", "at-market-trades.json"] {
            #expect(Self.control(a, try Self.docSample("CoinbaseDocSamples", name)) == nil, "\(name)")
        }
    }

    // MARK: Kraken

    /// v1: https://docs.kraken.com/api/docs/websocket-v1/subscribe and `ping`; v2:
    /// https://docs.kraken.com/api/docs/websocket-v2/ping and the documented error response.
    @Test func kraken() throws {
        let a = KrakenAdapter()
        #expect(Self.isRefusal(Self.control(a, #"{"errorMessage":"Currency pair not in ISO 4217-A3 format XBTUSD","event":"subscriptionStatus","pair":"XBTUSD","status":"error","subscription":{"name":"ticker"}}"#)))
        #expect(Self.control(a, #"{"event":"pong","reqid":42}"#) == .pong)
        #expect(Self.control(a, #"{"event":"heartbeat"}"#) == nil)
        #expect(Self.control(a, #"{"channelID":1664,"channelName":"book-1000","event":"subscriptionStatus","pair":"WAVES/EUR","status":"subscribed","subscription":{"depth":1000,"name":"book"}}"#) == nil)
        #expect(Self.isRefusal(Self.control(a, #"{"error":"Currency pair not supported XBT/USDX","method":"subscribe","success":false,"symbol":"XBT/USDX","time_in":"2023-09-20T07:11:00.000000Z","time_out":"2023-09-20T07:11:00.000100Z"}"#)))
        #expect(Self.control(a, #"{"method":"pong","req_id":101,"time_in":"2023-09-24T14:10:23.799685Z","time_out":"2023-09-24T14:10:23.799703Z"}"#) == .pong)
        for name in ["v2-subscribe-ack.json", "v2-instrument-subscribe-ack.json", "v2-trade-snapshot.json"] {
            #expect(Self.control(a, try Self.docSample("KrakenDocSamples", name)) == nil, "\(name)")
        }
    }

    // MARK: OKX

    /// https://www.okx.com/docs-v5/en/#overview-websocket (`ping`/`pong`, failure response, notice 64008).
    @Test func okx() throws {
        let a = OKXAdapter()
        #expect(Self.isRefusal(Self.control(a, try Self.docSample("OKXDocSamples", "books-failure.json"))))
        #expect(Self.control(a, "pong") == .pong)
        let notice = Self.control(a, #"{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a4d3ae55"}"#)
        #expect(Self.isShutdown(notice))
        #expect(Self.control(a, try Self.docSample("OKXDocSamples", "subscribe-books-response.json")) == nil)
        #expect(Self.control(a, try Self.docSample("OKXDocSamples", "trades.json")) == nil)
    }

    // MARK: Bybit

    /// https://bybit-exchange.github.io/docs/v5/ws/connect (pongs, subscription responses).
    @Test func bybit() throws {
        let a = BybitAdapter()
        for name in ["pong-spot.json", "pong-linear.json", "pong-option.json"] {
            #expect(Self.control(a, try Self.docSample("BybitDocSamples", name)) == .pong, "\(name)")
        }
        for name in ["subscribe-response-linear.json", "subscribe-response-spot.json", "subscribe-response-option.json", "public-trade.json"] {
            #expect(Self.control(a, try Self.docSample("BybitDocSamples", name)) == nil, "\(name)")
        }
        #expect(Self.isRefusal(Self.control(a, #"{"success":false,"ret_msg":"Invalid symbol :[orderbook.50.BTCUSDX]","conn_id":"cfcb4bfb","req_id":"","op":"subscribe"}"#)))
        // The option stream lists failures in `failTopics`.
        #expect(Self.isRefusal(Self.control(a, #"{"success":true,"conn_id":"aa01","data":{"failTopics":["orderbook.100.X"],"successTopics":[]},"type":"COMMAND_RESP"}"#)))
    }

    // MARK: Recordings

    /// Nothing in the real recordings is a refusal or a shutdown notice.
    @Test(arguments: Fixtures.allCaptures)
    func recordedFramesAreNotMistakenForControlFrames(_ file: String) throws {
        let venue: Venue =
            file.hasPrefix("binance/usdm") ? .binanceUSDM : file.hasPrefix("binance/coinm") ? .binanceCOINM
            : file.hasPrefix("binance") ? .binance : file.hasPrefix("coinbase") ? .coinbase
            : file.hasPrefix("kraken") ? .kraken : file.hasPrefix("okx") ? .okx : .bybit
        let adapter = try #require(VenueAdapters.make(venue))
        var seen = 0
        for r in try Fixtures.records(file) where r.kind == .ws {
            seen += 1
            let c = r.frame.withUnsafeBytes { adapter.control($0) }
            #expect(c == nil || c == .pong, "\(file): \(String(decoding: r.frame.prefix(120), as: UTF8.self))")
        }
        #expect(seen > 0)
    }
}
