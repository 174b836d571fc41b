import Benchmark
import MarketCore
import Services

// MARK: - backtest (issue 23)

/// 30 days of 1m closes (43,200 bars): a deterministic random walk in cents around 60,000, so
/// every run backtests the same series.
let thirtyDaysOfBars: [BacktestBar] = {
    var state: UInt64 = 0x5EED
    var cents: Int64 = 6_000_000
    return (0..<43_200).map { i in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        cents += Int64((state >> 33) % 2001) - 1000  // ±10.00 a minute
        return BacktestBar(time: .seconds(1_700_000_000 + Int64(i) * 60), close: WideDecimal(mantissa: Int128(cents), scale: 2, displayScale: 2))
    }
}()

func registerBacktestBenchmarks() {
    // One iteration backtests the whole 30 days; candles/s = 43,200 ÷ the time per iteration,
    // days of history per second = 30 ÷ it.
    for (name, definition) in [
        ("backtest/breakout-20 30d", StrategyDefinition(name: "b", kind: .breakout, parameters: ["lookback": "20"], instruments: ["binance:BTC-USDT"])),
        ("backtest/ema_cross-9-21 30d", StrategyDefinition(name: "e", kind: .emaCross, instruments: ["binance:BTC-USDT"])),
    ] {
        let valid = try! definition.validated()
        Benchmark(
            name,
            configuration: .init(
                metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .milliseconds, warmupIterations: 2,
                maxDuration: .seconds(5), maxIterations: 100)
        ) { benchmark in
            let bars = thirtyDaysOfBars
            for _ in benchmark.scaledIterations {
                let result = try! Backtester().run(valid.makeStrategy(), bars: bars)
                blackHole(result.finalEquity)
            }
        }
    }
}
