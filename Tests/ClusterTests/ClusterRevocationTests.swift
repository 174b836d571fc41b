import Bus
import Cluster
import FanOut
import Foundation
import Hummingbird
import Logging
import MarketCore
import NATS
import Services
import Synchronization
import Testing
import _TestSupport

/// An edge as `gateway serve` wires one for revocations: its own token authority with the shared
/// secret, the revocations from the KV bucket applied to it and to its hub, `/ws` opened once the
/// bucket was read.
struct RevocationEdge {
    let bus: MarketBus
    let hub: FanOutHub
    let edge: ClusterEdge
    let authority: TokenAuthority
    let revocations: ClusterRevocations
    let client: NATSClient
    let port: Int
    let server: TestHTTPServer
    let tasks: [Task<Void, any Error>]

    static func start(nats: String, secret: String, name: String, logger: Logger) async throws -> RevocationEdge {
        let bus = MarketBus(bootID: "edge-\(name)")
        var natsOptions = NATSOptions()
        natsOptions.name = "edge-\(name)"
        let client = try await NATSClient.connect(to: [nats], options: natsOptions, logger: logger)
        let edge = try await ClusterEdge(client: client, bus: bus, logger: logger)
        let authority = try await TokenAuthority(secret: secret, adminToken: nil)
        // The websocket check as AccessControl builds it on a node without `services`.
        let hub = FanOutHub(
            bus: bus, venues: ["binance"], intervals: ["1m"],
            sessions: { token in
                switch await authority.verifyToken(token) {
                case .success(let t): return .success(TokenGrant(user: t.user, expires: UnixNanos(Int64(t.expires.timeIntervalSince1970 * 1e9))))
                case .failure(let f): return .failure(TokenRefusal(f.message))
                }
            },
            presence: edge.users, logger: logger)
        let revocations = try await ClusterRevocations(jetStream: JetStream(client: client), logger: logger)
        let watch = Task {
            try await revocations.run { user, before in
                if authority.revokeIfLater(user: user, at: before) { _ = await hub.revokeSessions(of: user) }
            }
        }
        let relay = Task { try await edge.run() }
        // As FanOutService's `ready`: `/ws` listens once the revocations made so far are known.
        await revocations.waitUntilLoaded(limit: .seconds(20))
        let bound = Mutex<Int?>(nil)
        var serverLogger = logger
        serverLogger.logLevel = .critical
        let app = FanOutServer.makeApplication(
            hub: hub, router: Router(), host: "127.0.0.1", port: 0, logger: serverLogger, onListening: { p in bound.withLock { $0 = p } })
        let server = TestHTTPServer(app, logger: serverLogger)
        guard await waitUntil(seconds: 20, { bound.withLock { $0 } != nil }), let port = bound.withLock({ $0 }) else {
            await server.stopAndWait()
            for t in [relay, watch] { t.cancel() }
            throw TestFailure("edge \(name) did not listen")
        }
        return RevocationEdge(
            bus: bus, hub: hub, edge: edge, authority: authority, revocations: revocations, client: client, port: port, server: server,
            tasks: [relay, watch])
    }

    func stop() async {
        await hub.shutdown()
        await server.stopAndWait()
        for t in tasks { t.cancel() }
        await client.close()
    }
}

/// A server message's fields these tests read.
struct Reply: Sendable {
    var type, code, message, user, event, reason: String?
    var channels: [String]?
    init(_ o: [String: Any]) {
        type = o["type"] as? String
        code = o["code"] as? String
        message = o["message"] as? String
        user = o["user"] as? String
        event = o["event"] as? String
        reason = o["reason"] as? String
        channels = o["channels"] as? [String]
    }
}

/// Sends `auth` with `token`; returns the answer to it (ack or error).
func authAnswer(_ ws: RawWebSocket, token: String, id: Int) async -> Reply? {
    await onThread { () -> Reply? in
        guard ws.send(#"{"op":"auth","id":\#(id),"token":"\#(token)"}"#) else { return nil }
        while let o = ws.readJSON(timeout: 10) { if o["id"] as? Int == id { return Reply(o) } }
        return nil
    }
}

/// The channels a subscribe was acked for (nil: an error or no answer).
func subscribed(_ ws: RawWebSocket, _ channels: [String]) async -> Set<String>? {
    let text = String(decoding: try! JSONSerialization.data(withJSONObject: ["op": "subscribe", "id": 4, "channels": channels]), as: UTF8.self)
    return await onThread { () -> Set<String>? in
        guard ws.send(text) else { return nil }
        while let o = ws.readJSON(timeout: 10) {
            guard o["id"] as? Int == 4 else { continue }
            guard o["type"] as? String == "ack" else { return nil }
            return Set((o["channels"] as? [[String: Any]] ?? []).compactMap { $0["ch"] as? String })
        }
        return nil
    }
}

/// The next `session` message on `ws` within `seconds` (other frames skipped), or nil.
func nextSession(_ ws: RawWebSocket, seconds: Double) async -> Reply? {
    await onThread { () -> Reply? in
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, let o = ws.readJSON(timeout: max(0.05, deadline.timeIntervalSinceNow)) {
            if o["type"] as? String == "session" { return Reply(o) }
        }
        return nil
    }
}

@Suite("Cluster: token revocations reach every node", .serialized)
struct ClusterRevocationTests {
    static let secret = "cluster-revocation-test-secret-0123456789abcdef"

    var logger: Logger {
        var l = Logger(label: "cluster-revocations-test")
        l.logLevel = .critical
        return l
    }

    /// Alice signed in on an edge; her tokens are revoked on the services node (its own authority,
    /// the same secret): the edge signs her socket out (`revoked`), refuses her old token, accepts
    /// one issued after the revocation; an edge started later refuses the old token from its first
    /// connection. Bob, signed in on the same edge, is untouched.
    @Test(.timeLimit(.minutes(2)))
    func aRevocationOnTheServicesNodeReachesEveryEdge() async throws {
        let logger = self.logger
        try await withNATSServer(jetStream: true) { server in
            // The services node: its suite revokes, its observer puts the revocation into NATS.
            let servicesClient = try await NATSClient.connect(to: [server.url], logger: logger)
            let servicesAuthority = try await TokenAuthority(secret: Self.secret, adminToken: nil)
            let suite = ServiceSuite(
                options: ServiceOptions(), bus: MarketBus(bootID: "services-r"), store: nil, authority: servicesAuthority, logger: logger)
            let shared = try await ClusterRevocations(jetStream: JetStream(client: servicesClient), logger: logger)
            suite.addRevocationObserver { user, before in shared.publish(user: user, before: before) }

            let a = try await RevocationEdge.start(nats: server.url, secret: Self.secret, name: "a", logger: logger)
            #expect(a.revocations.loaded && a.revocations.stats.received == 0)
            let oldToken = try await servicesAuthority.issue(user: "alice")
            let bobToken = try await servicesAuthority.issue(user: "bob")

            let alice = try RawWebSocket(port: a.port)
            let aliceAck = await authAnswer(alice, token: oldToken, id: 1)
            #expect(aliceAck?.type == "ack" && aliceAck?.user == "alice")
            #expect(await subscribed(alice, ["executions.alice", "trades.binance.BTC-USDT"]) == ["executions.alice", "trades.binance.BTC-USDT"])
            let bob = try RawWebSocket(port: a.port)
            #expect(await authAnswer(bob, token: bobToken, id: 1)?.type == "ack")
            #expect(await subscribed(bob, ["executions.bob"]) == ["executions.bob"])
            #expect(a.edge.users.users == ["alice", "bob"])

            let revoked = try #require(await suite.revokeTokens(of: "alice"))
            #expect(!revoked.stored)  // no store on this node: the cluster put is independent of it

            // Her socket on the edge: signed out, reason revoked, her private channel named.
            let session = try #require(await nextSession(alice, seconds: 10), "no session message on the edge")
            #expect(session.event == "signed_out" && session.reason == "revoked")
            #expect(session.user == "alice" && session.channels == ["executions.alice"])
            // Private channels are gone: the edge dropped her feed, a subscribe is unauthorized.
            #expect(await waitUntil(seconds: 5) { a.edge.users.users == ["bob"] })
            let again = await onThread { () -> Reply? in
                guard alice.send(#"{"op":"subscribe","id":5,"channels":["executions.alice"]}"#) else { return nil }
                while let o = alice.readJSON(timeout: 10) { if o["id"] as? Int == 5 { return Reply(o) } }
                return nil
            }
            #expect(again?.type == "error" && again?.code == "unauthorized")
            // The edge's authority holds the services node's instant (to the nanosecond the bucket carries).
            let edgeInstant = try #require(a.authority.revokedBefore("alice"))
            #expect(abs(edgeInstant.timeIntervalSince(revoked.before)) < 1e-6)

            // The old token is refused on the edge, on that socket and on a new one.
            let refused = await authAnswer(alice, token: oldToken, id: 6)
            #expect(refused?.type == "error" && refused?.code == "unauthorized")
            #expect(refused?.message?.hasPrefix("token revoked") == true, "\(String(describing: refused))")
            let alice2 = try RawWebSocket(port: a.port)
            let refused2 = await authAnswer(alice2, token: oldToken, id: 1)
            #expect(refused2?.code == "unauthorized" && refused2?.message?.hasPrefix("token revoked") == true)

            // Bob is untouched: no session message, still subscribed.
            #expect(await nextSession(bob, seconds: 0.5) == nil)
            #expect(a.edge.users.users.contains("bob"))

            // A token issued after the revocation signs in.
            try await Task.sleep(for: .milliseconds(20))
            let newToken = try await servicesAuthority.issue(user: "alice")
            let fresh = await authAnswer(alice2, token: newToken, id: 2)
            #expect(fresh?.type == "ack" && fresh?.user == "alice")
            #expect(await subscribed(alice2, ["executions.alice"]) == ["executions.alice"])

            // An edge started after the revocation: the old token is refused on its first connection.
            let b = try await RevocationEdge.start(nats: server.url, secret: Self.secret, name: "b", logger: logger)
            #expect(b.revocations.loaded && b.revocations.stats.received == 1)
            let first = try RawWebSocket(port: b.port)
            let refusedB = await authAnswer(first, token: oldToken, id: 1)
            #expect(refusedB?.code == "unauthorized" && refusedB?.message?.hasPrefix("token revoked") == true)
            #expect(await authAnswer(first, token: newToken, id: 2)?.type == "ack")
            #expect(await authAnswer(try RawWebSocket(port: b.port), token: bobToken, id: 1)?.type == "ack")

            // The services node's own echo from the bucket does not move its instant.
            #expect(shared.stats.published == 1 && shared.stats.publishFailures == 0)
            #expect(servicesAuthority.revokedBefore("alice") == revoked.before)
            #expect(a.revocations.stats.received == 1 && a.revocations.stats.malformed == 0)

            for ws in [alice, alice2, bob, first] { ws.close() }
            await a.stop()
            await b.stop()
            await servicesClient.close()
        }
    }
    /// The bucket keeps the later instant whatever order the puts come in (decimal Unix
    /// nanoseconds, as docs/nats.md has the value); with the NATS server gone a revocation still
    /// holds on the node that made it, and the failed puts are counted, retried and given up.
    @Test(.timeLimit(.minutes(1)))
    func theBucketKeepsTheLaterInstantAndAFailedPutIsCounted() async throws {
        let logger = self.logger
        let server = try NATSServerProcess(jetStream: true)
        defer { server.stop() }
        try server.start()
        var options = NATSOptions()
        options.name = "services-down"
        let client = try await NATSClient.connect(to: [server.url], options: options, logger: logger)
        let js = JetStream(client: client, timeout: .seconds(1))
        let shared = try await ClusterRevocations(jetStream: js, attempts: 3, retryDelay: .milliseconds(50), logger: logger)

        let later = Date()
        let earlier = later.addingTimeInterval(-3600)
        #expect(await shared.put(user: "carol", before: later))
        #expect(await shared.put(user: "carol", before: earlier))  // held: the bucket has a later one
        let stored = try #require(try await js.keyValue(ClusterRevocations.bucket).get("carol"))
        let laterNanos = NSDecimalNumber(value: later.timeIntervalSince1970).multiplying(byPowerOf10: 9).int64Value
        #expect(abs((Int64(String(buffer: stored.value)) ?? 0) - laterNanos) < 1000, "\(String(buffer: stored.value))")
        #expect(shared.stats.published == 2 && shared.stats.publishFailures == 0)

        // NATS gone: the services node still refuses the old token; the put fails three times.
        let authority = try await TokenAuthority(secret: Self.secret, adminToken: nil)
        let suite = ServiceSuite(options: ServiceOptions(), bus: MarketBus(bootID: "services-d"), store: nil, authority: authority, logger: logger)
        suite.addRevocationObserver { user, before in shared.publish(user: user, before: before) }
        let old = try await authority.issue(user: "dave")
        server.kill()
        #expect(await waitUntil(seconds: 10) { client.connectedServer == nil })
        _ = try #require(await suite.revokeTokens(of: "dave"))
        if case .failure(let f) = await authority.verify(old) { #expect(f.message.hasPrefix("token revoked")) } else { Issue.record("old token accepted") }
        #expect(await waitUntil(seconds: 30) { shared.stats.abandoned == 1 })
        #expect(shared.stats.publishFailures == 3 && shared.stats.abandoned == 1 && shared.stats.published == 2)
        await client.close()
    }
}
