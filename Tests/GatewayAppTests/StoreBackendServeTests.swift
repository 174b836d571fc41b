import Foundation
import Storage
import Testing
import _TestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `gateway serve` on PostgreSQL, the real binary: the start-up line and `/api/v1/health/db` name
/// the backend; a plain server with the extension installed but not preloaded falls back and
/// says what to do; a server that is down at start is used once it comes up.
@Suite("gateway serve: store backend", .serialized)
struct StoreBackendServeTests {
    struct Running {
        let process: Process
        let port: Int
        let output: () throws -> (out: String, err: String)
        var stderr: String { (try? output().err) ?? "" }
    }

    /// Starts `gateway serve` on `url` with one venue that cannot be reached (the store is what is
    /// tested here); waits for the API port.
    static func serve(_ url: String, in dir: URL) async throws -> Running {
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let config = dir.appendingPathComponent("gateway.yaml")
        try """
            log_level: info
            venues:
              binance:
                symbols: [BTC-USDT]
                ws_url: ws://127.0.0.1:1/ws
                rest_url: http://127.0.0.1:1
            storage:
              url: \(url)
              spill_dir: \(dir.path)/spill
              write_timeout: 2s
            server:
              port: 0
            """.write(to: config, atomically: true, encoding: .utf8)
        let (p, output) = try RecordReplayTests.launch(binary, ["serve", "--config", config.path], in: dir)
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while ContinuousClock.now < deadline {
            let err = (try? output().err) ?? ""
            if let range = err.range(of: "API listening on http://127.0.0.1:") {
                let digits = err[range.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits) { return Running(process: p, port: port, output: output) }
            }
            if !p.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        p.terminate()
        throw TestServerError("serve did not report its port: \((try? output().err) ?? "")")
    }

    /// GET /api/v1/health/db until `done` holds for the body (or 60 s pass); returns the last body.
    static func health(_ port: Int, until done: (String) -> Bool) async throws -> String {
        var last = ""
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while ContinuousClock.now < deadline {
            if let (data, _) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/api/v1/health/db")!) {
                last = String(decoding: data, as: UTF8.self)
                if done(last) { return last }
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        return last
    }

    /// SIGINT, then the exit status (a hang fails the test's time limit).
    static func interrupt(_ r: Running) async throws -> Int32 {
        kill(r.process.processIdentifier, SIGINT)
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while r.process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        if r.process.isRunning {
            r.process.terminate()
            Issue.record("serve did not stop within 30 s of SIGINT: \(r.stderr.suffix(1500))")
        }
        r.process.waitUntilExit()
        return r.process.terminationStatus
    }

    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("serve-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test(.timeLimit(.minutes(2)), arguments: TestServer.allCases)
    func startUpLineAndHealthNameTheBackend(server: TestServer) async throws {
        let admin = server == .timescale ? try await TestServer.requireTimescaleDB() : try server.requireAdmin()
        let installed = try await sqlValue("SELECT count(*)::text FROM pg_available_extensions WHERE name = 'timescaledb'", on: admin) == "1"
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try await ScratchDatabase.with(admin: admin) { config in
            let url = "postgres://postgres@\(config.host):\(config.port)/\(config.database!)"
            let r = try await Self.serve(url, in: dir)
            let backend = server == .timescale ? "timescaledb" : "postgresql"
            // Health asks the database, so it says timescaledb once the extension is created.
            let body = try await Self.health(r.port) { $0 == #"{"status":"ok","backend":"\#(backend)"}"# }
            #expect(body == #"{"status":"ok","backend":"\#(backend)"}"#)
            try await Self.waitFor("store: backend:", in: r)
            let status = try await Self.interrupt(r)
            let err = r.stderr
            #expect(status == 0, "\(err.suffix(2000))")
            #expect(err.contains("store: backend: \(backend)"), "\(err.suffix(2000))")
            if server == .plain && installed {
                // Installed but not preloaded: the operator is told what to do.
                #expect(err.contains("shared_preload_libraries = 'timescaledb'"), "\(err.suffix(2000))")
                #expect(err.contains("Running on plain PostgreSQL"), "\(err.suffix(2000))")
            }
        }
    }

    /// Started while PostgreSQL is down: once it is up, the store is migrated and healthy and the
    /// paper-trading accounts load (no restart needed); SIGINT then stops it promptly.
    @Test(.timeLimit(.minutes(4)))
    func startedWhileDatabaseIsDownRecoversOnceItIsUp() async throws {
        _ = try await TestServer.requireTimescaleDB()
        let cluster = try OwnCluster(timescaleDB: true)
        defer { cluster.destroy() }
        try cluster.stop()
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try await Self.serve(cluster.url, in: dir)
        // Down: health answers 503 at once (it once waited on the pool until the client gave up).
        let asked = ContinuousClock.now
        let down = try await Self.health(r.port) { $0.contains("unavailable") }
        #expect(down.contains("\"status\":\"unavailable\""), "\(down)")
        #expect(ContinuousClock.now - asked < .seconds(10))
        try await Task.sleep(for: .seconds(3))
        try cluster.start()
        let up = try await Self.health(r.port) { $0.contains("\"status\":\"ok\"") }
        #expect(up.contains("\"status\":\"ok\""), "\(up); \(r.stderr.suffix(2000))")
        // Migrated while running: the schema is there.
        let config = try PostgresConfiguration(url: cluster.url)
        #expect(try await sqlValue("SELECT count(*)::text FROM schema_migrations WHERE version IN (1, 2)", on: config) == "2")
        // The store migrates once the server is up (the start-up line), without a restart.
        try await Self.waitFor("store: backend: timescaledb", in: r)
        let status = try await Self.interrupt(r)
        #expect(status == 0, "\(r.stderr.suffix(2000))")
    }

    /// Waits (up to 90 s) for `text` in the gateway's stderr.
    static func waitFor(_ text: String, in r: Running) async throws {
        let deadline = ContinuousClock.now.advanced(by: .seconds(90))
        while ContinuousClock.now < deadline {
            if r.stderr.contains(text) { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        Issue.record("no '\(text)' in stderr: \(r.stderr.suffix(3000))")
    }
}
