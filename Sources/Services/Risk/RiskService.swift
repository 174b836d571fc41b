public import Bus
public import Logging
public import MarketCore
public import Storage

/// The risk side of the services (docs/trading.md "Risk limits and the circuit breaker"): stores
/// the execution service's ``RiskBook`` in `risk_state`, publishes every breaker change as a
/// `circuit_breaker` event on the user's private `executions.<user>` channel, tells the mood meter,
/// and watches every user's day loss (after each fill and every ``every``) so the breaker trips
/// (and clears at 00:00 UTC) without waiting for an order.
public final class RiskService: Sendable {
    public let execution: ExecutionService
    public let every: Duration
    private let store: (any RiskStore)?
    private let logger: Logger

    public var book: RiskBook { execution.risk }

    public init(execution: ExecutionService, store: (any RiskStore)?, bus: MarketBus?, mood: MoodService?, every: Duration = .seconds(10), logger: Logger) {
        self.execution = execution
        self.store = store
        self.every = every
        self.logger = logger
        let book = execution.risk
        if let store { book.setPersistence { try await store.saveRiskState($0) } }
        book.addObserver { event in
            bus?.publish(.circuitBreaker(event), channel: ChannelName(kind: .executions, scope: event.user))
        }
        if let mood {
            let clock = execution
            mood.setNote { user in book.moodNote(user, at: clock.now) }
            book.addObserver { event in mood.recompute(event.user) }
        }
    }

    /// Restores every user's limits and breaker at start-up (before orders).
    public func load() async throws {
        guard let store else { return }
        execution.risk.restore(try await store.riskStates())
    }

    /// Trips `user`'s breaker when their day loss reached the limit (at once, without an order).
    public func evaluate(_ user: String) async {
        let limits = execution.risk.limits(user)
        guard let limit = limits.maxDailyLossUSD, let pnl = execution.dayPnL(user: user) else { return }
        let (_, change) = execution.risk.checkDailyLoss(user: user, pnl: pnl, limit: limit, at: execution.now)
        if let change { await execution.risk.commit(change) }
    }

    /// Clears breakers of earlier days, then evaluates every user.
    public func sweep() async {
        for change in execution.risk.newDayResets(at: execution.now) { await execution.risk.commit(change) }
        for user in execution.userIDs { await evaluate(user) }
    }

    public enum AdminError: Error, Sendable, Hashable { case unknownUser }

    /// An admin reset of `user`'s breaker; the state after it (unchanged when it was not tripped).
    @discardableResult
    public func reset(user: String) async throws(AdminError) -> BreakerState {
        guard let pnl = execution.dayPnL(user: user) else { throw .unknownUser }
        if let change = execution.risk.reset(user: user, loss: pnl.isNegative ? pnl.negated : .zero, at: execution.now) {
            await execution.risk.commit(change)
        }
        return execution.risk.breaker(user)
    }

    /// Sets `user`'s own limits (nil fields: the configured default); stored before it returns.
    public func setLimits(user: String, _ limits: RiskLimits) async throws(AdminError) {
        guard execution.account(user) != nil else { throw .unknownUser }
        await execution.risk.commit(execution.risk.setOverrides(user: user, limits, at: execution.now))
        await evaluate(user)
    }

    /// Runs ``sweep()`` every ``every`` until cancelled.
    public func run() async {
        while !Task.isCancelled {
            await sweep()
            try? await Task.sleep(for: every)
        }
    }
}
