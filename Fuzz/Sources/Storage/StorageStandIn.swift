// A stand-in for the two Storage types the configuration loader uses, so the fuzz build does not
// compile PostgresNIO. The sqlite: rule is the real one; any postgres:// URL is accepted here
// (the real parser is PostgresConfiguration(url:), not fuzzed by this target).

public enum StoreLocation: Sendable, Hashable {
    case postgres(String)
    case sqlite(path: String)

    public init(parsing text: String) throws(StoreLocationError) {
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw StoreLocationError("sqlite: needs a file path (sqlite:PATH)") }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(text)
        } else {
            throw StoreLocationError("unknown store URL")
        }
    }
}

public struct StoreLocationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public struct TimescalePolicies: Sendable, Hashable {
    public var enabled = true
    public var retention: [String: String] = [:]
    public var compressAfter = "3 days"
    public var aggregateRefreshWindow = "7 days"
    public init() {}
}
