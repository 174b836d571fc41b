import Logging
public import MarketCore
import Metrics
public import Storage
import Synchronization

/// Reconciliation as an ops signal (issue 22): loads the ledger from the store, reconciles it at
/// start-up and every `every`, and reports the result as metrics (`ledger_reconciliation_ok`,
/// `ledger_reconciliation_drift{asset}`, `ledger_reconciliation_runs_total`) and as a line for
/// `/api/v1/health` (``healthLine``).
///
/// The drift of an asset is |Σ balances| + |funding drift| + Σ |materialized − postings| (0 when
/// the asset reconciles), as a number for the gauge; the exact figures are in the health line.
public final class LedgerMonitor: Sendable {
    public let store: any LedgerStore
    public let every: Duration
    private let logger: Logger
    private let state = Mutex<(ledger: PersistentLedger?, line: String, ok: Bool?, assets: Set<String>)>((nil, "not checked yet", nil, []))

    /// The books the services post to, once loaded (nil before): when given, these are reconciled
    /// instead of a copy loaded from the store, so every posting since start-up is checked.
    private let live: (@Sendable () -> SharedLedger?)?

    public init(store: any LedgerStore, every: Duration = .seconds(60), logger: Logger, live: (@Sendable () -> SharedLedger?)? = nil) {
        self.live = live
        self.store = store
        self.every = every
        self.logger = logger
    }

    /// The loaded ledger (nil until the first successful load).
    public var ledger: PersistentLedger? { state.withLock { $0.ledger } }
    /// `ok: …`, `DRIFT: …`, or why it could not check; `ok` nil while unknown.
    public var healthLine: String { state.withLock { $0.line } }
    public var isOK: Bool? { state.withLock { $0.ok } }

    /// One check: loads the books if not loaded yet (a store that is away is retried next time),
    /// reconciles, and publishes the result.
    @discardableResult
    public func check() async -> LedgerReconciliation? {
        if let live {
            guard let books = live() else {
                state.withLock {
                    $0.line = "not loaded yet"
                    $0.ok = nil
                }
                Counter(label: "ledger_reconciliation_runs_total", dimensions: [("result", "unavailable")]).increment()
                return nil
            }
            let r = books.reconcile()
            publish(r)
            return r
        }
        var ledger = self.ledger
        if ledger == nil {
            do {
                let loaded = try await PersistentLedger.load(from: store)
                state.withLock { $0.ledger = loaded }
                ledger = loaded
            } catch {
                state.withLock {
                    $0.line = "not loaded: \(error)"
                    $0.ok = nil
                }
                Counter(label: "ledger_reconciliation_runs_total", dimensions: [("result", "unavailable")]).increment()
                logger.warning("ledger could not be loaded for reconciliation", metadata: ["error": "\(error)"])
                return nil
            }
        }
        guard let ledger else { return nil }
        let r = ledger.reconcile()
        publish(r)
        return r
    }

    /// Checks now, then every ``every`` until cancelled; while the ledger cannot be loaded (the
    /// schema not migrated yet, the database away) it retries every 2 s at most.
    public func run() async {
        while !Task.isCancelled {
            let done = await check() != nil
            do { try await Task.sleep(for: done ? every : min(every, .seconds(2))) } catch { return }
        }
    }

    func publish(_ r: LedgerReconciliation) {
        let previous = state.withLock { s in
            let old = s.assets
            s.line = r.description
            s.ok = r.ok
            s.assets = Set(r.assets.map(\.asset))
            return old
        }
        Gauge(label: "ledger_reconciliation_ok").record(r.ok ? 1 : 0)
        Counter(label: "ledger_reconciliation_runs_total", dimensions: [("result", r.ok ? "ok" : "drift")]).increment()
        for a in r.assets {
            Gauge(label: "ledger_reconciliation_drift", dimensions: [("asset", a.asset)]).record(Self.drift(a))
        }
        for gone in previous.subtracting(r.assets.map(\.asset)) {
            Gauge(label: "ledger_reconciliation_drift", dimensions: [("asset", gone)]).record(0)
        }
        if r.ok {
            logger.debug("ledger reconciles", metadata: ["result": "\(r)"])
        } else {
            logger.error("LEDGER DRIFT", metadata: ["result": "\(r)"])
        }
    }

    /// The asset's total disagreement as a `Double` for the gauge only (never used for money).
    static func drift(_ a: LedgerReconciliation.Asset) -> Double {
        var sum = LedgerSum()
        func addAbs(_ s: LedgerSum) { sum.add(s < .zero ? s.negated : s) }
        addAbs(a.total)
        addAbs(a.fundingDrift)
        for m in a.mismatched { addAbs(m.difference) }
        return Double(sum.description) ?? .infinity
    }
}
