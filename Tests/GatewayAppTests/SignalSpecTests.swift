import MarketCore
import Services
import Testing
@testable import GatewayApp

/// `services.signals` lines: every kind, its defaults, and the words a wrong line gets.
@Suite("signal lines of the configuration")
struct SignalSpecTests {
    @Test func kindsAndDefaults() throws {
        func parse(_ text: String) throws -> SignalConfig { try SignalSpec.parse(text).get() }
        #expect(try parse("ema_cross binance * 1m").strategy == .emaCross(fast: 9, slow: 21))
        #expect(try parse("ema_cross:5:8 binance btc-usdt 5m") == SignalConfig(strategy: .emaCross(fast: 5, slow: 8), venue: "binance", symbol: "BTC-USDT", interval: "5m"))
        #expect(try parse("rsi okx * 1m").strategy == .rsi(period: 14, oversold: WideDecimal(30), overbought: WideDecimal(70)))
        #expect(try parse("breakout coinbase * 1m").strategy == .breakout(lookback: 20))
        #expect(try parse("breakout:55 coinbase ETH-USD 1m").strategy == .breakout(lookback: 55))
        // The registry's definitions map onto the same strategies.
        let d = try StrategyDefinition(name: "b", kind: .breakout, parameters: ["lookback": "55"], instruments: ["coinbase:ETH-USD"]).validated()
        #expect(SignalConfig.Strategy(d) == .breakout(lookback: 55))
    }

    @Test func wrongLinesAreNamed() {
        func message(_ text: String) -> String? {
            if case .failure(let p) = SignalSpec.parse(text) { return p.message }
            return nil
        }
        #expect(message("breakout:1 binance * 1m") == "'breakout:1': breakout takes LOOKBACK, 2 to 1000 candles, e.g. breakout:20")
        #expect(message("breakout:x binance * 1m") == "'breakout:x': breakout takes LOOKBACK, 2 to 1000 candles, e.g. breakout:20")
        #expect(message("macd binance * 1m") == "'macd' is not a strategy (ema_cross, rsi, breakout)")
        #expect(message("ema_cross:9:5 binance * 1m") == "'ema_cross:9:5': ema_cross takes FAST:SLOW with 1 ≤ FAST < SLOW")
    }
}
