public import Logging

extension StoreLocation {
    /// Opens the store (not yet migrated): a pooled ``PostgresStore`` or a ``SQLiteStore`` file.
    /// `timescale` applies to PostgreSQL with TimescaleDB only.
    public func open(logger: Logger, timescale: TimescalePolicies = .init()) async throws -> any MarketStore {
        switch self {
        case .postgres(let configuration):
            var configuration = configuration
            if configuration.applicationName == nil { configuration.applicationName = "marketgateway" }
            return PostgresStore(configuration: configuration, policies: timescale, logger: logger)
        case .sqlite(let path):
            return try await SQLiteStore(path: path, logger: logger)
        }
    }
}
