public import FanOut
import Foundation
public import Hummingbird
public import Logging
import MarketCore
import Metrics
public import ServiceLifecycle
public import Services

/// Who may connect and how much, in one place for the composition root: the fan-out limits from
/// `server:`, the instruments the gateway carries, the websocket session check (token + the user
/// exists), the listener's TLS certificate, the REST rate limit per token, and the admin's token
/// revocation (docs/protocol.md "Limits", "Sessions", "TLS").
///
/// `ServeRun` builds one after the token authority and the services, then:
/// `FanOutHub(…, options: access.fanOutOptions, instruments: access.instruments,
/// sessions: access.sessions, tls: access.tls, …)`, `access.install(on: router, hub: hub)` before
/// any route is added, and `access.services(logger:)` in its service group.
public struct AccessControl: Sendable {
    public let fanOutOptions: FanOutOptions
    /// Venue id → symbols of the enabled venues (the hub refuses other symbols).
    public let instruments: [String: Set<String>]
    public let sessions: FanOutHub.SessionCheck?
    public let tls: ServerTLS?
    /// REST requests per second per bearer token.
    public let restRequestsPerSecond: Int
    let authority: TokenAuthority?
    let services: ServiceSuite?
    let tlsReloadCheck: Duration

    /// - Parameters:
    ///   - userExists: whether a token's subject is a user; default: the services' accounts.
    /// - Throws: when the TLS certificate or key cannot be loaded.
    public init(
        configuration: GatewayConfiguration, authority: TokenAuthority?, services: ServiceSuite?,
        userExists: (@Sendable (String) -> Bool)? = nil
    ) throws {
        fanOutOptions = FanOutOptions(server: configuration.server)
        instruments = Self.instruments(of: configuration)
        let fromServices: (@Sendable (String) -> Bool)? = services.map { s in { @Sendable user in s.execution.account(user) != nil } }
        let exists = userExists ?? fromServices
        sessions = Self.sessionCheck(authority: authority, userExists: exists)
        tls =
            configuration.server.tlsEnabled
            ? try ServerTLS(certificatePath: configuration.server.tlsCertPath, keyPath: configuration.server.tlsKeyPath) : nil
        restRequestsPerSecond = configuration.server.maxRESTRequestsPerSecond
        self.authority = authority
        self.services = services
        tlsReloadCheck = configuration.server.tlsReloadCheck
    }

    /// Venue id → canonical symbols of the enabled venues.
    public static func instruments(of configuration: GatewayConfiguration) -> [String: Set<String>] {
        Dictionary(configuration.enabledVenues.map { ($0.id.rawValue, Set($0.symbols)) }, uniquingKeysWith: { $0.union($1) })
    }

    /// The websocket `auth` check: a token the authority accepts, whose user exists. Nil when no
    /// authority is configured (`auth` is then refused).
    public static func sessionCheck(
        authority: TokenAuthority?, userExists: (@Sendable (String) -> Bool)?
    ) -> FanOutHub.SessionCheck? {
        guard let authority else { return nil }
        return { token in
            switch await authority.verifyToken(token) {
            case .success(let t):
                if let userExists, !userExists(t.user) { return .failure(TokenRefusal("the token's user does not exist")) }
                let seconds = t.expires.timeIntervalSince1970
                return .success(TokenGrant(user: t.user, expires: UnixNanos(Int64((seconds * 1e9).rounded()))))
            case .failure(let f):
                return .failure(TokenRefusal(f.message))
            }
        }
    }

    /// The REST rate limit (a middleware: add it before any route) and the admin's
    /// `POST /api/v1/users/{id}/revoke-tokens`.
    public func install<Context: RequestContext>(on router: Router<Context>, hub: FanOutHub) {
        router.add(middleware: RESTRateLimit<Context>(perSecond: restRequestsPerSecond))
        if let services { addSessionRoutes(to: router, services: services, hub: hub) }
    }

    /// Services to run beside the server: the TLS certificate watcher.
    public func services(logger: Logger) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        guard let tls else { return [] }
        return [.init(service: TLSReloadService(tls: tls, every: tlsReloadCheck, logger: logger))]
    }
}

extension FanOutOptions {
    /// The fan-out limits of `server:`.
    public init(server s: GatewayConfiguration.ServerSettings) {
        self.init()
        maxConnections = s.maxConnections
        maxConnectionsPerAddress = s.maxConnectionsPerIP
        handshakesPerSecond = Double(s.maxHandshakesPerSecond)
        handshakeTimeout = s.handshakeTimeout
        idleTimeout = s.idleTimeout
        maxHeaderBytes = s.maxHeaderBytes
        maxBodyBytes = s.maxBodyBytes
        maxSubscriptions = s.maxSubscriptionsPerConnection
        maxChannelsPerSubscribe = s.maxChannelsPerSubscribe
        // A message over max_frame_bytes is answered with frame_too_large; a frame four times
        // that (at least 1 MiB) is not read at all (close 1009).
        maxMessageBytes = s.maxFrameBytes
        maxFrameBytes = max(1 << 20, s.maxFrameBytes * 4)
        messagesPerSecond = Double(s.maxMessagesPerSecond)
        messageBurst = Double(s.maxMessagesPerSecond) * 2
        authAttemptsPerMinute = s.maxAuthAttemptsPerMinute
        maxOutstandingBytes = s.maxOutstandingBytes
        sessionWarning = s.sessionWarning
    }
}

/// Checks the TLS certificate and key files every `every`; a changed pair is loaded for new
/// connections. A pair that fails to load is logged and counted, and the previous one stays.
struct TLSReloadService: Service {
    let tls: ServerTLS
    let every: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: every)
                do {
                    if try tls.reloadIfChanged() {
                        Counter(label: "gateway_tls_reloads_total").increment()
                        logger.notice("TLS certificate reloaded", metadata: ["certificate": "\(tls.certificatePath)"])
                    }
                } catch {
                    Counter(label: "gateway_tls_reload_failures_total").increment()
                    logger.error(
                        "TLS certificate reload failed; the previous certificate stays in use",
                        metadata: ["certificate": "\(tls.certificatePath)", "key": "\(tls.keyPath)", "error": "\(error)"])
                }
            }
        }
    }
}
