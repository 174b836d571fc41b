import Bus
import Foundation
import Logging
import MarketCore
import Services
import Storage
import Synchronization
import Testing
@testable import GatewayApp
import _TestSupport

/// The demo's user line tells the truth: a first run funds `demo` with 10,000 USDC; a later run on
/// the same data directory says the balance carried over, and how much it is.
@Suite("demo user", .serialized)
struct DemoUserTests {
    /// Runs the demo's user service on `store` and returns what it printed about the user.
    static func demoLine(_ store: SQLiteStore) async throws -> String {
        let authority = try await TokenAuthority(secret: String(repeating: "k", count: 48), adminToken: "admin-token-0123456789")
        let services = ServiceSuite(options: ServiceOptions(), bus: MarketBus(), store: store, authority: authority, logger: Logger(label: "demo-user"))
        try await services.load()
        let journal = Task { await services.journal.run() }
        let lines = Mutex<[String]>([])
        let user = Task { try await DemoUser(services: services, adminToken: "admin-token-0123456789", say: { l in lines.withLock { $0.append(l) } }).run() }
        _ = await waitUntil(seconds: 20) { lines.withLock { $0.contains { $0.contains("paper-trading user 'demo'") } } }
        user.cancel()
        _ = try? await user.value
        services.journal.finish()
        await journal.value
        return lines.withLock { $0.first { $0.contains("paper-trading user 'demo'") } } ?? "(nothing printed)"
    }

    @Test(.timeLimit(.minutes(1)))
    func aSecondRunSaysTheBalanceCarriedOver() async throws {
        let dir = try makeTempDirectory("demo-user")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteStore(path: "\(dir)/gateway.sqlite")
        _ = try await store.migrate()
        let first = try await Self.demoLine(store)
        #expect(first.contains("10,000 USDC to start"), "\(first)")
        // The first run's user traded: its balance is no longer 10,000.
        try await store.commit(LedgerWrite(balances: [StoredBalance(userID: "demo", asset: "USDC", amount: WideDecimal.parse("9876.54")!)], time: .now()))
        let second = try await Self.demoLine(store)
        #expect(!second.contains("10,000 USDC to start"), "\(second)")
        #expect(second.contains("carried over") && second.contains("9876.54 USDC"), "\(second)")
        await store.close()
    }
}
