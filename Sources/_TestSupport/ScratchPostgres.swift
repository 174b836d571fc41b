import Foundation
public import Logging
public import Storage
import PostgresNIO

/// A fresh, empty database on the test server (`bash scripts/test.sh` sets
/// `MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL`), dropped afterwards.
public enum ScratchPostgres {
    public static let skipReason = "MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL is not set; run `bash scripts/test.sh`"

    public static var isConfigured: Bool { adminURL != nil }

    static var adminURL: String? {
        guard let v = ProcessInfo.processInfo.environment["MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL"], !v.isEmpty else { return nil }
        return v
    }

    /// Runs `body` with the configuration of a new database; drops it afterwards, even on failure.
    public static func with<R: Sendable>(_ body: (PostgresConfiguration) async throws -> R) async throws -> R {
        guard let url = adminURL else { throw ClusterError(skipReason) }
        let admin = try PostgresConfiguration(url: url)
        let name = "scratch_\(UInt32.random(in: 0...UInt32.max))"
        let logger = Logger(label: "scratch")
        _ = try await PostgresProbe.withClient(admin, logger: logger) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        }
        var config = admin
        config.database = name
        do {
            let result = try await body(config)
            try await drop(name, admin: admin)
            return result
        } catch {
            try? await drop(name, admin: admin)
            throw error
        }
    }

    /// ``with(_:)`` giving the new database's URL (for a gateway process's configuration).
    public static func withURL<R: Sendable>(_ body: (String) async throws -> R) async throws -> R {
        guard let admin = adminURL, var url = URLComponents(string: admin) else { throw ClusterError(skipReason) }
        return try await with { config in
            url.path = "/" + (config.database ?? "")
            return try await body(url.string ?? admin)
        }
    }

    private static func drop(_ name: String, admin: PostgresConfiguration) async throws {
        let logger = Logger(label: "scratch")
        _ = try await PostgresProbe.withClient(admin, logger: logger) { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger)
        }
    }
}
