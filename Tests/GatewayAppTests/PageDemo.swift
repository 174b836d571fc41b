import Foundation
import Testing
import _TestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A running `gateway demo` (the real binary, on the shipped captures) for the page tests: its
/// port, the demo user's token, and plain HTTP helpers.
final class PageDemo: @unchecked Sendable {
    let process: Process
    let directory: URL
    let output: () throws -> (out: String, err: String)
    let port: Int
    /// The demo user's JWT (printed by the demo).
    let token: String

    var base: String { "http://127.0.0.1:\(port)" }

    /// Starts the demo and waits for its port and the demo user's token.
    init(speed: Int = 10) async throws {
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pages-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        (process, output) = try RecordReplayTests.launch(
            binary,
            ["demo", "--port", "0", "--data-dir", directory.appendingPathComponent("data").path,
             "--feeds", Fixtures.repository("feeds"), "--speed", String(speed)],
            in: directory)
        var port: Int?
        var token: String?
        for _ in 0..<1200 where port == nil || token == nil {
            let out = (try? output().out) ?? ""
            if let r = out.range(of: "serving ws://127.0.0.1:") { port = Int(out[r.upperBound...].prefix { $0.isNumber }) }
            // The line after "paper-trading user 'demo'" is "demo:   <token>".
            let lines = out.split(separator: "\n")
            if let i = lines.firstIndex(where: { $0.contains("paper-trading user 'demo'") }), i + 1 < lines.count {
                token = lines[i + 1].replacingOccurrences(of: "demo:", with: "").trimmingCharacters(in: .whitespaces)
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let port, let token else {
            let o = try? output()
            process.terminate()
            throw CommandError("demo did not start: \(o?.out.suffix(1500) ?? "") \(o?.err.suffix(1500) ?? "")")
        }
        self.port = port
        self.token = token
    }

    /// GET (or another method) returning status and body.
    func request(_ path: String, method: String = "GET", token: String? = nil, body: String? = nil) throws -> (Int, Data) {
        var r = URLRequest(url: URL(string: base + path)!)
        r.httpMethod = method
        if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            r.httpBody = Data(body.utf8)
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try blockingData(r)
        return (response.statusCode, data)
    }

    func json(_ path: String, token: String? = nil) throws -> [String: Any] {
        let (status, data) = try request(path, token: token)
        guard status == 200, let o = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CommandError("GET \(path): \(status) \(String(decoding: data, as: UTF8.self).prefix(300))")
        }
        return o
    }

    func metricsText() throws -> String {
        String(decoding: try request("/metrics").1, as: UTF8.self)
    }

    /// The venues the demo carries.
    func venues() throws -> [String] {
        let list = try json("/api/v1/market/instruments")["instruments"] as? [[String: Any]] ?? []
        return Set(list.compactMap { $0["venue"] as? String }).sorted()
    }

    /// Stops the demo (SIGTERM) and removes its directory; returns its stderr.
    @discardableResult
    func stop() -> String {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        let err = (try? output().err) ?? ""
        try? FileManager.default.removeItem(at: directory)
        return err
    }

    deinit { stop() }
}

/// Where page tests put screenshots: `MARKETGATEWAY_SCREENSHOTS_DIR` (docs/ when refreshing the
/// README's pictures), else nowhere.
var screenshotDirectory: String? {
    ProcessInfo.processInfo.environment["MARKETGATEWAY_SCREENSHOTS_DIR"].flatMap { $0.isEmpty ? nil : $0 }
}
