public import Bus
import Logging
public import MarketCore
import Metrics
import Storage
import Synchronization

/// The mood meter per user (DESIGN.md "Services"): recomputed every 60 s and after each fill;
/// published on `mood.<user>` and stored in `agent_status_log` when the state changes or the score
/// moves by the publish threshold (10), with the reason naming every factor.
public final class MoodService: Sendable {
    public struct Current: Sendable {
        public var reading: MoodReading
        public var time: UnixNanos
        /// The last published reading (what `mood.<user>` and the history hold).
        public var published: MoodReading?
    }

    private let execution: ExecutionService
    private let bus: MarketBus?
    public let thresholds: MoodThresholds
    public let every: Duration
    private let state = Mutex([String: Current]())
    private let logger: Logger

    public init(execution: ExecutionService, bus: MarketBus?, thresholds: MoodThresholds = .init(), every: Duration = .seconds(60), logger: Logger) {
        self.execution = execution
        self.bus = bus
        self.thresholds = thresholds
        self.every = every
        self.logger = logger
    }

    public func current(_ user: String) -> Current? { state.withLock { $0[user] } }

    private let note = Mutex<(@Sendable (String) -> String?)?>(nil)

    /// A note that leads the reason while it is not nil (the tripped circuit breaker, ``RiskService``);
    /// the score and state keep DESIGN.md's rules. A reading is published when the note comes or goes.
    public func setNote(_ f: @escaping @Sendable (String) -> String?) { note.withLock { $0 = f } }

    /// What the formula reads for `user` now, from its account and the market view.
    public func inputs(user: String, now: UnixNanos) -> MoodInputs? {
        guard let a = execution.account(user) else { return nil }
        let cash = execution.options.cashAsset
        let dayAgo = UnixNanos(now.rawValue - 86_400_000_000_000)
        var pnl = WideDecimal.zero
        for f in a.fills where f.time >= dayAgo {
            if let r = f.realizedPnL, f.feeAsset == cash { pnl = pnl.adding(r) ?? pnl }
        }
        var market: [MarketCondition] = []
        for (key, p) in a.positions.sorted(by: { $0.key < $1.key }) where p.qty.isPositive {
            let mid = execution.market.mid(key)
            if let mid, let (_, quote) = key.baseAndQuote, execution.options.settlementAsset(quote: quote) == cash,
                let value = p.qty.multiplied(by: mid), let u = value.subtracting(p.costBasis)
            {
                pnl = pnl.adding(u) ?? pnl
            }
            let book = execution.market.book(key)
            let spread = book.flatMap { b -> WideDecimal? in
                guard let bid = b.bestBid?.price, let ask = b.bestAsk?.price else { return nil }
                return Volatility.spreadBps(bid: WideDecimal(bid), ask: WideDecimal(ask))
            }
            market.append(
                MarketCondition(
                    venue: key.venue, symbol: key.symbol, volatilityPercent: Volatility.realizedPercent(closes: execution.market.recentCloses(key)),
                    spreadBps: spread))
        }
        let base = a.cash(at: dayAgo, asset: cash)
        let percent = base.isPositive ? pnl.multiplied(by: WideDecimal(100))?.divided(by: base, roundingToFractionDigits: 6) : nil
        let closed = a.fills.reversed().compactMap(\.realizedPnL).prefix(thresholds.winRateWindow)
        return MoodInputs(
            pnlPercent: percent, closedTradePnL: Array(closed), tradesLastHour: a.trades(since: UnixNanos(now.rawValue - 3_600_000_000_000)),
            totalTrades: a.totalTrades, market: market)
    }

    /// Recomputes `user`'s mood; publishes and stores it when the publishing rule says so.
    @discardableResult
    public func recompute(_ user: String) -> MoodReading? {
        // An agent's sub-account has no mood of its own (no one could subscribe to it).
        guard !SubAccount.isSubAccount(user) else { return nil }
        let now = execution.now
        guard let inputs = inputs(user: user, now: now) else { return nil }
        var reading = MoodMeter.evaluate(inputs, thresholds: thresholds)
        let noted = note.withLock { $0 }?(user)
        if let noted { reading.reason = "\(noted); \(reading.reason)" }
        let publish = state.withLock { s -> Bool in
            let previous = s[user]?.published
            let notedBefore = previous.map { $0.reason.hasPrefix(RiskBook.moodPrefix) } ?? false
            let go = MoodMeter.shouldPublish(previous: previous, current: reading, thresholds: thresholds) || notedBefore != (noted != nil)
            s[user] = Current(reading: reading, time: now, published: go ? reading : previous)
            return go
        }
        guard publish else { return reading }
        bus?.publish(.mood(MoodUpdate(user: user, time: now, reading: reading)), channel: ChannelName(kind: .mood, scope: user))
        execution.journal.append(
            .mood(StoredMood(time: now, userID: user, score: reading.score, state: reading.state.rawValue, factorsJSON: reading.factorsJSON, reason: reading.reason)))
        Counter(label: "services_mood_updates_total", dimensions: [("state", reading.state.rawValue)]).increment()
        return reading
    }

    /// Recomputes every user's mood every ``every`` until cancelled.
    public func run() async {
        while !Task.isCancelled {
            for user in execution.userIDs { recompute(user) }
            try? await Task.sleep(for: every)
        }
    }
}
