import PostgresNIO

/// Where and how to connect to a PostgreSQL server, usually parsed from the `--store` URL
/// (`postgres://user[:password]@host[:port]/database[?sslmode=…]`, see ``init(url:)``).
///
/// ## TLS
///
/// ``tlsMode`` follows libpq's `sslmode` names. Without an explicit `sslmode`, a loopback host
/// (`localhost`, `127.x.x.x`, `::1`) gets ``TLSMode/disable``: the traffic never leaves the machine
/// and the test and development servers (scripts/with-postgres.sh) do not offer TLS. Every other
/// host gets ``TLSMode/prefer``, libpq's default. `prefer` and `require` encrypt without checking
/// the certificate, exactly as libpq does; use `verify-ca` or `verify-full` to check it.
///
/// ``description`` never shows the password.
public struct PostgresConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// TLS policy, named after libpq's `sslmode` values.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// Plain TCP, no TLS.
        case disable
        /// TLS when the server offers it, plain TCP otherwise; the certificate is not verified.
        case prefer
        /// TLS or fail; the certificate is not verified (libpq's `require`).
        case require
        /// TLS or fail; the certificate chain is verified, the host name is not.
        case verifyCA = "verify-ca"
        /// TLS or fail; the certificate chain and the host name are verified.
        case verifyFull = "verify-full"
    }

    /// PostgreSQL's default port.
    public static let defaultPort = 5432

    /// Host name or IP address (IPv6 without brackets).
    public var host: String
    /// TCP port, 1...65535.
    public var port: Int
    /// The role to log in as.
    public var username: String
    /// The password, or `nil` for none (trust or peer authentication).
    public var password: String?
    /// The database to open, or `nil` for the server's default (a database named like the user).
    public var database: String?
    /// The TLS policy.
    public var tlsMode: TLSMode
    /// Sent as the `application_name` startup parameter (shows in `pg_stat_activity`).
    public var applicationName: String?
    /// How long to wait for a connection to be established; `nil` keeps PostgresNIO's default (10 s).
    public var connectTimeout: Duration?

    /// Creates a configuration from its parts.
    /// - Parameters:
    ///   - host: Host name or IP address.
    ///   - port: TCP port.
    ///   - username: The role to log in as.
    ///   - password: The password, if any.
    ///   - database: The database to open, or `nil` for the server's default.
    ///   - tlsMode: The TLS policy; `nil` picks ``defaultTLSMode(forHost:)``.
    public init(
        host: String,
        port: Int = PostgresConfiguration.defaultPort,
        username: String,
        password: String? = nil,
        database: String? = nil,
        tlsMode: TLSMode? = nil
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tlsMode = tlsMode ?? Self.defaultTLSMode(forHost: host)
        self.applicationName = nil
        self.connectTimeout = nil
    }

    /// The TLS policy used when the URL names none: ``TLSMode/disable`` for loopback hosts,
    /// ``TLSMode/prefer`` (libpq's default) for every other host.
    public static func defaultTLSMode(forHost host: String) -> TLSMode {
        isLoopback(host) ? .disable : .prefer
    }

    /// `localhost`, `::1` or an IPv4 address in 127.0.0.0/8.
    static func isLoopback(_ host: String) -> Bool {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered == "::1" { return true }
        let octets = lowered.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else { return false }
        return octets[0] == "127"
    }

    /// The equivalent PostgresNIO client configuration (pool options left at their defaults).
    public var clientConfiguration: PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: clientTLS)
        if let applicationName {
            configuration.options.additionalStartupParameters.append(("application_name", applicationName))
        }
        if let connectTimeout {
            configuration.options.connectTimeout = connectTimeout
        }
        return configuration
    }

    /// What ``tlsMode`` means for PostgresNIO; both configuration types are built from it.
    private enum TLSChoice {
        case disable
        case prefer(TLSConfiguration)
        case require(TLSConfiguration)
    }

    private var tlsChoice: TLSChoice {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch tlsMode {
        case .disable:
            return .disable
        case .prefer:
            // libpq's `prefer` encrypts but does not authenticate the server.
            tls.certificateVerification = .none
            return .prefer(tls)
        case .require:
            // libpq's `require` likewise: encryption without verification (libpq docs,
            // "SSL Mode Descriptions").
            tls.certificateVerification = .none
            return .require(tls)
        case .verifyCA:
            tls.certificateVerification = .noHostnameVerification
            return .require(tls)
        case .verifyFull:
            tls.certificateVerification = .fullVerification
            return .require(tls)
        }
    }

    private var clientTLS: PostgresClient.Configuration.TLS {
        switch tlsChoice {
        case .disable: .disable
        case .prefer(let tls): .prefer(tls)
        case .require(let tls): .require(tls)
        }
    }

    /// The equivalent single-connection configuration (no pool), for diagnosis and tools.
    /// - Throws: NIOSSL's error when a TLS context cannot be created.
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch tlsChoice {
        case .disable: tls = .disable
        case .prefer(let configuration): tls = .prefer(try NIOSSLContext(configuration: configuration))
        case .require(let configuration): tls = .require(try NIOSSLContext(configuration: configuration))
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        if let applicationName {
            configuration.options.additionalStartupParameters.append(("application_name", applicationName))
        }
        if let connectTimeout {
            configuration.options.connectTimeout = .init(connectTimeout)
        }
        return configuration
    }

    /// The configuration as a URL, with the password shown as `***`.
    public var description: String {
        var text = "postgres://" + Self.percentEncoded(username)
        if password != nil { text += ":***" }
        text += "@" + (host.contains(":") ? "[\(host)]" : Self.percentEncoded(host))
        text += ":\(port)"
        if let database { text += "/" + Self.percentEncoded(database) }
        var parameters = ["sslmode=\(tlsMode.rawValue)"]
        if let applicationName { parameters.append("application_name=" + Self.percentEncoded(applicationName)) }
        if let connectTimeout { parameters.append("connect_timeout=\(connectTimeout.components.seconds)") }
        return text + "?" + parameters.joined(separator: "&")
    }
}
