import Bus
import FanOut
import Feeds
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import MarketCore
import Services
import Testing
import _TestSupport

@testable import GatewayApp
@testable import Storage

/// The ledger's reconciliation as an ops signal: a corrupted stored row shows on `/metrics`
/// (`ledger_reconciliation_ok 0`, the drift per asset) and as a problem in `/api/v1/health`.
@Suite("Ledger health", .serialized)
struct LedgerHealthTests {
    static func router(_ store: SQLiteStore, _ monitor: LedgerMonitor, logger: Logger) -> Router<BasicRequestContext> {
        let bus = MarketBus()
        let hub = FanOutHub(bus: bus, venues: ["binance"], intervals: ["1m"], logger: logger)
        let router = Router()
        addOpsRoutes(to: router, health: HealthSources(bus: bus, hub: hub, writer: nil, feed: nil, ledger: monitor))
        return router
    }

    static func get(_ client: any TestClientProtocol, _ uri: String) async throws -> String {
        try await client.execute(uri: uri, method: .get) { String(buffer: $0.body) }
    }

    @Test(.timeLimit(.minutes(1)))
    func aCorruptedStoredRowMakesTheMetricAndTheHealthLineSayDrift() async throws {
        GatewayMetrics.bootstrap()
        var logger = Logger(label: "ledger-health-test")
        logger.logLevel = .critical
        let dir = try makeTempDirectory("ledger-health")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteStore(path: dir + "/g.sqlite", logger: logger)
        _ = try await store.migrate()
        let usdc = WideDecimal.parse("10000")!
        let ledger = try await PersistentLedger.load(from: store)
        try await ledger.append(
            LedgerTransaction(
                id: "dep-1", time: UnixNanos(1_723_161_600_000_000_000), kind: .deposit,
                postings: [LedgerPosting(.house(.housePool, "USDC"), usdc.negated), LedgerPosting(.user("demo", .available, "USDC"), usdc)]))

        // Balanced books first.
        let healthy = LedgerMonitor(store: store, every: .seconds(60), logger: logger)
        #expect(healthy.healthLine == "not checked yet" && healthy.isOK == nil)
        #expect(await healthy.check()?.ok == true)
        let app = Application(router: Self.router(store, healthy, logger: logger))
        try await app.test(.router) { client in
            let metrics = try await Self.get(client, "/metrics")
            #expect(metrics.contains("\nledger_reconciliation_ok 1"), "\(metrics)")
            #expect(metrics.contains(#"ledger_reconciliation_drift{asset="USDC"} 0"#))
            let health = try JSONSerialization.jsonObject(with: Data(try await Self.get(client, "/api/v1/health").utf8)) as! [String: Any]
            #expect(health["status"] as? String == "ok")
            #expect((health["ledger"] as? [String: Any])?["reconciliation"] as? String == "ok: 1 assets, 2 accounts, 1 transactions balance")
        }

        // A posting of 7 USDC slipped into the stored deposit: a fresh start reports it.
        _ = try await store.execute(
            "INSERT INTO ledger_postings (transaction_id, leg, user_id, account_kind, asset, amount) VALUES ('dep-1', 2, 'demo', 'available', 'USDC', '7')")
        let monitor = LedgerMonitor(store: store, every: .seconds(60), logger: logger)
        #expect(await monitor.check()?.ok == false)
        try await Application(router: Self.router(store, monitor, logger: logger)).test(.router) { client in
            let metrics = try await Self.get(client, "/metrics")
            #expect(metrics.contains("\nledger_reconciliation_ok 0"), "\(metrics)")
            // |Σ balances| 7 + |funding drift| 7.
            #expect(metrics.contains(#"ledger_reconciliation_drift{asset="USDC"} 14"#), "\(metrics)")
            #expect(metrics.contains(#"ledger_reconciliation_runs_total{result="drift"} 1"#), "\(metrics)")
            let health = try JSONSerialization.jsonObject(with: Data(try await Self.get(client, "/api/v1/health").utf8)) as! [String: Any]
            #expect(health["status"] as? String == "degraded")
            let problems = health["problems"] as? [String] ?? []
            #expect(problems.contains { $0.hasPrefix("ledger DRIFT: USDC balances sum to 7, not 0; funding drift 7") }, "\(problems)")
            #expect((health["ledger"] as? [String: Any])?["ok"] as? Bool == false)
        }
        await store.close()
    }
}
