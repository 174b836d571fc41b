@testable import GatewayApp
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
