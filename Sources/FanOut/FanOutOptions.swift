/// Limits and timers of the fan-out server (`server.fanout` in the gateway configuration).
public struct FanOutOptions: Sendable {
    /// Websocket connections accepted at once; more are refused with HTTP 503.
    public var maxConnections = 20_000
    /// Channel patterns one connection may hold.
    public var maxSubscriptions = 200
    /// Largest client message answered normally; a larger one gets `frame_too_large` and the
    /// connection stays open.
    public var maxMessageBytes = 16 * 1024
    /// Largest frame read at all: a larger one is a protocol error (close 1009).
    public var maxFrameBytes = 1 << 20
    /// Client messages per second (token bucket) and the burst allowed above that rate.
    public var messagesPerSecond = 20.0
    public var messageBurst = 40.0
    /// Frames waiting for a client that does not keep up on channels that are never conflated
    /// (trades, statuses, private channels). Past this the client is closed with 4008.
    public var maxQueuedFrames = 20_000
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

    public init() {}
}

/// Close codes the server uses (RFC 6455 plus the application range).
public enum CloseCode {
    /// The client fell behind past `maxQueuedFrames` (CONTRACTS.md).
    public static let tooSlow: UInt16 = 4008
    public static let goingAway: UInt16 = 1001
    public static let normal: UInt16 = 1000
}
