public import Bus
import Logging
public import MarketCore
import Metrics
import Synchronization

/// One configured signal: a strategy on the closed candles of an interval, for one instrument or
/// (`symbol: "*"`) for every instrument of a venue.
public struct SignalConfig: Sendable, Hashable {
    public enum Strategy: Sendable, Hashable {
        case emaCross(fast: Int, slow: Int)
        case rsi(period: Int, oversold: WideDecimal, overbought: WideDecimal)
        case breakout(lookback: Int)

        /// The same strategy as a registered definition (call with a validated one), so a strategy
        /// from the registry runs through the one signal path the configured ones use.
        public init(_ d: StrategyDefinition) {
            func int(_ key: String) -> Int { Int(d.parameters[key]!)! }
            func decimal(_ key: String) -> WideDecimal { WideDecimal.parse(d.parameters[key]!)! }
            switch d.kind {
            case .emaCross: self = .emaCross(fast: int("fast"), slow: int("slow"))
            case .rsi: self = .rsi(period: int("period"), oversold: decimal("oversold"), overbought: decimal("overbought"))
            case .breakout: self = .breakout(lookback: int("lookback"))
            }
        }
    }

    public var strategy: Strategy
    public var venue: String
    public var symbol: String
    public var interval: String
    /// The name instead of the kind's: a registered strategy's id (`stg_…`).
    public var label: String?

    public init(strategy: Strategy, venue: String, symbol: String = "*", interval: String = "1m", label: String? = nil) {
        self.strategy = strategy
        self.venue = venue
        self.symbol = symbol
        self.interval = interval
        self.label = label
    }

    /// A registered strategy that passed its check, on each of its instruments and intervals,
    /// named by its id: `signals.<id>.<SYMBOL>`, which agents naming that id follow.
    public static func configs(for s: RegisteredStrategy) -> [SignalConfig] {
        guard s.check.passed else { return [] }
        return s.definition.instruments.flatMap { instrument -> [SignalConfig] in
            guard let (venue, symbol) = StrategyDefinition.instrument(instrument) else { return [] }
            return s.definition.intervals.map {
                SignalConfig(strategy: .init(s.definition), venue: venue, symbol: symbol, interval: $0, label: s.id)
            }
        }
    }

    /// The strategy's name as it appears in channels (`signals.<name>.<SYMBOL>`).
    public var name: String {
        if let label { return label }
        return switch strategy {
        case .emaCross: "ema_cross"
        case .rsi: "rsi"
        case .breakout: "breakout"
        }
    }

    func makeStrategy() -> any SignalStrategy { strategy.make() }

    func applies(to c: Candle) -> Bool {
        c.interval.name == interval && c.instrument.venue.id == venue && (symbol == "*" || symbol == c.instrument.symbol)
    }
}

extension SignalConfig.Strategy {
    /// A fresh instance (the one place a strategy kind becomes running code).
    public func make() -> any SignalStrategy {
        switch self {
        case .emaCross(let fast, let slow): EMACrossover(fast: fast, slow: slow)
        case .rsi(let period, let oversold, let overbought): RSIReversal(period: period, oversold: oversold, overbought: overbought)
        case .breakout(let lookback): Breakout(lookback: lookback)
        }
    }
}

/// Indicators on closed candles (DESIGN.md "Services"): each configured strategy runs per
/// instrument on the closes of its interval and publishes its decisions on the bus. A candle is
/// used once, at its first close; later revisions (late trades) do not re-run the strategy, so
/// a replay gives the same signals every time.
public final class SignalService: Sendable {
    private struct Key: Hashable {
        var config: Int
        var instrument: InstrumentKey
    }

    private struct State {
        var configs: [SignalConfig]
        var strategies: [Key: any SignalStrategy] = [:]
        var lastStart: [Key: UnixNanos] = [:]
    }

    /// The configured signals, then those added since (registered strategies).
    public var configs: [SignalConfig] { state.withLock { $0.configs } }
    private let bus: MarketBus?
    private let state: Mutex<State>

    public init(configs: [SignalConfig], bus: MarketBus?) {
        state = Mutex(State(configs: configs))
        self.bus = bus
    }

    /// Starts running more signals from the next closed candle (a strategy accepted by the
    /// registry); one already running is not added twice.
    public func add(_ more: [SignalConfig]) {
        state.withLock { s in
            for c in more where !s.configs.contains(c) { s.configs.append(c) }
        }
    }

    /// Feeds one event; returns the signals it produced (also published on the bus).
    @discardableResult
    public func handle(_ event: MarketEvent) -> [TradeSignal] {
        guard case .candle(let c) = event, c.closed else { return [] }
        let instrument = InstrumentKey(venue: c.instrument.venue.id, symbol: c.instrument.symbol)
        let close = WideDecimal(c.close)
        let signals = state.withLock { s -> [TradeSignal] in
            var out: [TradeSignal] = []
            for (i, config) in s.configs.enumerated() where config.applies(to: c) {
                let key = Key(config: i, instrument: instrument)
                if let last = s.lastStart[key], c.start <= last { continue }
                s.lastStart[key] = c.start
                var strategy = s.strategies[key] ?? config.makeStrategy()
                let decision = strategy.update(close: close)
                s.strategies[key] = strategy
                guard let decision else { continue }
                out.append(
                    TradeSignal(
                        strategy: config.name, venue: instrument.venue, symbol: instrument.symbol, interval: config.interval,
                        side: decision.side, price: close, time: UnixNanos(c.start.rawValue + c.interval.nanoseconds),
                        values: decision.values, reason: decision.reason))
            }
            return out
        }
        for signal in signals {
            bus?.publish(.signal(signal), channel: ChannelName(kind: .signals, scope: signal.strategy, symbol: signal.symbol))
            Counter(label: "services_signals_total", dimensions: [("strategy", signal.strategy)]).increment()
        }
        return signals
    }
}
