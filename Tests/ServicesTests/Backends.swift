import Foundation
import Logging
import Storage
import Synchronization
import Testing
import _TestSupport

/// The account stores the services are tested on: SQLite always, PostgreSQL with the test server
/// (`bash scripts/test.sh` starts one).
enum Backend: String, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    static var available: [Backend] { TestServer.timescale.adminURL != nil ? [.sqlite, .postgres] : [.sqlite] }

    typealias Store = any MarketStore & AccountStore

    /// Runs `body` with a function that opens (and migrates) a new connection to one fresh database,
    /// so a test can "restart" on the same data; every store opened is closed afterwards.
    func withDatabase(_ body: @Sendable (@escaping @Sendable () async throws -> Store) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            let dir = try makeTempDirectory("services-store")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try await body {
                let s = try await SQLiteStore(path: "\(dir)/accounts.sqlite", logger: quiet)
                _ = try await s.migrate()
                return s
            }
        case .postgres:
            try await ScratchDatabase.with { config in
                try await body {
                    let s = PostgresStore(configuration: config, logger: quiet)
                    _ = try await s.migrate()
                    return s
                }
            }
        }
    }
}

/// Whether `task` finishes within `seconds`; a task that never does is left behind, not awaited
/// (so a journal that hangs fails the test instead of hanging it).
func finishes(_ task: Task<Void, Never>, within seconds: Double) async -> Bool {
    let done = Mutex(false)
    Task {
        await task.value
        done.withLock { $0 = true }
    }
    return await waitUntil(seconds: seconds) { done.withLock { $0 } }
}

let quiet: Logger = {
    var l = Logger(label: "services-tests")
    l.logLevel = .critical
    return l
}()
