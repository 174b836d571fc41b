public import Foundation
public import Logging
import PostgresNIO
public import Storage
import Testing

/// The PostgreSQL servers `bash scripts/test.sh` (scripts/with-postgres.sh) starts for the tests:
/// one that preloads TimescaleDB when it is installed, and one without it (plain PostgreSQL, the
/// extension installed but not preloaded).
public enum TestServer: String, Sendable, CaseIterable, CustomStringConvertible {
    case timescale
    case plain

    /// The superuser URL (database `postgres`) tests create their own databases through.
    public var adminURL: String? {
        let name = self == .timescale ? "MARKETGATEWAY_TEST_POSTGRES_ADMIN_URL" : "MARKETGATEWAY_TEST_PLAIN_POSTGRES_ADMIN_URL"
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    public var description: String { self == .timescale ? "TimescaleDB server" : "plain PostgreSQL server" }

    /// Whether this run is CI's (`CI=true`): there a TimescaleDB test must fail, not skip, when the
    /// extension is missing.
    public static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    public static let skipReason = "the test PostgreSQL servers are not configured; run `bash scripts/test.sh`"

    /// The server's admin configuration, or a skip (elsewhere) / failure (in CI) of the test.
    public func requireAdmin() throws -> PostgresConfiguration {
        guard let url = adminURL else {
            if Self.inCI { throw TestServerError("\(self): \(Self.skipReason)") }
            try Test.cancel(Comment(rawValue: Self.skipReason))
        }
        return try PostgresConfiguration(url: url)
    }

    /// The TimescaleDB server's admin configuration after checking that the extension is installed
    /// and preloaded there. Elsewhere a missing extension skips the test with the reason; in CI it
    /// fails it (a TimescaleDB test that does not run proves nothing).
    public static func requireTimescaleDB() async throws -> PostgresConfiguration {
        let admin = try TestServer.timescale.requireAdmin()
        let logger = Logger(label: "TestServer")
        let (available, preloaded) = try await PostgresProbe.withClient(admin, logger: logger) { client in
            var available = false
            var preloaded = false
            for try await (n, libraries) in try await client.query(
                """
                SELECT (SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'),
                       current_setting('shared_preload_libraries')
                """, logger: logger
            ).decode((Int64, String).self) {
                available = n > 0
                preloaded = libraries.contains("timescaledb")
            }
            return (available, preloaded)
        }
        guard available && preloaded else {
            let reason =
                "TimescaleDB is \(available ? "installed but not preloaded" : "not installed") on the test server "
                + "(scripts/test.sh installs it with scripts/ensure-timescaledb.sh)"
            if inCI { throw TestServerError("in CI the TimescaleDB tests must run: \(reason)") }
            FileHandle.standardError.write(Data("skipping a TimescaleDB test: \(reason)\n".utf8))
            try Test.cancel(Comment(rawValue: reason))
        }
        return admin
    }
}

public struct TestServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A fresh, empty database on a test server for the body, dropped afterwards.
public enum ScratchDatabase {
    public static func with<R: Sendable>(
        admin: PostgresConfiguration, _ body: @Sendable (PostgresConfiguration) async throws -> R
    ) async throws -> R {
        let name = "scratch_\(UInt32.random(in: 0...UInt32.max))"
        try await run("CREATE DATABASE \(name)", admin: admin)
        var config = admin
        config.database = name
        do {
            let result = try await body(config)
            try await run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", admin: admin)
            return result
        } catch {
            try? await run("DROP DATABASE IF EXISTS \(name) WITH (FORCE)", admin: admin)
            throw error
        }
    }

    /// The default server (TimescaleDB when installed, else plain), as the older tests use it.
    public static func with<R: Sendable>(_ body: @Sendable (PostgresConfiguration) async throws -> R) async throws -> R {
        try await with(admin: TestServer.timescale.requireAdmin(), body)
    }

    static func run(_ sql: String, admin: PostgresConfiguration) async throws {
        let logger = Logger(label: "scratch")
        _ = try await PostgresProbe.withClient(admin, logger: logger) { client in
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }
}

/// Runs SQL on a database and returns each row's columns as text (`NULL` as nil): for checks
/// that read what the store wrote, independently of the store's own reads.
public func sqlRows(_ sql: String, on config: PostgresConfiguration) async throws -> [[String?]] {
    let logger = Logger(label: "sql")
    return try await PostgresProbe.withClient(config, logger: logger) { client in
        var out: [[String?]] = []
        for try await row in try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger) {
            var cells: [String?] = []
            for cell in row {
                cells.append(try cell.decode(String?.self))
            }
            out.append(cells)
        }
        return out
    }
}

/// One value (first column of the first row) as text.
public func sqlValue(_ sql: String, on config: PostgresConfiguration) async throws -> String? {
    try await sqlRows(sql, on: config).first?.first ?? nil
}
