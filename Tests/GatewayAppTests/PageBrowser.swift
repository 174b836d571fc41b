import Foundation
import Testing
import _TestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where the page tests find their tools. `scripts/test.sh` installs them (Debian's `chromium` and
/// `prometheus` for promtool, a Python venv with schemathesis and websockets) and exports these;
/// without it the usual places are tried. A missing tool fails the test: a page test that skips
/// proves nothing.
enum PageTools {
    static func path(_ variable: String, _ candidates: [String]) -> String? {
        if let p = ProcessInfo.processInfo.environment[variable], FileManager.default.isExecutableFile(atPath: p) { return p }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static var chromium: String? {
        path("MARKETGATEWAY_TEST_CHROMIUM", ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"])
    }

    static var python: String? {
        path("MARKETGATEWAY_TEST_PYTHON", [Fixtures.repository(".build/pyenv/bin/python")])
    }

    static var promtool: String? { path("MARKETGATEWAY_TEST_PROMTOOL", ["/usr/bin/promtool"]) }

    static let missing = "not installed: run `bash scripts/test.sh` (it installs chromium, promtool and the Python venv), or set MARKETGATEWAY_TEST_CHROMIUM / _PYTHON / _PROMTOOL"
}

/// A headless Chromium driven over the DevTools protocol (its websocket, with the tests' own
/// ``RawWebSocket``): navigate, evaluate, wait, screenshot, and collect console errors.
final class Browser: @unchecked Sendable {
    let process: Process
    let profile: URL
    let port: Int

    init() throws {
        guard let chromium = PageTools.chromium else { throw CommandError("chromium " + PageTools.missing) }
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        p.arguments = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--hide-scrollbars", "--window-size=1440,1100",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--user-data-dir=\(profile.path)",
            "about:blank",
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        // Chromium writes the port it picked to DevToolsActivePort in the profile.
        var found: Int?
        for _ in 0..<300 where found == nil {
            if let text = try? String(contentsOf: profile.appendingPathComponent("DevToolsActivePort"), encoding: .utf8),
                let first = text.split(separator: "\n").first, let n = Int(first)
            {
                found = n
            } else {
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        guard let found else {
            p.terminate()
            throw CommandError("chromium did not open its DevTools port")
        }
        port = found
    }

    /// A new tab.
    func newPage() throws -> BrowserPage {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/json/new?about:blank")!)
        request.httpMethod = "PUT"
        let (data, _) = try blockingData(request)
        guard let o = try JSONSerialization.jsonObject(with: data) as? [String: Any], let id = o["id"] as? String else {
            throw CommandError("chromium /json/new answered \(String(decoding: data, as: UTF8.self))")
        }
        return try BrowserPage(socket: RawWebSocket(port: port, path: "/devtools/page/\(id)"))
    }

    func close() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: profile)
    }

    deinit { close() }
}

/// One tab: DevTools commands are answered in order; events seen meanwhile are kept.
final class BrowserPage: @unchecked Sendable {
    let socket: RawWebSocket
    private var nextID = 1
    /// Console errors, uncaught exceptions and failed loads, as text.
    private(set) var errors: [String] = []
    private(set) var consoleLines: [String] = []

    init(socket: RawWebSocket) throws {
        self.socket = socket
        _ = try call("Runtime.enable")
        _ = try call("Log.enable")
        _ = try call("Page.enable")
        _ = try call("Network.enable")
    }

    /// Sends a command and returns its `result`; a DevTools error throws.
    @discardableResult
    func call(_ method: String, _ params: [String: Any] = [:], timeout: Double = 30) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        let body = try JSONSerialization.data(withJSONObject: ["id": id, "method": method, "params": params])
        socket.send(String(decoding: body, as: UTF8.self))
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let frame = socket.readFrame(timeout: max(0.1, deadline.timeIntervalSinceNow)), frame.opcode == 0x1,
                let o = (try? JSONSerialization.jsonObject(with: Data(frame.payload))) as? [String: Any]
            else { continue }
            if let got = o["id"] as? Int, got == id {
                if let error = o["error"] as? [String: Any] { throw CommandError("\(method): \(error)") }
                return (o["result"] as? [String: Any]) ?? [:]
            }
            record(o)
        }
        throw CommandError("\(method): no answer in \(timeout) s")
    }

    private func record(_ event: [String: Any]) {
        let params = event["params"] as? [String: Any] ?? [:]
        switch event["method"] as? String {
        case "Runtime.consoleAPICalled":
            let args = (params["args"] as? [[String: Any]] ?? []).map { "\($0["value"] ?? $0["description"] ?? "")" }.joined(separator: " ")
            consoleLines.append("\(params["type"] ?? ""): \(args)")
            if params["type"] as? String == "error" || params["type"] as? String == "assert" { errors.append("console.error: \(args)") }
        case "Runtime.exceptionThrown":
            let details = params["exceptionDetails"] as? [String: Any] ?? [:]
            let exception = details["exception"] as? [String: Any] ?? [:]
            errors.append("uncaught: \(exception["description"] ?? details["text"] ?? "")")
        case "Log.entryAdded":
            let entry = params["entry"] as? [String: Any] ?? [:]
            if entry["level"] as? String == "error" { errors.append("log: \(entry["text"] ?? "") \(entry["url"] ?? "")") }
        case "Network.loadingFailed":
            // A socket the page closes itself on navigation is not a failure of the page.
            if params["canceled"] as? Bool != true { errors.append("load failed: \(params["errorText"] ?? "")") }
        default:
            break
        }
    }

    /// Reads pending events (console messages arrive without a command).
    func drainEvents() {
        while let frame = socket.readFrame(timeout: 0.05) {
            if frame.opcode == 0x1, let o = (try? JSONSerialization.jsonObject(with: Data(frame.payload))) as? [String: Any] { record(o) }
        }
    }

    func navigate(_ url: String) throws {
        try call("Page.navigate", ["url": url])
        // Wait for the document (scripts at the end of the body have run when it is complete).
        _ = try waitFor("document.readyState === 'complete'", seconds: 20)
    }

    /// Evaluates `expression` (promises awaited) and returns its JSON value.
    func evaluate(_ expression: String) throws -> Any? {
        let r = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true])
        if let e = r["exceptionDetails"] as? [String: Any] {
            throw CommandError("evaluate \(expression.prefix(80)): \((e["exception"] as? [String: Any])?["description"] ?? e["text"] ?? "")")
        }
        return (r["result"] as? [String: Any])?["value"]
    }

    /// Polls `condition` (a JS expression) until it is truthy; returns whether it became so.
    func waitFor(_ condition: String, seconds: Double) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let v = try evaluate("!!(\(condition))") as? Bool, v { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return false
    }

    /// A full-page PNG.
    func screenshot(to path: String) throws {
        let r = try call("Page.captureScreenshot", ["format": "png", "captureBeyondViewport": true], timeout: 60)
        guard let text = r["data"] as? String, let data = Data(base64Encoded: text) else { throw CommandError("no screenshot data") }
        try data.write(to: URL(fileURLWithPath: path))
    }

    func close() { socket.close() }
}

/// A blocking HTTP request (the CDP client is synchronous; this keeps it off async APIs).
func blockingData(_ request: URLRequest) throws -> (Data, HTTPURLResponse) {
    final class Box: @unchecked Sendable {
        var result: Result<(Data, HTTPURLResponse), any Error> = .failure(CommandError("no answer"))
    }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    URLSession.shared.dataTask(with: request) { data, response, error in
        if let data, let http = response as? HTTPURLResponse {
            box.result = .success((data, http))
        } else {
            box.result = .failure(error ?? CommandError("no response"))
        }
        done.signal()
    }.resume()
    guard done.wait(timeout: .now() + 30) == .success else { throw CommandError("\(request.url!): no answer in 30 s") }
    return try box.result.get()
}
