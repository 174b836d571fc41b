/// Limits and timers of the fan-out server (`server:` in the gateway configuration; docs/protocol.md
/// "Limits" lists each with its error or close code and its metric).
public struct FanOutOptions: Sendable {
    /// Websocket connections accepted at once; more are refused with HTTP 503.
    public var maxConnections = 20_000
    /// TCP connections (HTTP and websocket) from one IP address at once; more are closed at once
    /// (plain HTTP: after a 429 response).
    public var maxConnectionsPerAddress = 256
    /// Websocket upgrades accepted per second, all clients together (a token bucket with one
    /// second of burst); more get HTTP 429 with `Retry-After: 1`.
    public var handshakesPerSecond = 200.0
    /// How long a new connection may take to send its first request head (and, with TLS, to
    /// finish the TLS handshake). A slower one is closed: the slowloris cut.
    public var handshakeTimeout: Duration = .seconds(10)
    /// An HTTP keep-alive connection with no request for this long is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// Largest HTTP request head (request line and headers); larger gets 431.
    public var maxHeaderBytes = 16 * 1024
    /// Largest HTTP request body; larger gets 413.
    public var maxBodyBytes = 1 << 20
    /// Channel patterns one connection may hold.
    public var maxSubscriptions = 200
    /// Concrete channels one subscribe may match (the entries of its ack); a subscribe matching
    /// more is refused with `too_many_channels` and changes nothing.
    public var maxChannelsPerSubscribe = 1000
    /// Largest client message answered normally; a larger one gets `frame_too_large` and the
    /// connection stays open.
    public var maxMessageBytes = 16 * 1024
    /// Largest frame read at all: a larger one is a protocol error (close 1009).
    public var maxFrameBytes = 1 << 20
    /// Client messages per second (token bucket) and the burst allowed above that rate.
    public var messagesPerSecond = 20.0
    public var messageBurst = 40.0
    /// `auth` messages per connection per minute; one more closes the connection with 4029.
    public var authAttemptsPerMinute = 10
    /// Frames waiting for a client that does not keep up on channels that are never conflated
    /// (trades, statuses, private channels). Past this the client is closed with 4008.
    public var maxQueuedFrames = 20_000
    /// Bytes waiting for one client in its own queue (data, acks, snapshots, errors); past this
    /// the client is closed with 4008. Bounds the memory a client that does not read can cost.
    public var maxOutstandingBytes = 8 << 20
    /// Bytes the socket layer may hold for a client before frames wait in its own queue, where
    /// book and candle channels are conflated.
    public var writeBufferHighWater = 256 * 1024
    /// The kernel send buffer per client socket (SO_SNDBUF), nil = the OS default (autotuned up to
    /// `tcp_wmem`'s maximum, 4 MiB on Linux). Smaller bounds the kernel memory a stalled client
    /// holds and makes it fall behind, and be conflated, sooner.
    public var socketSendBuffer: Int? = nil
    /// Websocket ping interval; a client silent for three intervals is closed.
    public var pingInterval: Duration = .seconds(20)
    /// How long a closing client may take to read its close frame.
    public var closeTimeout: Duration = .seconds(5)
    /// How long before its token's `exp` an authenticated socket is told (a `session` message).
    public var sessionWarning: Duration = .seconds(60)

    public init() {}
}

/// Close codes the server uses (RFC 6455 plus the application range; docs/protocol.md).
public enum CloseCode {
    public static let normal: UInt16 = 1000
    public static let goingAway: UInt16 = 1001
    /// A frame that breaks RFC 6455: a reserved opcode, RSV bits without an extension, an
    /// unmasked client frame.
    public static let protocolError: UInt16 = 1002
    /// The client fell behind past `maxQueuedFrames` or `maxOutstandingBytes` (CONTRACTS.md).
    public static let tooSlow: UInt16 = 4008
    /// More `auth` messages than `authAttemptsPerMinute`.
    public static let tooManyAuthAttempts: UInt16 = 4029
}
