public import NIOCore

/// A message as a subscriber receives it (`MSG`/`HMSG`).
public struct NATSMessage: Sendable, Equatable {
    /// The subject it was published to.
    public var subject: String
    /// Where the publisher wants a reply, if anywhere.
    public var replyTo: String?
    /// Headers, when the publisher sent some (or the server set a status).
    public var headers: NATSHeaders?
    /// The payload bytes, as published.
    public var payload: ByteBuffer

    /// Creates a message.
    public init(subject: String, replyTo: String? = nil, headers: NATSHeaders? = nil, payload: ByteBuffer) {
        self.subject = subject
        self.replyTo = replyTo
        self.headers = headers
        self.payload = payload
    }

    /// The server's status code (503 no responders, 100 heartbeat/flow control), if any.
    public var status: Int? { headers?.status }
}
