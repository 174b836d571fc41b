public import Logging

extension StoreLocation {
    /// Opens the store (not yet migrated): a pooled ``PostgresStore`` or a ``SQLiteStore`` file.
    public func open(logger: Logger) async throws -> any MarketStore {
        switch self {
        case .postgres(let configuration):
            var configuration = configuration
            if configuration.applicationName == nil { configuration.applicationName = "marketgateway" }
            return PostgresStore(configuration: configuration, logger: logger)
        case .sqlite(let path):
            return try await SQLiteStore(path: path, logger: logger)
        }
    }
}
