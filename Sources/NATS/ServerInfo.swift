/// The server's `INFO` (https://docs.nats.io/reference/reference-protocols/nats-protocol#info):
/// the fields this client uses. Unknown fields are ignored.
public struct ServerInfo: Sendable, Equatable, Decodable {
    public var serverID: String
    public var serverName: String?
    public var version: String
    public var host: String?
    public var port: Int?
    /// Whether the server accepts HPUB and sends HMSG.
    public var headers: Bool
    /// The largest payload the server accepts.
    public var maxPayload: Int
    public var clientID: UInt64?
    public var authRequired: Bool
    public var tlsRequired: Bool
    /// Client URLs (`host:port`) of the other servers in the cluster; the client adds them to its pool.
    public var connectURLs: [String]
    /// Lame-duck mode: the server is about to shut down.
    public var lameDuckMode: Bool
    public var jetStream: Bool
    public var cluster: String?

    enum CodingKeys: String, CodingKey {
        case serverID = "server_id", serverName = "server_name", version, host, port, headers
        case maxPayload = "max_payload", clientID = "client_id", authRequired = "auth_required"
        case tlsRequired = "tls_required", connectURLs = "connect_urls", lameDuckMode = "ldm"
        case jetStream = "jetstream", cluster
    }

    /// Creates an INFO value (tests and tools).
    public init(
        serverID: String, serverName: String? = nil, version: String = "", host: String? = nil, port: Int? = nil, headers: Bool = true,
        maxPayload: Int = 1 << 20, clientID: UInt64? = nil, authRequired: Bool = false, tlsRequired: Bool = false, connectURLs: [String] = [],
        lameDuckMode: Bool = false, jetStream: Bool = false, cluster: String? = nil
    ) {
        self.serverID = serverID
        self.serverName = serverName
        self.version = version
        self.host = host
        self.port = port
        self.headers = headers
        self.maxPayload = maxPayload
        self.clientID = clientID
        self.authRequired = authRequired
        self.tlsRequired = tlsRequired
        self.connectURLs = connectURLs
        self.lameDuckMode = lameDuckMode
        self.jetStream = jetStream
        self.cluster = cluster
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        serverID = try c.decodeIfPresent(String.self, forKey: .serverID) ?? ""
        serverName = try c.decodeIfPresent(String.self, forKey: .serverName)
        version = try c.decodeIfPresent(String.self, forKey: .version) ?? ""
        host = try c.decodeIfPresent(String.self, forKey: .host)
        port = try c.decodeIfPresent(Int.self, forKey: .port)
        headers = try c.decodeIfPresent(Bool.self, forKey: .headers) ?? false
        maxPayload = try c.decodeIfPresent(Int.self, forKey: .maxPayload) ?? (1 << 20)
        clientID = try c.decodeIfPresent(UInt64.self, forKey: .clientID)
        authRequired = try c.decodeIfPresent(Bool.self, forKey: .authRequired) ?? false
        tlsRequired = try c.decodeIfPresent(Bool.self, forKey: .tlsRequired) ?? false
        connectURLs = try c.decodeIfPresent([String].self, forKey: .connectURLs) ?? []
        lameDuckMode = try c.decodeIfPresent(Bool.self, forKey: .lameDuckMode) ?? false
        jetStream = try c.decodeIfPresent(Bool.self, forKey: .jetStream) ?? false
        cluster = try c.decodeIfPresent(String.self, forKey: .cluster)
    }
}
