import Logging
import MarketCore
import PostgresNIO

/// Small, real checks against a PostgreSQL server: that it answers, which version it is, and
/// that prices and quantities survive a `NUMERIC` column exactly.
public enum PostgresProbe {
    /// How long a probe may take before it gives up (``withClient(_:timeout:logger:_:)``).
    public static let defaultTimeout: Duration = .seconds(30)

    /// Runs `body` with a running `PostgresClient`, then shuts the client down.
    ///
    /// The client's `run()` is a child task of a task group for exactly as long as `body` runs
    /// (structured concurrency, as the PostgresNIO README shows); cancelling it closes every
    /// pooled connection before this function returns.
    ///
    /// `body` is bounded by `timeout` because `PostgresClient` does not fail a query whose
    /// connection cannot log in (unknown database, wrong password): it retries the connection
    /// and the query waits (vapor/postgres-nio#489, #602; an unreachable server fails after its
    /// circuit breaker trips, about 15 s). On timeout, one direct `PostgresConnection` attempt
    /// finds the real cause (bounded by the connect timeout), and the error carries the server's
    /// message.
    ///
    /// - Parameters:
    ///   - configuration: Where to connect.
    ///   - timeout: Upper bound for `body`, connecting included.
    ///   - logger: Receives the client's background logs (connection setup, failures).
    ///   - body: Work to do with the client. It must not keep the client beyond its return.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws, or ``PostgresProbeError`` with code `timedOut`.
    public static func withClient<Result: Sendable>(
        _ configuration: PostgresConfiguration,
        timeout: Duration = defaultTimeout,
        logger: Logger,
        _ body: @escaping @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        let client = PostgresClient(configuration: configuration.clientConfiguration, backgroundLogger: logger)
        do {
            return try await withThrowingTaskGroup(of: Result?.self, returning: Result.self) { group in
                group.addTask {
                    await client.run()
                    return nil
                }
                group.addTask {
                    try await body(client)
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw PostgresProbeError(.timedOut, "no answer from \(configuration) within \(timeout)")
                }
                // Cancelling `run()` is how a PostgresClient is closed; the group then waits for it.
                defer { group.cancelAll() }
                while let next = try await group.next() {
                    if let result = next { return result }
                    // `run()` returned although nothing cancelled it: keep waiting for `body` or the timeout.
                }
                throw PostgresProbeError(.timedOut, "the client stopped before the probe finished")
            }
        } catch let error as PostgresProbeError where error.code == .timedOut {
            guard let cause = await connectionFailure(configuration, logger: logger) else { throw error }
            throw PostgresProbeError(
                .timedOut, "\(error.detail); a direct connection attempt says: \(describe(cause))", underlying: cause)
        }
    }

    /// The server's `SELECT version()` text, e.g. `PostgreSQL 15.18 (Debian …) on x86_64-pc-linux-gnu, …`.
    /// - Parameters:
    ///   - url: A `postgres://` URL (see ``PostgresConfiguration/init(url:)``).
    ///   - logger: For the client's and the query's logs.
    /// - Throws: ``PostgresURLError`` for a bad URL; ``PostgresProbeError`` when the server does
    ///   not answer in time (with the server's reason when it gave one); PostgresNIO's `PSQLError`
    ///   for a failing query (`String(reflecting:)` shows its details).
    public static func serverVersion(url: String, logger: Logger) async throws -> String {
        let configuration = try PostgresConfiguration(url: url)
        return try await withClient(configuration, logger: logger) { client in
            try await serverVersion(client: client, logger: logger)
        }
    }

    /// The server's `SELECT version()` text, using a client that is already running.
    public static func serverVersion(client: PostgresClient, logger: Logger) async throws -> String {
        let rows = try await client.query("SELECT version()", logger: logger)
        for try await version in rows.decode(String.self) {
            return version
        }
        throw PostgresProbeError(.unexpectedAnswer, "SELECT version() returned no row")
    }

    /// Stores each value in a `NUMERIC` column of a temporary table and reads it back as text.
    ///
    /// Each value is written as its exact decimal text (`FixedDecimal.description`, e.g.
    /// `61837.63000000`) cast with `::numeric` — no binary floating point on the way — and read
    /// back with `::text`. `NUMERIC` keeps the scale it was given, so an exact store returns the
    /// same text, trailing zeros included. The table is created `ON COMMIT DROP` inside one
    /// transaction, so nothing is left behind, even on failure.
    ///
    /// - Parameters:
    ///   - values: The decimals to store, in order.
    ///   - client: A running client.
    ///   - logger: For the queries' logs.
    /// - Returns: The text PostgreSQL gives back for each value, in the same order.
    public static func roundTripNumeric(
        _ values: [FixedDecimal], client: PostgresClient, logger: Logger
    ) async throws -> [String] {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                CREATE TEMPORARY TABLE storage_probe_numeric (
                    ordinal integer PRIMARY KEY,
                    value numeric NOT NULL
                ) ON COMMIT DROP
                """,
                logger: logger)
            for (ordinal, value) in values.enumerated() {
                let text = value.description
                try await connection.query(
                    "INSERT INTO storage_probe_numeric (ordinal, value) VALUES (\(ordinal), \(text)::numeric)",
                    logger: logger)
            }
            let rows = try await connection.query(
                "SELECT value::text FROM storage_probe_numeric ORDER BY ordinal", logger: logger)
            var texts: [String] = []
            texts.reserveCapacity(values.count)
            for try await text in rows.decode(String.self) {
                texts.append(text)
            }
            return texts
        }
    }

    /// ``roundTripNumeric(_:client:logger:)`` with a client of its own for `url`.
    public static func roundTripNumeric(_ values: [FixedDecimal], url: String, logger: Logger) async throws -> [String] {
        let configuration = try PostgresConfiguration(url: url)
        return try await withClient(configuration, logger: logger) { client in
            try await roundTripNumeric(values, client: client, logger: logger)
        }
    }

    // MARK: - Diagnosis

    /// Opens and closes one connection without the pool; returns why it failed, or `nil`.
    private static func connectionFailure(_ configuration: PostgresConfiguration, logger: Logger) async -> (any Error)? {
        do {
            let connection = try await PostgresConnection.connect(
                configuration: configuration.connectionConfiguration(), id: 0, logger: logger)
            try await connection.close()
            return nil
        } catch {
            return error
        }
    }

    /// The server's own message when there is one (`database "x" does not exist (SQLSTATE 3D000)`);
    /// otherwise the error's debug description (PSQLError's plain description hides everything).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError, let serverInfo = error.serverInfo, let message = serverInfo[.message] {
            let state = serverInfo[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return message + state
        }
        return String(reflecting: error)
    }
}
