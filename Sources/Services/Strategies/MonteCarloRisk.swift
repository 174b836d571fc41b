import MarketCore

/// Value at risk and expected shortfall of a strategy from its own trade returns, by bootstrap:
/// each path draws as many returns as the backtest had round trips (with replacement) and
/// compounds them; the loss of a path is −(Π(1 + r) − 1). VaR at level p is the loss that the
/// worst (1 − p) of paths reach or exceed (the empirical quantile, nearest rank); CVaR is the mean
/// loss of those paths. Ratios, not amounts, so `Double`. The generator is seeded, so a summary is
/// reproducible.
public struct MonteCarloRisk: Sendable, Hashable {
    public var paths: Int
    public var var95: Double
    public var cvar95: Double
    public var var99: Double
    public var cvar99: Double

    /// `nil` when there are no returns to draw from.
    public init?(returns: [Double], paths: Int = 10_000, seed: UInt64 = 0x5EED) {
        guard !returns.isEmpty, paths > 0 else { return nil }
        var rng = SeededGenerator(seed: seed)
        var losses: [Double] = []
        losses.reserveCapacity(paths)
        for _ in 0..<paths {
            var growth = 1.0
            for _ in 0..<returns.count { growth *= 1 + returns[Int(rng.next() % UInt64(returns.count))] }
            losses.append(1 - growth)
        }
        losses.sort(by: >)  // worst first
        func tail(_ level: Double) -> (Double, Double) {
            let count = max(1, Int(((1 - level) * Double(paths)).rounded(.up)))
            let worst = losses[0..<count]
            return (worst.last!, worst.reduce(0, +) / Double(count))
        }
        self.paths = paths
        (var95, cvar95) = tail(0.95)
        (var99, cvar99) = tail(0.99)
    }
}
