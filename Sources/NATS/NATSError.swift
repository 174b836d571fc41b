/// An error from the NATS client: a code to switch on plus a human-readable message.
public struct NATSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, in broad classes a caller can act on.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Sendable {
            case invalidSubject, invalidHeader, invalidURL, protocolViolation, serverError
            case connectionClosed, bufferFull, timeout, noResponders, noServers, staleConnection
            case tlsRequired, invalidResponse, payloadTooLarge
        }
        let base: Base

        /// A subject, queue group or reply subject that NATS does not accept (empty, whitespace, empty token, wildcard in a publish).
        public static let invalidSubject = Code(base: .invalidSubject)
        /// A header name or value that cannot be written (CR/LF, colon or whitespace in a name).
        public static let invalidHeader = Code(base: .invalidHeader)
        /// A server URL that cannot be parsed.
        public static let invalidURL = Code(base: .invalidURL)
        /// The server sent bytes that are not the NATS protocol; the connection is closed and re-established.
        public static let protocolViolation = Code(base: .protocolViolation)
        /// The server answered `-ERR`.
        public static let serverError = Code(base: .serverError)
        /// The client was closed or drained, or closed itself after too many failed reconnects.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// The bounded publish buffer is full (disconnected too long, or the socket cannot keep up).
        public static let bufferFull = Code(base: .bufferFull)
        /// A request or flush got no answer in time.
        public static let timeout = Code(base: .timeout)
        /// A request went to a subject that nobody subscribes to (server status 503).
        public static let noResponders = Code(base: .noResponders)
        /// No server could be reached (initial connect, or reconnect attempts exhausted).
        public static let noServers = Code(base: .noServers)
        /// The server stopped answering PINGs.
        public static let staleConnection = Code(base: .staleConnection)
        /// The server requires TLS, which this client does not speak.
        public static let tlsRequired = Code(base: .tlsRequired)
        /// Headers plus payload exceed the server's `max_payload` (the server would close the connection).
        public static let payloadTooLarge = Code(base: .payloadTooLarge)
        /// A reply (for example a JetStream API answer) could not be decoded.
        public static let invalidResponse = Code(base: .invalidResponse)

        public var description: String { base.rawValue }
    }

    /// The class of error.
    public let code: Code
    /// What happened, with the offending value where there is one.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "NATS \(code): \(message)" }
}
