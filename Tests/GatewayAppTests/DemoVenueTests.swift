@testable import GatewayApp
import Feeds
import MarketCore
import Testing

/// The demo finds a capture's venue and the simulator path from the venue registry: the paths of
/// the production websocket URLs (Binance `/ws`, OKX `/ws/v5/public`, Bybit `/v5/public/spot`).
@Suite("Demo venue lookup")
struct DemoVenueTests {
    @Test func captureNamesAndPaths() {
        #expect(DemoRun.venue(ofCapture: "binance-usdm-multi-2021-07-22.jsonl.gz") == .binanceUSDM)
        #expect(DemoRun.venue(ofCapture: "binance-spot-btcusdt-2024-08-08.jsonl.gz") == .binance)
        #expect(DemoRun.venue(ofCapture: "coinbase-exchange-level2-2021-04-17.jsonl.gz") == .coinbase)
        #expect(DemoRun.venue(ofCapture: "unknown-2021.jsonl.gz") == nil)
        #expect(DemoRun.wsPath(.binance) == "ws")
        #expect(DemoRun.wsPath(.binanceCOINM) == "ws")
        #expect(DemoRun.wsPath(.okx) == "ws/v5/public")
        #expect(DemoRun.wsPath(.bybit) == "v5/public/spot")
        #expect(DemoRun.wsPath(.coinbase) == "")
    }
}

/// Production endpoints are written once, in each venue's definition: the configuration's
/// defaults and the feed's defaults agree for every configurable venue id.
@Suite("Venue defaults written once")
struct VenueDefaultsOnceTests {
    @Test(arguments: GatewayConfiguration.VenueID.allCases)
    func configurationAndFeedDefaultsAgree(_ id: GatewayConfiguration.VenueID) {
        let c = GatewayConfiguration.VenueSettings.defaults(for: id)
        let f = FeedSettings.defaults(for: id.venue, symbols: [])
        #expect(c.wsURL == f.wsURL && c.restURL == f.restURL)
        #expect(c.pingInterval == f.pingInterval && c.rotateAfter == f.rotateAfter)
        #expect(c.subscribeBatch == f.subscribeBatch && c.bookDepth == f.bookDepth)
        #expect(FeedSettings.knownVenues.contains(id.venue))
    }

    /// The figures the venues document (cited on each VenueDefinition), restated here.
    @Test func documentedFigures() {
        let okx = GatewayConfiguration.VenueSettings.defaults(for: .okx)
        #expect(okx.wsURL == "wss://ws.okx.com:8443/ws/v5/public" && okx.pingInterval == .seconds(25) && okx.bookDepth == 400)
        let binance = GatewayConfiguration.VenueSettings.defaults(for: .binance)
        #expect(binance.wsURL == "wss://stream.binance.com:9443/ws" && binance.rotateAfter == .seconds(23 * 3600 + 30 * 60))
        #expect(binance.subscribeBatch == 200 && binance.pingInterval == nil)
        let kraken = GatewayConfiguration.VenueSettings.defaults(for: .kraken)
        #expect(kraken.wsURL == "wss://ws.kraken.com" && kraken.pingInterval == .seconds(30))
        let bybit = GatewayConfiguration.VenueSettings.defaults(for: .bybit)
        #expect(bybit.subscribeBatch == 10 && bybit.bookDepth == 200 && bybit.pingInterval == .seconds(20))
    }
}
