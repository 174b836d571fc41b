import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import _TestSupport

/// `gateway demo --roles services` on its own process beside `--roles ingest`: it trades over REST
/// on the books the ingest node publishes, keeps its accounts in its own SQLite file, and its
/// health shows the relay.
@Suite("gateway demo: a services node on its own", .serialized)
struct DemoServicesNodeTests {
    static func call(_ port: Int, _ method: String, _ path: String, token: String?, body: String? = nil) async throws -> (Int, [String: Any]) {
        var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        r.httpMethod = method
        if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            r.httpBody = Data(body.utf8)
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: r)
        return ((response as! HTTPURLResponse).statusCode, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
    }

    @Test(.timeLimit(.minutes(3)))
    func aServicesNodeTradesOverRESTOnTheIngestNodesBooks() async throws {
        let cluster = try DemoClusterTests.Cluster(name: "demo-services", seconds: 90)
        defer { cluster.tearDown() }
        let (binary, dir, common) = (cluster.binary, cluster.dir, cluster.common)
        let (services, port, output) = try await DemoClusterTests.startDemo(
            binary, common + ["--roles", "services", "--node", "services"], in: dir)
        defer { if services.isRunning { services.terminate() } }
        let (ingest, _, _) = try await DemoClusterTests.startDemo(binary, common + ["--roles", "ingest", "--node", "ingest", "--speed", "10"], in: dir)
        defer { if ingest.isRunning { ingest.terminate() } }

        // The demo user's token, as the services node prints it.
        var token: String?
        for _ in 0..<100 where token == nil {
            let lines = ((try? output().out) ?? "").split(separator: "\n")
            if let i = lines.firstIndex(where: { $0.contains("paper-trading user 'demo'") }), i + 1 < lines.count {
                token = lines[i + 1].split(separator: " ").last.map(String.init)
            }
            if token == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let demoToken = try #require(token, "no demo token printed: \((try? output().out) ?? "")")
        // A market buy is accepted once a valid book has come over NATS.
        var filled: [String: Any]?
        for _ in 0..<300 where filled == nil {
            let (code, body) = try await Self.call(
                port, "POST", "/api/v1/trading/execute", token: demoToken,
                body: #"{"venue":"binance","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}"#)
            if code == 200 { filled = body } else { try await Task.sleep(for: .milliseconds(200)) }
        }
        let fill = try #require(filled, "no fill on the services node")
        #expect((fill["fills"] as? [[String: Any]])?.count == 1, "\(fill)")
        let (_, health) = try await Self.call(port, "GET", "/api/v1/health", token: nil)
        let c = try #require(health["cluster"] as? [String: Any], "\(health)")
        #expect((c["services_relayed"] as? Int ?? 0) > 0 && c["undecodable"] as? Int == 0, "\(c)")
        #expect(c["roles"] as? [String] == ["services"])
        let data = dir.appendingPathComponent("data")
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("gateway-services.sqlite").path))
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("gateway.sqlite").path))
    }

    /// The demo user's token as a node prints it (the line after "paper-trading user 'demo'").
    static func demoToken(_ output: () throws -> (out: String, err: String)) async throws -> String {
        for _ in 0..<300 {
            let lines = ((try? output().out) ?? "").split(separator: "\n")
            if let i = lines.firstIndex(where: { $0.contains("paper-trading user 'demo'") }), i + 1 < lines.count,
                let t = lines[i + 1].split(separator: " ").last
            {
                return String(t)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("no demo token printed: \((try? output().out) ?? "")")
    }

    /// Reads text frames until one satisfies `match` (answering pings), or nil after `seconds`.
    static func read(_ ws: RawWebSocket, seconds: Double, _ match: @escaping @Sendable ([String: Any]) -> Bool) async -> [String: Any]? {
        let bytes: [UInt8]? = await onThread {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                guard let f = ws.readFrame(timeout: max(0.1, deadline.timeIntervalSinceNow)) else { continue }
                if f.opcode == 0x9 {
                    _ = ws.sendFrame(opcode: 0xA, payload: f.payload)
                    continue
                }
                if f.opcode == 0x8 { return nil }
                guard f.opcode == 0x1, let o = (try? JSONSerialization.jsonObject(with: Data(f.payload))) as? [String: Any] else { continue }
                if match(o) { return f.payload }
            }
            return nil
        }
        return bytes.flatMap { (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] }
    }

    /// Sends `{"op":"auth"}` with `token` as request `id` and returns the answer to it.
    static func auth(_ ws: RawWebSocket, _ token: String, id: Int, seconds: Double = 20) async -> [String: Any]? {
        _ = ws.send(#"{"op":"auth","id":\#(id),"token":"\#(token)"}"#)
        return await read(ws, seconds: seconds) { $0["id"] as? Int == id }
    }

    /// An auth answer refusing a revoked token.
    static func refusedAsRevoked(_ answer: [String: Any]?) -> Bool {
        answer?["code"] as? String == "unauthorized" && (answer?["message"] as? String)?.hasPrefix("token revoked") == true
    }

    /// A split demo whose processes share `GATEWAY_SERVICES_JWT_SECRET`: the token the services
    /// node prints signs in on an edge (another process), and the execution of an order placed on
    /// the services node reaches that socket over NATS. An edge with its own random secret refuses
    /// the same token.
    @Test(.timeLimit(.minutes(3)))
    func aSharedSecretLetsTheServicesNodesTokenSignInOnAnEdge() async throws {
        let cluster = try DemoClusterTests.Cluster(name: "demo-secret", seconds: 90)
        defer { cluster.tearDown() }
        let (binary, dir, common) = (cluster.binary, cluster.dir, cluster.common)
        let shared = ["GATEWAY_SERVICES_JWT_SECRET": String(repeating: "k", count: 40) + "-demo-cluster"]
        let (services, servicesPort, output) = try await DemoClusterTests.startDemo(
            binary, common + ["--roles", "services", "--node", "services"], in: dir, environment: shared)
        defer { if services.isRunning { services.terminate() } }
        let (edge, edgePort, _) = try await DemoClusterTests.startDemo(binary, common + ["--roles", "edge", "--node", "edge"], in: dir, environment: shared)
        defer { if edge.isRunning { edge.terminate() } }
        let (loner, lonerPort, _) = try await DemoClusterTests.startDemo(binary, common + ["--roles", "edge", "--node", "loner"], in: dir)
        defer { if loner.isRunning { loner.terminate() } }
        let (ingest, _, _) = try await DemoClusterTests.startDemo(binary, common + ["--roles", "ingest", "--node", "ingest", "--speed", "10"], in: dir)
        defer { if ingest.isRunning { ingest.terminate() } }
        let token = try await Self.demoToken(output)

        // The edge without the shared secret: the signature does not verify.
        let other = try RawWebSocket(port: lonerPort)
        defer { other.close() }
        let refused = await Self.auth(other, token, id: 7)
        #expect(refused?["type"] as? String == "error" && refused?["code"] as? String == "unauthorized", "\(refused ?? [:])")

        // The edge with it: signed in as demo, then subscribed to demo's executions.
        let ws = try RawWebSocket(port: edgePort)
        defer { ws.close() }
        let ack = await Self.auth(ws, token, id: 1)
        #expect(ack?["type"] as? String == "ack" && ack?["user"] as? String == "demo", "\(ack ?? [:])")
        _ = ws.send(#"{"op":"subscribe","id":2,"channels":["executions.demo"]}"#)
        let subscribed = await Self.read(ws, seconds: 20) { $0["id"] as? Int == 2 }
        #expect(subscribed?["type"] as? String == "ack", "\(subscribed ?? [:])")

        // An order on the services node (once a book has come over NATS): its execution on the edge.
        var orderID: String?
        for _ in 0..<300 where orderID == nil {
            let (code, body) = try await Self.call(
                servicesPort, "POST", "/api/v1/trading/execute", token: token,
                body: #"{"venue":"binance","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.001"}"#)
            if code == 200 { orderID = body["order_id"] as? String ?? "?" } else { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(orderID != nil, "no fill on the services node")
        let execution = await Self.read(ws, seconds: 30) { $0["ch"] as? String == "executions.demo" && $0["type"] as? String == "execution" }
        #expect(execution != nil, "the execution did not reach the edge")
        if let id = orderID, id != "?", let data = execution?["data"] as? [String: Any] {
            #expect(data["order_id"] as? String == id, "\(data)")
        }
    }
    /// Through the real binaries (nats-server with JetStream): the admin revokes the demo user's
    /// tokens on the services node; the user's socket on an edge process is signed out (`revoked`),
    /// the old token is refused there, and an edge started after the revocation refuses it on its
    /// first connection.
    @Test(.timeLimit(.minutes(3)))
    func aRevocationOnTheServicesNodeSignsTheUserOutOnEveryEdge() async throws {
        let cluster = try DemoClusterTests.Cluster(name: "demo-revoke", seconds: 90, jetStream: true)
        defer { cluster.tearDown() }
        let (binary, dir, common) = (cluster.binary, cluster.dir, cluster.common)
        let admin = "demo-cluster-admin-token-0123"
        let shared = ["GATEWAY_SERVICES_JWT_SECRET": String(repeating: "r", count: 40) + "-demo-cluster", "GATEWAY_SERVICES_ADMIN_TOKEN": admin]
        let (services, servicesPort, output) = try await DemoClusterTests.startDemo(
            binary, common + ["--roles", "services", "--node", "services"], in: dir, environment: shared)
        defer { if services.isRunning { services.terminate() } }
        let (edge, edgePort, _) = try await DemoClusterTests.startDemo(binary, common + ["--roles", "edge", "--node", "edge"], in: dir, environment: shared)
        defer { if edge.isRunning { edge.terminate() } }
        let token = try await Self.demoToken(output)

        let ws = try RawWebSocket(port: edgePort)
        defer { ws.close() }
        let ack = await Self.auth(ws, token, id: 1)
        #expect(ack?["type"] as? String == "ack" && ack?["user"] as? String == "demo", "\(ack ?? [:])")
        _ = ws.send(#"{"op":"subscribe","id":2,"channels":["executions.demo"]}"#)
        #expect(await Self.read(ws, seconds: 20) { $0["id"] as? Int == 2 }?["type"] as? String == "ack")

        let started = ContinuousClock.now
        let (code, body) = try await Self.call(servicesPort, "POST", "/api/v1/users/demo/revoke-tokens", token: admin)
        #expect(code == 200 && body["user"] as? String == "demo", "\(body)")
        let out = await Self.read(ws, seconds: 20) { $0["type"] as? String == "session" }
        let took = ContinuousClock.now - started
        #expect(out?["event"] as? String == "signed_out" && out?["reason"] as? String == "revoked", "\(out ?? [:])")
        #expect(out?["channels"] as? [String] == ["executions.demo"])
        print("revocation: edge socket signed out \(took) after the REST call was sent")
        let refused = await Self.auth(ws, token, id: 3)
        #expect(Self.refusedAsRevoked(refused), "\(refused ?? [:])")

        let (late, latePort, _) = try await DemoClusterTests.startDemo(binary, common + ["--roles", "edge", "--node", "late"], in: dir, environment: shared)
        defer { if late.isRunning { late.terminate() } }
        let first = try RawWebSocket(port: latePort)
        defer { first.close() }
        let refusedLate = await Self.auth(first, token, id: 1)
        #expect(Self.refusedAsRevoked(refusedLate), "\(refusedLate ?? [:])")
        let (_, health) = try await Self.call(latePort, "GET", "/api/v1/health", token: nil)
        let r = (health["cluster"] as? [String: Any])?["revocations"] as? [String: Any]
        #expect(r?["loaded"] as? Bool == true && r?["received"] as? Int == 1, "\(health)")
    }
    /// A bucket that lost the revocation (here: a new nats-server, as when the put was given up or
    /// the NATS servers lost their storage) gets it back when the services node restarts from its
    /// store, and an edge on it then refuses the old token.
    @Test(.timeLimit(.minutes(3)))
    func aRestartedServicesNodeOffersItsStoredRevocationsAgain() async throws {
        let cluster = try DemoClusterTests.Cluster(name: "demo-revoke-restart", seconds: 90, jetStream: true)
        defer { cluster.tearDown() }
        let (binary, dir, common) = (cluster.binary, cluster.dir, cluster.common)
        let admin = "demo-cluster-admin-token-0123"
        let shared = ["GATEWAY_SERVICES_JWT_SECRET": String(repeating: "s", count: 40) + "-demo-cluster", "GATEWAY_SERVICES_ADMIN_TOKEN": admin]
        let (services, servicesPort, output) = try await DemoClusterTests.startDemo(
            binary, common + ["--roles", "services", "--node", "services"], in: dir, environment: shared)
        defer { if services.isRunning { services.terminate() } }
        let token = try await Self.demoToken(output)
        let (code, body) = try await Self.call(servicesPort, "POST", "/api/v1/users/demo/revoke-tokens", token: admin)
        #expect(code == 200 && body["stored"] as? Bool == true, "\(body)")
        services.terminate()
        services.waitUntilExit()

        // Another, empty NATS server: only the restarted services node can bring the revocation.
        let fresh = try NATSServerProcess(name: "demo-revoke-fresh", jetStream: true)
        defer { fresh.stop() }
        try fresh.start()
        var args = common
        if let i = args.firstIndex(of: "--nats") { args[i + 1] = fresh.url }
        let (again, _, _) = try await DemoClusterTests.startDemo(binary, args + ["--roles", "services", "--node", "services"], in: dir, environment: shared)
        defer { if again.isRunning { again.terminate() } }
        let (edge, edgePort, _) = try await DemoClusterTests.startDemo(binary, args + ["--roles", "edge", "--node", "edge"], in: dir, environment: shared)
        defer { if edge.isRunning { edge.terminate() } }
        var refused: [String: Any]?
        // The services node loads its store in the background: ask until the edge has the revocation.
        for attempt in 0..<100 {
            let ws = try RawWebSocket(port: edgePort)
            let answer = await Self.auth(ws, token, id: attempt, seconds: 10)
            ws.close()
            if answer?["type"] as? String == "error" {
                refused = answer
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(Self.refusedAsRevoked(refused), "\(refused ?? [:])")
    }
}
