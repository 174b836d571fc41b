// A stand-in for the one Services type the configuration loader uses (SignalSpec's result), so
// the fuzz build does not compile JWTKit and the bus; same fields as Services.SignalConfig.
public import MarketCore

public struct SignalConfig: Sendable, Hashable {
    public enum Strategy: Sendable, Hashable {
        case emaCross(fast: Int, slow: Int)
        case rsi(period: Int, oversold: WideDecimal, overbought: WideDecimal)
        case breakout(lookback: Int)
    }

    public var strategy: Strategy
    public var venue: String
    public var symbol: String
    public var interval: String

    public init(strategy: Strategy, venue: String, symbol: String = "*", interval: String = "1m") {
        self.strategy = strategy
        self.venue = venue
        self.symbol = symbol
        self.interval = interval
    }
}
