import MarketCore
import Services

/// A signal line of the configuration: `"<strategy>[:params] <venue> <SYMBOL|*> <interval>"`.
/// `ema_cross[:FAST:SLOW]` (default 9:21), `rsi[:PERIOD:OVERSOLD:OVERBOUGHT]` (default 14:30:70),
/// `breakout[:LOOKBACK]` (default 20).
enum SignalSpec {
    struct Problem: Error { let message: String }

    static func parse(_ text: String) -> Result<SignalConfig, Problem> {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard parts.count == 4 else {
            return .failure(Problem(message: "'\(text)' should be \"<strategy>[:params] <venue> <SYMBOL|*> <interval>\", e.g. \"ema_cross:9:21 binance BTC-USDT 1m\""))
        }
        let head = parts[0].split(separator: ":").map(String.init)
        let strategy: SignalConfig.Strategy
        switch head.first {
        case "ema_cross":
            let n = head.dropFirst().compactMap { Int($0) }
            guard n.count == head.count - 1, n.isEmpty || (n.count == 2 && n[0] >= 1 && n[0] < n[1]) else {
                return .failure(Problem(message: "'\(parts[0])': ema_cross takes FAST:SLOW with 1 ≤ FAST < SLOW"))
            }
            strategy = .emaCross(fast: n.first ?? 9, slow: n.last ?? 21)
        case "rsi":
            let p = head.dropFirst().map { $0 }
            guard p.isEmpty || p.count == 3, let period = p.isEmpty ? 14 : Int(p[0]), period >= 2,
                let lo = WideDecimal.parse(p.isEmpty ? "30" : p[1]), let hi = WideDecimal.parse(p.isEmpty ? "70" : p[2]), lo < hi
            else {
                return .failure(Problem(message: "'\(parts[0])': rsi takes PERIOD:OVERSOLD:OVERBOUGHT, e.g. rsi:14:30:70"))
            }
            strategy = .rsi(period: period, oversold: lo, overbought: hi)
        case "breakout":
            let n = head.dropFirst().compactMap { Int($0) }
            guard n.count == head.count - 1, n.isEmpty || (n.count == 1 && (2...1000).contains(n[0])) else {
                return .failure(Problem(message: "'\(parts[0])': breakout takes LOOKBACK, 2 to 1000 candles, e.g. breakout:20"))
            }
            strategy = .breakout(lookback: n.first ?? 20)
        default:
            return .failure(Problem(message: "'\(head.first ?? "")' is not a strategy (ema_cross, rsi, breakout)"))
        }
        guard Interval(parts[3]) != nil else { return .failure(Problem(message: "'\(parts[3])' is not an interval (1m, 5m)")) }
        let symbol = parts[2] == "*" ? "*" : parts[2].uppercased()
        return .success(SignalConfig(strategy: strategy, venue: parts[1].lowercased(), symbol: symbol, interval: parts[3]))
    }
}
