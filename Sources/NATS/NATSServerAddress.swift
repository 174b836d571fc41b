/// One server to connect to: host, port and optional credentials from the URL.
public struct NATSServerAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    /// A token given as the only userinfo part (`nats://token@host`).
    public var token: String?

    /// An address without credentials.
    public init(host: String, port: Int = 4222) {
        self.host = host
        self.port = port
    }

    /// Parses `nats://[user:password@|token@]host[:port]`, `host:port` or `host`; IPv6 hosts in brackets.
    /// The default port is 4222.
    /// - Throws: `NATSError` `.invalidURL`.
    public init(parsing url: String) throws {
        var rest = Substring(url)
        if let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") {
            let name = rest[..<colon].lowercased()
            guard name == "nats" else { throw NATSError(.invalidURL, "unsupported scheme in \(url) (only nats://; TLS is not supported)") }
            rest = rest[rest.index(colon, offsetBy: 3)...]
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                user = String(userinfo[..<colon])
                password = String(userinfo[userinfo.index(after: colon)...])
            } else {
                token = String(userinfo)
            }
        }
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw NATSError(.invalidURL, "unclosed [ in \(url)") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw NATSError(.invalidURL, "unexpected text after ] in \(url)")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            portText = rest[rest.index(after: colon)...]
        } else {
            host = String(rest)
        }
        guard !host.isEmpty else { throw NATSError(.invalidURL, "no host in \(url)") }
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { throw NATSError(.invalidURL, "bad port in \(url)") }
            port = p
        } else {
            port = 4222
        }
    }

    /// `nats://host:port`, without credentials (safe to log).
    public var description: String { host.contains(":") ? "nats://[\(host)]:\(port)" : "nats://\(host):\(port)" }

    /// Same host and port, whatever the credentials.
    func sameEndpoint(as other: NATSServerAddress) -> Bool { host == other.host && port == other.port }
}
