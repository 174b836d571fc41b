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
}
