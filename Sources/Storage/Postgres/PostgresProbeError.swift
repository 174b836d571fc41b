/// A probe that did not get the answer it needed: no answer in time, or an unexpected one.
public struct PostgresProbeError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case timedOut
            case unexpectedAnswer
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// The server did not answer within the probe's time limit (unreachable, or refusing the login).
        public static let timedOut = Code(.timedOut)
        /// The server answered, but not as expected (e.g. no row where one was due).
        public static let unexpectedAnswer = Code(.unexpectedAnswer)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// What happened, in words (the password is never included).
    public let detail: String
    /// The error found while diagnosing, e.g. PostgresNIO's `PSQLError` with the server's message.
    public let underlying: (any Error)?

    init(_ code: Code, _ detail: String, underlying: (any Error)? = nil) {
        self.code = code
        self.detail = detail
        self.underlying = underlying
    }

    public var description: String { "PostgreSQL probe failed (\(code)): \(detail)" }
}
