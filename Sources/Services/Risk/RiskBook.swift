import Logging
public import MarketCore
import Metrics
public import Storage
import Synchronization

/// Every user's risk limits and circuit breaker, in memory (the execution service consults it under
/// its own lock; lock order: execution, then this). Changes are stored through the persistence
/// ``RiskService`` installs (awaited before the order's answer, so a trip survives a restart) and
/// then announced to the observers.
public final class RiskBook: Sendable {
    struct Entry {
        var overrides = RiskLimits()
        var breaker = BreakerState()
        var version: Int64 = 0
    }

    struct State {
        var users: [String: Entry] = [:]
        var nextVersion: Int64 = 1
    }

    /// The configured defaults every user has unless an admin set their own.
    public let defaults: RiskLimits
    private let state = Mutex(State())
    private let observers = Mutex<[@Sendable (RiskEvent) -> Void]>([])
    private let persistence = Mutex<(@Sendable (StoredRiskState) async throws -> Void)?>(nil)
    private let logger: Logger

    public init(defaults: RiskLimits, logger: Logger) {
        self.defaults = defaults
        self.logger = logger
    }

    /// The public hook of the circuit breaker: `f` is called (outside any lock, after the change is
    /// stored) with every trip and reset. A notification service subscribes here (or to the
    /// `circuit_breaker` events on `executions.<user>`). `f` must return quickly.
    public func addObserver(_ f: @escaping @Sendable (RiskEvent) -> Void) { observers.withLock { $0.append(f) } }

    /// Where changes are stored (``RiskService`` sets the store's upsert).
    public func setPersistence(_ f: @escaping @Sendable (StoredRiskState) async throws -> Void) { persistence.withLock { $0 = f } }

    // MARK: reading

    /// `user`'s effective limits: their own over the defaults.
    public func limits(_ user: String) -> RiskLimits {
        let own = state.withLock { $0.users[user]?.overrides } ?? RiskLimits()
        return defaults.overridden(by: own)
    }

    /// The limits an admin set for `user` (nil fields: the default applies).
    public func overrides(_ user: String) -> RiskLimits { state.withLock { $0.users[user]?.overrides } ?? RiskLimits() }

    public func breaker(_ user: String) -> BreakerState { state.withLock { $0.users[user]?.breaker } ?? BreakerState() }

    public func isTripped(_ user: String, at t: UnixNanos) -> Bool { breaker(user).isTripped(day: UTCDay.of(t)) }

    /// What the mood meter adds to its reason while the breaker is tripped (nil otherwise).
    public func moodNote(_ user: String, at t: UnixNanos) -> String? {
        let b = breaker(user)
        guard b.isTripped(day: UTCDay.of(t)) else { return nil }
        return "\(Self.moodPrefix) (\(b.reason ?? "daily loss limit reached")): new orders refused until 00:00 UTC or an admin reset"
    }

    /// How every mood reason written while the breaker is tripped begins.
    public static let moodPrefix = "circuit breaker tripped"

    // MARK: changes

    /// The `daily_loss` check for an order of `user` whose UTC day P&L is `pnl` (USD; nil when it
    /// cannot be valued). Trips the breaker when the loss reaches the limit: the change is returned
    /// for the caller to ``commit(_:)`` once out of its lock.
    func checkDailyLoss(user: String, pnl: WideDecimal, limit: WideDecimal, at t: UnixNanos) -> (CheckResult, RiskChange?) {
        let day = UTCDay.of(t)
        let loss = pnl.isNegative ? pnl.negated : .zero
        return state.withLock { s in
            var e = s.users[user] ?? Entry()
            if e.breaker.isTripped(day: day) {
                let detail =
                    "circuit breaker tripped at \(e.breaker.tripped.map { $0.iso8601(fractionDigits: 0) } ?? "?") (\(e.breaker.reason ?? "")); "
                    + "orders refused until 00:00 UTC or an admin reset"
                return (CheckResult("daily_loss", passed: false, detail), nil)
            }
            let threshold = e.breaker.threshold(limit: limit, day: day)
            guard loss >= threshold else {
                return (CheckResult("daily_loss", passed: true, "day loss \(loss) USD < \(threshold) USD"), nil)
            }
            let reason = "day loss \(loss) USD ≥ limit \(threshold) USD"
            e.breaker.trippedDay = day
            e.breaker.tripped = t
            e.breaker.loss = loss
            e.breaker.reason = reason
            e.version = s.nextVersion
            s.nextVersion += 1
            s.users[user] = e
            let event = RiskEvent(kind: .tripped, user: user, time: t, day: day, loss: loss, limit: threshold, by: "daily_loss", reason: reason)
            return (
                CheckResult("daily_loss", passed: false, "circuit breaker tripped: \(reason); orders refused until 00:00 UTC or an admin reset"),
                RiskChange(stored: Self.stored(user, e, t), event: event)
            )
        }
    }

    /// Clears `user`'s breaker (an admin reset): orders are accepted again; that day it trips again
    /// only when the loss grows by the limit beyond `loss` (the day loss now). nil when it was not tripped
    /// (nothing changes).
    func reset(user: String, loss: WideDecimal, at t: UnixNanos) -> RiskChange? {
        let day = UTCDay.of(t)
        return state.withLock { s in
            guard var e = s.users[user], e.breaker.isTripped(day: day) else { return nil }
            let limit = defaults.overridden(by: e.overrides).maxDailyLossUSD
            e.breaker.trippedDay = nil
            e.breaker.resetDay = day
            e.breaker.resetLoss = loss
            e.version = s.nextVersion
            s.nextVersion += 1
            s.users[user] = e
            let event = RiskEvent(
                kind: .reset, user: user, time: t, day: day, loss: loss, limit: limit, by: "admin",
                reason: "reset by an admin at a day loss of \(loss) USD")
            return RiskChange(stored: Self.stored(user, e, t), event: event)
        }
    }

    /// Breakers tripped on an earlier day that are still marked: cleared, each a `new_day` reset.
    func newDayResets(at t: UnixNanos) -> [RiskChange] {
        let day = UTCDay.of(t)
        return state.withLock { s in
            var out: [RiskChange] = []
            for (user, var e) in s.users.sorted(by: { $0.key < $1.key }) {
                guard let d = e.breaker.trippedDay, d < day else { continue }
                e.breaker.trippedDay = nil
                e.version = s.nextVersion
                s.nextVersion += 1
                s.users[user] = e
                out.append(
                    RiskChange(
                        stored: Self.stored(user, e, t),
                        event: RiskEvent(
                            kind: .reset, user: user, time: t, day: day, loss: nil, limit: nil, by: "new_day",
                            reason: "a new UTC day: the breaker tripped on \(UTCDay.start(d).iso8601(fractionDigits: 0).prefix(10)) is cleared")))
            }
            return out
        }
    }

    /// Sets `user`'s own limits (nil fields: the default applies).
    func setOverrides(user: String, _ limits: RiskLimits, at t: UnixNanos) -> RiskChange {
        state.withLock { s in
            var e = s.users[user] ?? Entry()
            e.overrides = limits
            e.version = s.nextVersion
            s.nextVersion += 1
            s.users[user] = e
            return RiskChange(stored: Self.stored(user, e, t), event: nil)
        }
    }

    /// Stores a change (bounded retries; a failure is logged and counted, the change stays in
    /// memory), then tells the observers.
    func commit(_ change: RiskChange) async {
        if let persist = persistence.withLock({ $0 }) {
            var stored = false
            for attempt in 1...5 where !stored {
                do {
                    try await persist(change.stored)
                    stored = true
                } catch {
                    logger.error(
                        "risk state not stored", metadata: ["user": "\(change.stored.userID)", "attempt": "\(attempt)", "error": "\(error)"])
                    Counter(label: "services_risk_store_failures_total").increment()
                    try? await Task.sleep(for: .milliseconds(100 * attempt))
                }
            }
        }
        guard let event = change.event else { return }
        switch event.kind {
        case .tripped: Counter(label: "services_risk_breaker_trips_total").increment()
        case .reset: Counter(label: "services_risk_breaker_resets_total", dimensions: [("by", event.by)]).increment()
        }
        logger.notice("circuit breaker \(event.kind.rawValue)", metadata: ["user": "\(event.user)", "reason": "\(event.reason)"])
        for o in observers.withLock({ $0 }) { o(event) }
    }

    /// Restores the stored states at start-up (before any order).
    func restore(_ rows: [StoredRiskState]) {
        state.withLock { s in
            for r in rows {
                var e = Entry()
                e.overrides = RiskLimits(
                    maxPositionPercent: r.maxPositionPercent, maxOpenOrders: r.maxOpenOrders, maxOrderNotionalUSD: r.maxOrderNotionalUSD,
                    maxDailyLossUSD: r.maxDailyLossUSD)
                e.breaker.trippedDay = r.trippedDay
                e.breaker.tripped = r.tripped
                e.breaker.loss = r.trippedLoss
                e.breaker.reason = r.trippedReason
                e.breaker.resetDay = r.resetDay
                e.breaker.resetLoss = r.resetLoss
                e.version = r.version
                s.users[r.userID] = e
                s.nextVersion = max(s.nextVersion, r.version + 1)
            }
        }
    }

    private static func stored(_ user: String, _ e: Entry, _ t: UnixNanos) -> StoredRiskState {
        var r = StoredRiskState(userID: user, version: e.version, updated: t)
        r.maxPositionPercent = e.overrides.maxPositionPercent
        r.maxOpenOrders = e.overrides.maxOpenOrders
        r.maxOrderNotionalUSD = e.overrides.maxOrderNotionalUSD
        r.maxDailyLossUSD = e.overrides.maxDailyLossUSD
        r.trippedDay = e.breaker.trippedDay
        r.tripped = e.breaker.tripped
        r.trippedLoss = e.breaker.loss
        r.trippedReason = e.breaker.reason
        r.resetDay = e.breaker.resetDay
        r.resetLoss = e.breaker.resetLoss
        return r
    }
}
