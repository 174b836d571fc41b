import Foundation
import Logging
import MarketCore
import Storage
import Testing

/// The PostgreSQL server the tests use: `bash scripts/test.sh` starts a throwaway one and sets
/// `MARKETGATEWAY_TEST_POSTGRES_URL`. Without it these tests are reported as skipped (never as
/// passed), with the reason printed.
enum TestPostgres {
    static let environmentVariable = "MARKETGATEWAY_TEST_POSTGRES_URL"
    static let skipReason =
        "\(environmentVariable) is not set; run `bash scripts/test.sh` to start a throwaway PostgreSQL for these tests"

    static var url: String? {
        guard let value = ProcessInfo.processInfo.environment[environmentVariable], !value.isEmpty else { return nil }
        return value
    }

    /// Evaluated once, when the first test that needs it is about to run; prints why they are skipped.
    static let isConfigured: Bool = {
        guard url != nil else {
            FileHandle.standardError.write(Data("StorageTests: skipping PostgreSQL tests: \(skipReason)\n".utf8))
            return false
        }
        return true
    }()

    static func requireURL() throws -> String {
        try #require(url, "\(skipReason)")
    }
}

@Suite(
    "PostgreSQL connection",
    .enabled(if: TestPostgres.isConfigured, Comment(rawValue: TestPostgres.skipReason))
)
struct PostgresConnectionTests {
    let logger: Logger = {
        var logger = Logger(label: "StorageTests")
        logger.logLevel = .warning
        return logger
    }()

    @Test(.timeLimit(.minutes(1)))
    func serverVersionIsPostgreSQL() async throws {
        let version = try await PostgresProbe.serverVersion(url: TestPostgres.requireURL(), logger: logger)
        #expect(version.hasPrefix("PostgreSQL"), "version() returned \(version)")
    }

    /// Real exchange prices and quantities, including the extremes DESIGN.md names.
    static let decimalTexts = [
        "61837.63000000",  // Binance BTCUSDT price, eight digits as sent
        "0.0000000123",  // a sub-satoshi meme-coin price (10⁻¹⁰ tick)
        "123456789012.00000000",  // a meme-coin quantity above 10¹¹
        "-0.5",
        "0.00001000",
        "0",
        "9223372036854775807",  // Int64.max mantissa
        "-0.000000000000000001",  // the smallest step at scale 18
    ]

    @Test(.timeLimit(.minutes(1)))
    func numericRoundTripIsExact() async throws {
        let url = try TestPostgres.requireURL()
        let values = try Self.decimalTexts.map { text in try #require(FixedDecimal(text), "\(text) must parse") }
        #expect(values.map(\.description) == Self.decimalTexts)

        let returned = try await PostgresProbe.roundTripNumeric(values, url: url, logger: logger)

        // Exact text, trailing zeros included: NUMERIC keeps the scale it was given.
        #expect(returned == Self.decimalTexts)
        for (sent, text) in zip(values, returned) {
            let back = try #require(FixedDecimal(text), "PostgreSQL returned \(text), not an exact decimal")
            #expect(back == sent)
            #expect(back.displayScale == sent.displayScale)
        }
    }

    /// One client, several probes: the pooled connection is reused and the temporary table
    /// (`ON COMMIT DROP`) does not collide with the previous one.
    @Test(.timeLimit(.minutes(1)))
    func oneClientServesSeveralProbes() async throws {
        let configuration = try PostgresConfiguration(url: TestPostgres.requireURL())
        #expect(configuration.tlsMode == .disable)
        let logger = self.logger
        let (version, first, second) = try await PostgresProbe.withClient(configuration, logger: logger) { client in
            let version = try await PostgresProbe.serverVersion(client: client, logger: logger)
            let first = try await PostgresProbe.roundTripNumeric(
                [FixedDecimal(42), try #require(FixedDecimal("0.10"))], client: client, logger: logger)
            let second = try await PostgresProbe.roundTripNumeric(
                [try #require(FixedDecimal("1.500"))], client: client, logger: logger)
            return (version, first, second)
        }
        #expect(version.hasPrefix("PostgreSQL"))
        #expect(first == ["42", "0.10"])
        #expect(second == ["1.500"])
    }

    /// PostgresClient alone would wait forever here (vapor/postgres-nio#602); the probe's timeout
    /// turns it into an error that carries the server's reason.
    @Test(.timeLimit(.minutes(1)))
    func unknownDatabaseIsReportedWithTheServersReason() async throws {
        var configuration = try PostgresConfiguration(url: TestPostgres.requireURL())
        configuration.database = "marketgateway_no_such_database"
        let logger = self.logger
        let error = try await #require(throws: PostgresProbeError.self) {
            try await PostgresProbe.withClient(configuration, timeout: .seconds(2), logger: logger) { client in
                try await PostgresProbe.serverVersion(client: client, logger: logger)
            }
        }
        #expect(error.code == .timedOut)
        #expect(
            error.detail.contains("database \"marketgateway_no_such_database\" does not exist"), "\(error)")
        #expect(error.detail.contains("SQLSTATE 3D000"), "\(error)")
    }
}

/// Needs no server: nothing listens on 127.0.0.1 port 1.
@Suite("PostgreSQL probe without a server")
struct PostgresProbeUnreachableTests {
    @Test(.timeLimit(.minutes(1)))
    func unreachableServerFailsWithinTheTimeout() async throws {
        let configuration = try PostgresConfiguration(url: "postgres://postgres@127.0.0.1:1/gateway_test")
        let logger = Logger(label: "StorageTests", factory: { _ in SwiftLogNoOpLogHandler() })
        let started = ContinuousClock.now
        let error = try await #require(throws: PostgresProbeError.self) {
            try await PostgresProbe.withClient(configuration, timeout: .seconds(2), logger: logger) { client in
                try await PostgresProbe.serverVersion(client: client, logger: logger)
            }
        }
        #expect(error.code == .timedOut)
        #expect(error.detail.contains("postgres://postgres@127.0.0.1:1/gateway_test"), "\(error)")
        #expect(error.underlying != nil)
        #expect(ContinuousClock.now - started < .seconds(20))
    }
}
