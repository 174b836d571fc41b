/// How a `NATSClient` connects and behaves.
public struct NATSOptions: Sendable {
    /// The client's name, shown by the server's monitoring.
    public var name: String?
    /// When and how often to reconnect.
    public var reconnect = NATSReconnectPolicy()
    /// Keep trying after the first connect fails on every server (otherwise `connect` throws after one round).
    public var retryOnFailedInitialConnect = false
    /// How long a TCP connect plus the INFO/CONNECT/PONG handshake may take.
    public var connectTimeout: Duration = .seconds(5)
    /// How often to PING an otherwise quiet server.
    public var pingInterval: Duration = .seconds(30)
    /// Unanswered PINGs after which the connection is considered dead and re-established.
    public var maxPingsOutstanding = 2
    /// Bytes of publishes and subscription changes held while disconnected or while the socket is
    /// backed up; a publish past this throws `.bufferFull` (nothing is dropped silently).
    public var maxBufferedBytes = 8 << 20
    /// Whether this connection receives its own publishes.
    public var echo = true
    /// Messages a subscription holds for a slow reader before it drops new ones (and counts them).
    public var subscriptionBufferSize = 65_536
    /// Add the cluster's other servers from INFO `connect_urls` to the pool.
    public var discoverServers = true
    /// Drop what is buffered but not yet written when the connection is lost, instead of sending
    /// it after the reconnect. For a publisher that resends its unacked messages itself, in order
    /// (the cluster's acked publisher): carried-over bytes would reach the new server ahead of
    /// older messages lost with the socket. Requests in that buffer then time out.
    public var discardBufferOnDisconnect = false

    /// The defaults.
    public init() {}
}
