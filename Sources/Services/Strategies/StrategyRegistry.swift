public import MarketCore
public import Storage
import Synchronization

/// The floors a strategy's backtest must meet before any agent may trade it.
public struct StrategyCheckPolicy: Sendable, Hashable {
    /// Days of stored candles the check replays.
    public var days = 7
    /// Closed round trips needed over all instruments and intervals (too few says nothing).
    public var minimumTrades = 3
    /// Largest drawdown allowed in any one instrument's run (0.25 = 25 %).
    public var maximumDrawdown = WideDecimal.parse("0.25")!
    public var backtest = BacktestOptions()

    public init() {}
}

/// A registered strategy: the validated definition, who uploaded it, what it derives from, and the
/// check that decided whether it may trade.
public struct RegisteredStrategy: Sendable, Hashable {
    /// `stg_` and the first 16 hex digits of the content hash.
    public var id: String
    public var definition: StrategyDefinition
    public var contentHash: String
    public var creator: String
    public var parent: String?
    /// 1 for an original, parent's + 1 for a derived strategy.
    public var generation: Int
    public var created: UnixNanos
    public var check: Check

    public struct Check: Sendable, Hashable {
        public var passed: Bool
        /// Why not, one reason per floor missed; empty when passed.
        public var reasons: [String]
        public var trades: Int
        public var maxDrawdown: WideDecimal
        public var totalReturn: WideDecimal
        public var candles: Int
    }
}

public struct StrategyRegistryError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        case invalid, duplicate, unknownParent = "unknown_parent", notFound = "not_found", rejected, unavailable
        /// The store refused or failed the write; nothing was registered.
        case notStored = "not_stored"
    }

    public var code: Code
    public var message: String
    public var description: String { "\(code.rawValue): \(message)" }

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
}

/// One instrument and interval of a backtest.
public struct StrategyRun: Sendable, Hashable {
    public var instrument: String
    public var interval: String
    public var candles: Int
    public var result: BacktestResult
}

extension StrategyRegistry {
    /// Backtests every instrument and interval of a definition over `[from, to)`.
    public static func backtest(
        _ definition: StrategyDefinition, history: History, from: UnixNanos, to: UnixNanos, options: BacktestOptions
    ) async throws(StrategyRegistryError) -> [StrategyRun] {
        let valid: StrategyDefinition
        do { valid = try definition.validated() } catch { throw StrategyRegistryError(code: .invalid, message: error.description) }
        var runs: [StrategyRun] = []
        for instrument in valid.instruments {
            for interval in valid.intervals {
                let bars: [BacktestBar]
                do { bars = try await history(instrument, interval, from, to) } catch {
                    throw StrategyRegistryError(code: .unavailable, message: "history of \(instrument) \(interval): \(error)")
                }
                var o = options
                o.barsPerYear = interval == "5m" ? 105_120 : 525_600
                do {
                    let result = try Backtester(options: o).run(valid.makeStrategy(), bars: bars)
                    runs.append(StrategyRun(instrument: instrument, interval: interval, candles: bars.count, result: result))
                } catch {
                    throw StrategyRegistryError(code: .invalid, message: "backtest: \(error)")
                }
            }
        }
        return runs
    }
}

/// Strategies by id with their lineage. Upload validates, hashes and checks a definition against
/// the stored candles; only a strategy whose check passed can be attached to an agent.
public actor StrategyRegistry {
    /// Closed candles of one instrument and interval in `[from, to)`, oldest first.
    public typealias History = @Sendable (_ instrument: String, _ interval: String, _ from: UnixNanos, _ to: UnixNanos) async throws -> [BacktestBar]

    public nonisolated let policy: StrategyCheckPolicy
    private let history: History
    private let store: (any StrategyStore)?
    private var byID: [String: RegisteredStrategy] = [:]
    /// Parent and creator by id, readable without awaiting the actor (the execution service asks
    /// for royalty recipients under its accounts' lock).
    private nonisolated let links = Mutex<[String: (parent: String?, creator: String)]>([:])

    /// With a `store`, every registration is written before it is answered, and ``load()`` reads
    /// them back at start-up.
    public init(policy: StrategyCheckPolicy = StrategyCheckPolicy(), history: @escaping History, store: (any StrategyStore)? = nil) {
        self.policy = policy
        self.history = history
        self.store = store
    }

    /// Reads the stored strategies (after a restart). Returns how many.
    @discardableResult
    public func load() async throws -> Int {
        guard let store else { return 0 }
        for row in try await store.strategies() {
            let entry = try RegisteredStrategy(stored: row)
            byID[entry.id] = entry
            links.withLock { $0[entry.id] = (entry.parent, entry.creator) }
        }
        return byID.count
    }

    public func upload(
        _ definition: StrategyDefinition, creator: String, parent: String? = nil, now: UnixNanos
    ) async throws(StrategyRegistryError) -> RegisteredStrategy {
        let valid: StrategyDefinition
        do { valid = try definition.validated() } catch { throw StrategyRegistryError(code: .invalid, message: error.description) }
        let hash = valid.contentHash
        let id = "stg_" + hash.prefix(16)
        if let existing = byID[id] {
            throw StrategyRegistryError(code: .duplicate, message: "the same strategy is registered as \(existing.id)")
        }
        var generation = 1
        if let parent {
            guard let p = byID[parent] else {
                throw StrategyRegistryError(code: .unknownParent, message: "no strategy \(parent) to derive from")
            }
            generation = p.generation + 1
        }
        let check = try await self.check(valid, now: now)
        // Another upload of the same content may have finished while this one was checking.
        if let existing = byID[id] {
            throw StrategyRegistryError(code: .duplicate, message: "the same strategy is registered as \(existing.id)")
        }
        let entry = RegisteredStrategy(
            id: id, definition: valid, contentHash: hash, creator: creator, parent: parent, generation: generation,
            created: now, check: check)
        if let store {
            do { try await store.insertStrategy(entry.stored) } catch {
                throw StrategyRegistryError(code: .notStored, message: "the strategy could not be stored: \(error)")
            }
        }
        byID[entry.id] = entry
        links.withLock { $0[entry.id] = (entry.parent, entry.creator) }
        return entry
    }

    public func strategy(_ id: String) -> RegisteredStrategy? { byID[id] }

    /// Every strategy, oldest first.
    public func all() -> [RegisteredStrategy] { byID.values.sorted { ($0.created, $0.id) < ($1.created, $1.id) } }

    /// The definition an agent may run, or why not.
    public func attachable(_ id: String) throws(StrategyRegistryError) -> StrategyDefinition {
        guard let s = byID[id] else { throw StrategyRegistryError(code: .notFound, message: "no strategy \(id)") }
        guard s.check.passed else {
            throw StrategyRegistryError(
                code: .rejected, message: "\(id) failed its check: \(s.check.reasons.joined(separator: "; "))")
        }
        return s.definition
    }

    /// Creators of the ancestors of `id`, nearest first (for ``RoyaltyPolicy``).
    public nonisolated func ancestorCreators(of id: String) -> [String] {
        links.withLock { l in
            var out: [String] = []
            var seen: Set<String> = [id]
            var next = l[id]?.parent
            while let p = next, let s = l[p], seen.insert(p).inserted {
                out.append(s.creator)
                next = s.parent
            }
            return out
        }
    }

    private func check(_ d: StrategyDefinition, now: UnixNanos) async throws(StrategyRegistryError) -> RegisteredStrategy.Check {
        let from = UnixNanos(now.rawValue &- Int64(policy.days) &* 86_400_000_000_000)
        let runs = try await Self.backtest(d, history: history, from: from, to: now, options: policy.backtest)
        let trades = runs.reduce(0) { $0 + $1.result.roundTripReturns.count }
        let candles = runs.reduce(0) { $0 + $1.candles }
        let worst = runs.map(\.result.maxDrawdown).max() ?? .zero
        var growth = WideDecimal(1)
        for run in runs {
            let factor = run.result.totalReturn.adding(WideDecimal(1)) ?? WideDecimal(1)
            growth = (growth.multiplied(by: factor) ?? growth).rounded(toFractionDigits: 8)
        }
        var reasons: [String] = []
        if trades < policy.minimumTrades {
            reasons.append("\(trades) round trips in \(policy.days) days of candles; at least \(policy.minimumTrades) needed")
        }
        if worst > policy.maximumDrawdown {
            reasons.append("drawdown \(worst) is above the limit \(policy.maximumDrawdown)")
        }
        return RegisteredStrategy.Check(
            passed: reasons.isEmpty, reasons: reasons, trades: trades, maxDrawdown: worst,
            totalReturn: (growth.subtracting(WideDecimal(1)) ?? .zero), candles: candles)
    }
}

extension RegisteredStrategy {
    var stored: StoredStrategy {
        StoredStrategy(
            id: id, contentHash: contentHash, creator: creator, parent: parent, generation: generation, created: created,
            name: definition.name, version: definition.version, kind: definition.kind.rawValue,
            parameters: definition.parameters.keys.sorted().map { "\($0)=\(definition.parameters[$0]!)" }.joined(separator: ","),
            instruments: definition.instruments.joined(separator: ","), intervals: definition.intervals.joined(separator: ","),
            passed: check.passed, reasons: check.reasons.joined(separator: "\n"), roundTrips: check.trades,
            maxDrawdown: check.maxDrawdown, totalReturn: check.totalReturn, candles: check.candles)
    }

    /// A stored row, validated again: a row that no longer validates (edited by hand) is an error,
    /// not a strategy that trades.
    init(stored s: StoredStrategy) throws {
        guard let kind = StrategyDefinition.Kind(rawValue: s.kind) else {
            throw StoreQueryError("stored strategy \(s.id) has an unknown kind \(s.kind)")
        }
        var parameters: [String: String] = [:]
        for pair in s.parameters.split(separator: ",") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw StoreQueryError("stored strategy \(s.id) has unreadable parameters") }
            parameters[kv[0]] = kv[1]
        }
        let definition = try StrategyDefinition(
            name: s.name, version: s.version, kind: kind, parameters: parameters,
            instruments: s.instruments.split(separator: ",").map(String.init), intervals: s.intervals.split(separator: ",").map(String.init)
        ).validated()
        guard definition.contentHash == s.contentHash, "stg_" + s.contentHash.prefix(16) == s.id else {
            throw StoreQueryError("stored strategy \(s.id) does not match its content hash")
        }
        self.init(
            id: s.id, definition: definition, contentHash: s.contentHash, creator: s.creator, parent: s.parent, generation: s.generation,
            created: s.created,
            check: Check(
                passed: s.passed, reasons: s.reasons.isEmpty ? [] : s.reasons.split(separator: "\n").map(String.init),
                trades: s.roundTrips, maxDrawdown: s.maxDrawdown, totalReturn: s.totalReturn, candles: s.candles))
    }
}
