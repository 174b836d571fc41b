/// Why a PostgreSQL connection URL was rejected.
///
/// The message names the part of the URL that is wrong (`port "54x2" is not a number in
/// 1...65535`), and ``url`` is the URL with its password replaced by `***`, so the error can be
/// logged or printed as is.
public struct PostgresURLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of problem, for matching in code; ``PostgresURLError/detail`` has the specifics.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case missingScheme
            case unknownScheme
            case missingUsername
            case missingHost
            case invalidHost
            case invalidPort
            case invalidDatabase
            case invalidPercentEncoding
            case unsupportedParameter
            case invalidParameterValue
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The text has no `scheme://` prefix at all.
        public static let missingScheme = Code(.missingScheme)
        /// The scheme is not `postgres` or `postgresql`.
        public static let unknownScheme = Code(.unknownScheme)
        /// No user name before the host (`postgres://host/db`); PostgreSQL needs one to log in.
        public static let missingUsername = Code(.missingUsername)
        /// Nothing between `@` (or `//`) and the port or path.
        public static let missingHost = Code(.missingHost)
        /// A host this client cannot use: several hosts, a unix-socket path, a malformed IPv6 literal.
        public static let invalidHost = Code(.invalidHost)
        /// The port is empty, not a number, or outside 1...65535.
        public static let invalidPort = Code(.invalidPort)
        /// The path holds more than one database name segment.
        public static let invalidDatabase = Code(.invalidDatabase)
        /// A `%` not followed by two hex digits, or bytes that are not UTF-8 once decoded.
        public static let invalidPercentEncoding = Code(.invalidPercentEncoding)
        /// A query parameter this client does not understand (it is never silently ignored).
        public static let unsupportedParameter = Code(.unsupportedParameter)
        /// A known query parameter with a value it cannot take (`sslmode=maybe`).
        public static let invalidParameterValue = Code(.invalidParameterValue)

        public var description: String { base.rawValue }
    }

    /// The kind of problem.
    public let code: Code
    /// What exactly is wrong, in words, naming the offending part of the URL.
    public let detail: String
    /// The URL as given, with any password replaced by `***`.
    public let url: String

    /// Creates an error for `rawURL`; the password in it is redacted before it is stored.
    init(_ code: Code, _ detail: String, rawURL: String) {
        self.code = code
        self.detail = detail
        self.url = PostgresConfiguration.redacting(rawURL)
    }

    public var description: String {
        "invalid PostgreSQL URL \"\(url)\": \(detail) (expected postgres://user[:password]@host[:port]/database)"
    }
}
