/// Where the store lives: the `--store` value or `DATABASE_URL` (CONTRACTS.md "Store").
///
/// `postgres://…` / `postgresql://…` is a PostgreSQL server (TimescaleDB when the extension is
/// available); `sqlite:PATH` is an embedded SQLite file (created when missing).
public enum StoreLocation: Sendable, Hashable, CustomStringConvertible {
    case postgres(PostgresConfiguration)
    case sqlite(path: String)

    /// Parses a store URL.
    public init(parsing text: String) throws(StoreLocationError) {
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            // Accept sqlite:///abs/path and sqlite://rel as well as sqlite:PATH.
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw StoreLocationError("sqlite: needs a file path (sqlite:PATH)") }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            do {
                self = .postgres(try PostgresConfiguration(url: text))
            } catch {
                throw StoreLocationError("\(error)")
            }
        } else {
            throw StoreLocationError(
                "unsupported store '\(text.prefix(40))': expected postgres://…, postgresql://… or sqlite:PATH")
        }
    }

    /// The URL with any password hidden.
    public var description: String {
        switch self {
        case .postgres(let c): c.description
        case .sqlite(let path): "sqlite:\(path)"
        }
    }
}

/// A `--store` / `DATABASE_URL` value that cannot be used.
public struct StoreLocationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
