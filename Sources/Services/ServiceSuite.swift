public import Bus
public import Logging
public import MarketCore
public import Storage
import Synchronization
import Metrics
public import Foundation

/// Everything the services need, as configured.
public struct ServiceOptions: Sendable {
    public var execution = ExecutionOptions()
    public var mood = MoodThresholds()
    public var moodEvery: Duration = .seconds(60)
    public var signals: [SignalConfig] = []
    /// The account journal: flush bound at a stop and the spill file (docs/trading.md).
    public var journal = AccountJournal.Options()
    /// Deposits by webhook: secret, timestamp window, deposit fee (docs/trading.md).
    public var deposits = DepositService.Options()
    /// How often every user's day loss is looked at (besides after each fill and with each order).
    public var riskEvery: Duration = .seconds(10)
    /// Outbound notifications: bot token, API base, queue and retries (docs/notifications.md).
    public var notifications = NotificationOptions()
    /// Agents' spawning (docs/strategies.md "Agent hierarchy").
    public var agents = AgentOptions()
    /// How the market view is fed: `.relay` on a cluster `services` node without `ingest`
    /// (docs/nats.md "The services role").
    public var marketFeeding: MarketView.Feeding = .bus
    public init() {}
}

/// The in-process services attached to one bus: the market view and paper execution, the mood
/// meter, signals and agents, and the journal writing accounts to the store.
public final class ServiceSuite: Sendable {
    public let bus: MarketBus
    public let market: MarketView
    public let journal: AccountJournal
    public let execution: ExecutionService
    public let mood: MoodService
    public let signals: SignalService
    public let agents: AgentService
    public let deposits: DepositService
    public let risk: RiskService
    /// Per-user Telegram notifications; ``NotificationService/notify(user:kind:text:)`` is the
    /// entry point for producers outside the bus (the circuit breaker).
    public let notifications: NotificationService
    public let authority: TokenAuthority?
    public let store: (any AccountStore)?
    private let logger: Logger

    public init(
        options: ServiceOptions, bus: MarketBus, store: (any AccountStore)?, authority: TokenAuthority?, logger: Logger,
        clock: (@Sendable () -> UnixNanos)? = nil
    ) {
        self.bus = bus
        self.store = store
        self.authority = authority
        self.logger = logger
        market = MarketView(feeding: options.marketFeeding)
        journal = AccountJournal(store: store, logger: logger, options: options.journal)
        // The instruments the signals name are known before their first market event (agents on them).
        var executionOptions = options.execution
        for s in options.signals where s.venue != "*" && s.symbol != "*" {
            executionOptions.instruments.insert(InstrumentKey(venue: s.venue, symbol: s.symbol))
        }
        self.execution = ExecutionService(options: executionOptions, market: market, journal: journal, bus: bus, logger: logger, clock: clock)
        mood = MoodService(execution: execution, bus: bus, thresholds: options.mood, every: options.moodEvery, logger: logger)
        signals = SignalService(configs: options.signals, bus: bus)
        agents = AgentService(execution: execution, logger: logger, options: options.agents)
        deposits = DepositService(options: options.deposits, execution: execution, store: store as? any DepositStore, logger: logger)
        risk = RiskService(
            execution: execution, store: store as? any RiskStore, bus: bus, mood: mood, every: options.riskEvery, logger: logger)
        notifications = NotificationService(
            options: options.notifications, execution: execution, bus: bus, store: store as? any NotificationStore, logger: logger, clock: clock)
        // The circuit breaker's trips and resets reach the user's `breaker` notifications.
        let notifications = self.notifications
        execution.risk.addObserver { e in
            let text =
                e.kind == .tripped
                ? "Circuit breaker tripped: \(e.reason). New orders are refused until 00:00 UTC or an admin reset."
                : "Circuit breaker reset (\(e.by)): orders are accepted again."
            _ = notifications.notify(user: SubAccount.owner(of: e.user), kind: .breaker, text: text)
        }
        let mood = self.mood
        let risk = self.risk
        execution.addFillObserver { user in
            mood.recompute(user)
            Task { await risk.evaluate(user) }
        }
    }

    /// Refuses every token of `user` issued before now and stores that (bounded retries; a failure
    /// is logged and counted, and the revocation holds in memory until a restart). Returns the
    /// instant and whether it was stored. nil without an authority.
    public func revokeTokens(of user: String) async -> (before: Date, stored: Bool)? {
        guard let authority else { return nil }
        let before = authority.revoke(user: user)
        for f in revocationObservers.withLock({ $0 }) { f(user, before) }
        guard let store = store as? any TokenRevocationStore else { return (before, false) }
        let ns = UnixNanos(Int64((before.timeIntervalSince1970 * 1e9).rounded(.down)))
        for attempt in 1...3 {
            do {
                try await store.saveRevocation(user: user, before: ns)
                return (before, true)
            } catch {
                logger.error("token revocation not stored", metadata: ["user": "\(user)", "attempt": "\(attempt)", "error": "\(error)"])
                Counter(label: "services_revocation_store_failures_total").increment()
                if attempt < 3 { try? await Task.sleep(for: .milliseconds(100 * attempt)) }
            }
        }
        return (before, false)
    }

    private let revocationObservers = Mutex<[@Sendable (String, Date) -> Void]>([])
    /// Called with each revocation made here (user, revoked-before), at once, and with each one
    /// restored from the store at load: a cluster node puts it into NATS for the other nodes (docs/nats.md "Token revocations").
    public func addRevocationObserver(_ f: @escaping @Sendable (String, Date) -> Void) {
        revocationObservers.withLock { $0.append(f) }
    }

    private let loadedFlag = Atomic<Bool>(false)
    /// Whether ``load()`` has completed.
    public var loaded: Bool { loadedFlag.load(ordering: .acquiring) }

    /// Stores what the last stop spilled, then loads the stored accounts (fills of the last 24 h for
    /// the mood and trade counts, resting orders with their reservations) and agents.
    public func load() async throws {
        if let store {
            try await journal.replaySpill()
            let ledgerStore = store as? any LedgerStore
            if let ledgerStore {
                // The books as stored, never refusing a row: a corrupted one shows as drift.
                var txs: [LedgerTransaction] = []
                for t in try await ledgerStore.ledgerTransactions() { txs.append(try LedgerTransaction(stored: t)) }
                let books = Ledger(restoring: txs)
                execution.books.withLedger { $0 = books }
            }
            try await execution.load(from: store, since: UnixNanos(UnixNanos.now().rawValue - 86_400_000_000_000))
            if ledgerStore != nil {
                execution.carryOverToLedger()
                let off = execution.ledgerDisagreements()
                if !off.isEmpty {
                    logger.error("ledger and accounts disagree", metadata: ["accounts": "\(off.prefix(20))", "count": "\(off.count)"])
                }
            }
            try await risk.load()
            try await agents.load(from: store)
            try await deposits.load()
            try await notifications.load()
            if let authority, let revocations = store as? any TokenRevocationStore {
                let stored = try await revocations.revocations().mapValues { Date(timeIntervalSince1970: Double($0.rawValue) / 1e9) }
                authority.restore(stored)
                // Offered to the observers again: a revocation whose cluster put failed reaches the
                // other nodes at this node's next start (the put never lowers a stored instant).
                let observers = revocationObservers.withLock { $0 }
                for (user, before) in stored { for f in observers { f(user, before) } }
            }
        }
        loadedFlag.store(true, ordering: .releasing)
    }

    /// Runs the consumers until cancelled; then stores what the journal holds.
    public func run() async {
        let trades = bus.subscribe([ChannelName(kind: .trades, scope: "*", symbol: "*")], policy: .dropOldest, capacity: 65_536)
        let state = bus.subscribe(
            [
                ChannelName(kind: .book, scope: "*", symbol: "*"), ChannelName(kind: .candles, interval: "*", scope: "*", symbol: "*"),
                ChannelName(kind: .status, scope: "*"),
            ], policy: .latestOnly, capacity: 8192)
        let journal = self.journal
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await journal.run() }
            group.addTask { [execution, signals] in
                await Self.consume(state) { e in
                    execution.handle(e)
                    signals.handle(e)
                }
            }
            group.addTask { [execution] in await Self.consume(trades) { execution.handle($0) } }
            group.addTask { [agents, bus] in await agents.run(bus: bus) }
            group.addTask { [mood] in await mood.run() }
            group.addTask { [risk] in await risk.run() }
            group.addTask { [notifications] in await notifications.run() }
            // Cancellation ends the consumers; the journal then finishes what is queued.
            await withTaskCancellationHandler {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            } onCancel: {
                trades.cancel()
                state.cancel()
                journal.finish()
            }
            group.cancelAll()
            journal.finish()
        }
    }

    private static func consume(_ sub: BusSubscription, _ body: (MarketEvent) -> Void) async {
        do {
            for try await m in sub { if let e = m.event { body(e) } }
        } catch {}
    }
}
