import Bus
import FanOut
import Foundation
import Hummingbird
import Logging
import MarketCore
import Services
import Storage
import Synchronization
import Testing
@testable import GatewayApp
import _TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The composition root's access control with real parts: a `TokenAuthority`, the services on
/// SQLite, `AccessControl`'s session check, the admin's token revocation, the REST limit per
/// token, and what the logs and configuration dumps may show (issue 16, defect 8 and
/// "Sessions"). Tokens are real JWTs.
@Suite("access control end to end", .serialized, .timeLimit(.minutes(1)))
struct AccessTests {
    static let admin = "admin-token-for-access-tests-0123"
    static let secret = String(repeating: "q", count: 48)

    struct Gateway: Sendable {
        let bus: MarketBus
        let hub: FanOutHub
        let services: ServiceSuite
        let store: SQLiteStore
        let port: Int

        func call(_ method: String, _ path: String, token: String?, body: String? = nil) async throws -> (Int, [String: Any], [String: String]) {
            var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            r.httpMethod = method
            if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            if let body { r.httpBody = Data(body.utf8) }
            let (data, response) = try await URLSession.shared.data(for: r)
            let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            let http = response as! HTTPURLResponse
            var headers: [String: String] = [:]
            for (k, v) in http.allHeaderFields { headers["\(k)".lowercased()] = "\(v)" }
            return (http.statusCode, json, headers)
        }

        /// Creates a user; returns its token.
        func user(_ id: String) async throws -> String {
            let (s, created, _) = try await call("POST", "/api/v1/users", token: AccessTests.admin, body: #"{"id":"\#(id)"}"#)
            #expect(s == 201)
            return try #require(created["token"] as? String)
        }
    }

    /// The gateway's access wiring as `ServeRun` uses it (``AccessControl``), on a real server.
    func withGateway(
        server: GatewayConfiguration.ServerSettings = .init(), logger: Logger? = nil, _ body: (Gateway) async throws -> Void
    ) async throws {
        let dir = try makeTempDirectory("access")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var quiet = Logger(label: "access")
        quiet.logLevel = .warning
        let logger = logger ?? quiet
        let store = try await SQLiteStore(path: dir + "/g.sqlite", logger: logger)
        _ = try await store.migrate()
        let bus = MarketBus()
        let authority = try await TokenAuthority(secret: Self.secret, adminToken: Self.admin)
        let services = ServiceSuite(options: ServiceOptions(), bus: bus, store: store, authority: authority, logger: logger)
        var configuration = GatewayConfiguration()
        configuration.server = server
        var binance = GatewayConfiguration.VenueSettings.defaults(for: .binance)
        binance.symbols = ["BTC-USDT"]
        configuration.venues = [binance]
        let access = try AccessControl(configuration: configuration, authority: authority, services: services)
        let hub = FanOutHub(
            bus: bus, options: access.fanOutOptions, venues: ["binance"], intervals: ["1m", "5m"], instruments: access.instruments,
            sessions: access.sessions, tls: access.tls, logger: logger)
        let router = Router()
        router.add(middleware: LogRequestsMiddleware(.debug))
        access.install(on: router, hub: hub)
        addServiceRoutes(to: router, services: services)
        let port = Mutex<Int?>(nil)
        let app = FanOutServer.makeApplication(
            hub: hub, router: router, host: "127.0.0.1", port: 0, logger: logger, onListening: { p in port.withLock { $0 = p } })
        let server = TestHTTPServer(app, logger: logger)
        let running = Task { await services.run() }
        var bound: Int?
        for _ in 0..<500 where bound == nil {
            bound = port.withLock { $0 }
            try await Task.sleep(for: .milliseconds(10))
        }
        do {
            try await body(Gateway(bus: bus, hub: hub, services: services, store: store, port: try #require(bound)))
        } catch {
            Issue.record("\(error)")
        }
        await hub.shutdown()
        await server.stopAndWait()
        running.cancel()
        _ = await running.value
        await store.close()
    }

    /// Old code: a validly signed `sub:"*"` token authenticated the socket as user `*`, whose
    /// `executions.*` then matched every user's executions (and `mood.*` every mood).
    @Test func aWildcardOrDottedSubjectIsRefusedAndSeesNoOnesData() async throws {
        try await withGateway { g in
            _ = try await g.user("alice")
            let authority = try #require(g.services.authority)
            for sub in ["*", "alice.x", "a*"] {
                let token = try await authority.issue(user: sub)
                let ws = try RawWebSocket(port: g.port)
                ws.send(#"{"op":"auth","id":1,"token":"\#(token)"}"#)
                let r = try #require(ws.readJSON())
                #expect(r["code"] as? String == "unauthorized", "\(sub): \(r)")
                #expect((r["message"] as? String)?.hasPrefix("token subject is not a user id") == true)
                ws.send(#"{"op":"subscribe","id":2,"channels":["executions.*","mood.*"]}"#)
                #expect(ws.readJSON()?["code"] as? String == "unauthorized")
                g.bus.publish(channel: ChannelName(kind: .executions, scope: "alice"), type: "execution", data: Array(#"{"user":"alice"}"#.utf8))
                ws.send(#"{"op":"ping","id":3}"#)
                #expect(ws.readJSON()?["type"] as? String == "pong")
                // The same over REST.
                let (code, _, _) = try await g.call("GET", "/api/v1/trading/history", token: token)
                #expect(code == 401)
            }
        }
    }

    /// Old code: the websocket accepted any signed token, even for a user that does not exist.
    @Test func aTokenOfAUserThatDoesNotExistIsRefusedOnTheWebsocket() async throws {
        try await withGateway { g in
            let ghost = try await g.services.authority!.issue(user: "ghost")
            let ws = try RawWebSocket(port: g.port)
            ws.send(#"{"op":"auth","id":1,"token":"\#(ghost)"}"#)
            let r = try #require(ws.readJSON())
            #expect(r["code"] as? String == "unauthorized" && r["message"] as? String == "the token's user does not exist")
            let alice = try await g.user("alice")
            ws.send(#"{"op":"auth","id":2,"token":"\#(alice)"}"#)
            #expect(ws.readJSON()?["user"] as? String == "alice")
        }
    }

    /// The admin endpoint (new): tokens issued before the revocation are refused everywhere, the
    /// user's sockets are signed out of their private channels, a token issued after works.
    @Test func revokingAUsersTokensEndsTheirSessionsEverywhere() async throws {
        try await withGateway { g in
            let alice = try await g.user("alice")
            let bob = try await g.user("bob")
            let ws = try RawWebSocket(port: g.port)
            ws.send(#"{"op":"auth","id":1,"token":"\#(alice)"}"#)
            #expect(ws.readJSON()?["user"] as? String == "alice")
            ws.send(#"{"op":"subscribe","id":2,"channels":["executions.alice"]}"#)
            #expect(ws.readJSON()?["type"] as? String == "ack")

            let (forbidden, _, _) = try await g.call("POST", "/api/v1/users/alice/revoke-tokens", token: bob)
            #expect(forbidden == 403)
            let (missing, body404, _) = try await g.call("POST", "/api/v1/users/nobody/revoke-tokens", token: Self.admin)
            #expect(missing == 404 && (body404["error"] as? [String: Any])?["code"] as? String == "unknown_user")

            let (code, revoked, _) = try await g.call("POST", "/api/v1/users/alice/revoke-tokens", token: Self.admin)
            #expect(code == 200 && revoked["user"] as? String == "alice" && (revoked["sockets"] as? NSNumber)?.intValue == 1)
            let out = try #require(ws.readJSON())
            #expect(out["type"] as? String == "session" && out["event"] as? String == "signed_out" && out["reason"] as? String == "revoked")
            #expect(out["channels"] as? [String] == ["executions.alice"])

            let (rest, _, _) = try await g.call("GET", "/api/v1/trading/portfolio", token: alice)
            #expect(rest == 401)
            ws.send(#"{"op":"auth","id":3,"token":"\#(alice)"}"#)
            #expect((ws.readJSON()?["message"] as? String)?.hasPrefix("token revoked") == true)
            // bob is untouched; a new token for alice works.
            #expect(try await g.call("GET", "/api/v1/trading/portfolio", token: bob).0 == 200)
            let (_, fresh, _) = try await g.call("POST", "/api/v1/users/alice/token", token: Self.admin)
            let newToken = try #require(fresh["token"] as? String)
            #expect(try await g.call("GET", "/api/v1/trading/portfolio", token: newToken).0 == 200)
        }
    }

    /// A real token's `exp` drives the session: warned `session_warning` before, signed out at it.
    @Test func aRealTokensExpiryEndsThePrivateChannels() async throws {
        var server = GatewayConfiguration.ServerSettings()
        server.sessionWarning = .seconds(1)
        try await withGateway(server: server) { g in
            _ = try await g.user("alice")
            let token = try await g.services.authority!.issue(user: "alice", lifetime: .seconds(2))
            let ws = try RawWebSocket(port: g.port)
            ws.send(#"{"op":"auth","id":1,"token":"\#(token)"}"#)
            #expect(ws.readJSON()?["user"] as? String == "alice")
            ws.send(#"{"op":"subscribe","id":2,"channels":["mood.alice"]}"#)
            #expect(ws.readJSON()?["type"] as? String == "ack")
            #expect(ws.readJSON(timeout: 5)?["event"] as? String == "expiring")
            let out = try #require(ws.readJSON(timeout: 5))
            #expect(out["event"] as? String == "signed_out" && out["reason"] as? String == "expired")
            ws.send(#"{"op":"subscribe","id":3,"channels":["mood.alice"]}"#)
            #expect(ws.readJSON()?["code"] as? String == "unauthorized")
        }
    }

    /// REST requests per token (new): one token past its budget gets 429 with Retry-After while
    /// another token is served; both the middleware and the hub's refusals reach /metrics.
    @Test func restRequestsPerTokenAndTheLimitMetrics() async throws {
        GatewayMetrics.bootstrap()
        var server = GatewayConfiguration.ServerSettings()
        server.maxRESTRequestsPerSecond = 5
        try await withGateway(server: server) { g in
            let alice = try await g.user("alice")
            let bob = try await g.user("bob")
            var statuses: [Int] = []
            for _ in 0..<40 {
                let (code, body, headers) = try await g.call("GET", "/api/v1/trading/portfolio", token: alice)
                statuses.append(code)
                if code == 429 {
                    #expect(headers["retry-after"] == "1")
                    #expect((body["error"] as? [String: Any])?["code"] as? String == "rate_limited")
                }
            }
            #expect(statuses.filter { $0 == 200 }.count >= 10, "\(statuses)")
            #expect(statuses.filter { $0 == 429 }.count >= 10, "\(statuses)")
            for _ in 0..<5 { #expect(try await g.call("GET", "/api/v1/trading/portfolio", token: bob).0 == 200) }

            // A refusal counted by the hub, reported by the metrics sampler.
            let ws = try RawWebSocket(port: g.port)
            ws.send(#"{"op":"subscribe","id":1,"channels":["trades.binance.NOPE-USDT"]}"#)
            #expect(ws.readJSON()?["code"] as? String == "bad_channel")
            for i in 0..<11 { ws.send(#"{"op":"auth","id":\#(i),"token":"x"}"#) }
            #expect(ws.readCloseCode() == 4029)
            let reporter = MetricsReporter(bus: g.bus, hub: g.hub)
            reporter.record(.init(bus: g.bus.stats, hub: g.hub.stats), since: .init(bus: .init(), hub: .init()))
            let text = String(decoding: GatewayMetrics.exposition(), as: UTF8.self)
            #expect(text.contains(#"gateway_limit_refusals_total{limit="rest_requests_per_token"}"#))
            #expect(text.contains(#"gateway_limit_refusals_total{limit="auth_attempts"} 1"#))
            #expect(text.contains(#"gateway_ws_client_errors_total{code="bad_channel"}"#))
        }
    }

    /// The admin token, the JWT secret and user tokens appear in no log line, at trace level,
    /// through user creation, revocation, refused admin calls and websocket auth.
    @Test func secretsAreNeverLogged() async throws {
        let lines = LogCapture()
        var logger = Logger(label: "access-logs") { _ in lines }
        logger.logLevel = .trace
        try await withGateway(logger: logger) { g in
            let alice = try await g.user("alice")
            _ = try await g.call("POST", "/api/v1/users/alice/revoke-tokens", token: Self.admin)
            _ = try await g.call("POST", "/api/v1/users", token: Self.admin + "x", body: #"{"id":"m"}"#)
            _ = try await g.call("GET", "/api/v1/trading/portfolio", token: alice)
            let ws = try RawWebSocket(port: g.port)
            ws.send(#"{"op":"auth","id":1,"token":"\#(Self.admin)"}"#)
            _ = ws.readJSON()
            ws.send(#"{"op":"auth","id":2,"token":"\#(alice)"}"#)
            _ = ws.readJSON()
            let all = lines.text
            #expect(!all.isEmpty, "the capture saw the requests")
            for secret in [Self.admin, Self.secret, alice] {
                #expect(!all.contains(secret), "a secret was logged")
            }
        }
    }

    @Test func configurationDumpsRedactSecrets() throws {
        var c = GatewayConfiguration()
        c.services.jwtSecret = "jwt-secret-0123456789-0123456789-abcdef"
        c.services.adminToken = "admin-token-0123456789"
        c.storage.url = "postgres://gateway:hunter2@db.internal:5432/market?sslmode=require"
        c.cluster.nats = ["nats://node:natspass1@10.0.0.1:4222"]
        var dumped = ""
        dump(c, to: &dumped)
        for text in ["\(c)", String(reflecting: c), dumped, c.redactedYAML, "\(c.services)", String(reflecting: c.storage), String(reflecting: c.cluster)] {
            for secret in ["jwt-secret-0123456789", "admin-token-0123456789", "hunter2", "natspass1"] {
                #expect(!text.contains(secret), "\(secret) in \(text)")
            }
        }
        #expect(c.redacted.storage.url == "postgres://gateway:<redacted>@db.internal:5432/market?sslmode=require")
        #expect(
            GatewayConfiguration.redactingPassword(in: "postgresql://u:p%40ss@h/db?password=x&sslmode=disable")
                == "postgresql://u:<redacted>@h/db?password=<redacted>&sslmode=disable")
        #expect(GatewayConfiguration.redactingPassword(in: "postgres://u@h/db") == "postgres://u@h/db")
        #expect(GatewayConfiguration.redactingPassword(in: "sqlite:data/g.sqlite") == "sqlite:data/g.sqlite")
        #expect(dumped.contains("<redacted>"))
        // The exact form still round-trips (it is for files, not for printing).
        #expect(try GatewayConfiguration.parse(yaml: c.yaml, environment: [:]).storage.url == c.storage.url)
    }
}

/// Collects every log line, message and metadata, as one text.
final class LogCapture: LogHandler, Sendable {
    private let lines = Mutex<[String]>([])
    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    func log(event: LogEvent) {
        lines.withLock { $0.append("\(event.level) \(event.message) \(event.metadata ?? [:])") }
    }
}
