import Foundation
import Synchronization
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

/// A headless Chromium (one tab) driven over the DevTools protocol (its websocket, with the tests' own
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
        // Chromium writes the port it picked and the browser's DevTools path to DevToolsActivePort.
        var found: (Int, String)?
        for _ in 0..<300 where found == nil {
            if let text = try? String(contentsOf: profile.appendingPathComponent("DevToolsActivePort"), encoding: .utf8) {
                let lines = text.split(separator: "\n")
                if lines.count >= 2, let n = Int(lines[0]) { found = (n, String(lines[1])) }
            }
            if found == nil { Thread.sleep(forTimeInterval: 0.1) }
        }
        guard let found else {
            p.terminate()
            throw CommandError("chromium did not open its DevTools port")
        }
        port = found.0
        // The browser target's websocket (Chromium's HTTP endpoints write headers FoundationNetworking
        // cannot read, so pages are reached through it: Target.attachToTarget with flat sessions).
        do {
            socket = try RawWebSocket(port: found.0, path: found.1)
        } catch {
            p.terminate()
            throw error
        }
    }

    let socket: RawWebSocket

    /// The tab Chromium opened at start (about:blank), attached as a flat session on the browser socket.
    func newPage() throws -> BrowserPage {
        let session = BrowserPage(socket: socket, sessionID: nil)
        let targets = try session.call("Target.getTargets")["targetInfos"] as? [[String: Any]] ?? []
        guard let id = targets.first(where: { $0["type"] as? String == "page" })?["targetId"] as? String else {
            throw CommandError("chromium has no page: \(targets)")
        }
        let attached = try session.call("Target.attachToTarget", ["targetId": id, "flatten": true])
        guard let sessionID = attached["sessionId"] as? String else { throw CommandError("attach: \(attached)") }
        let page = BrowserPage(socket: socket, sessionID: sessionID)
        try page.enable()
        return page
    }

    func close() {
        socket.close()
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
    /// The flat session of the tab (nil: the browser target itself).
    let sessionID: String?
    private static let ids = Mutex(1)
    /// Console errors, uncaught exceptions and failed loads, as text.
    private(set) var errors: [String] = []
    private(set) var consoleLines: [String] = []

    init(socket: RawWebSocket, sessionID: String?) {
        self.socket = socket
        self.sessionID = sessionID
    }

    func enable() throws {
        try call("Runtime.enable")
        try call("Log.enable")
        try call("Page.enable")
        try call("Network.enable")
    }

    /// Sends a command and returns its `result`; a DevTools error throws.
    @discardableResult
    func call(_ method: String, _ params: [String: Any] = [:], timeout: Double = 30) throws -> [String: Any] {
        let id = Self.ids.withLock { n in
            defer { n += 1 }
            return n
        }
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if let sessionID { message["sessionId"] = sessionID }
        let body = try JSONSerialization.data(withJSONObject: message)
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
        guard event["sessionId"] as? String == sessionID else { return }
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

    /// Detaches (the browser's socket stays open; closing the browser closes it).
    func close() {
        if let sessionID { _ = try? call("Target.detachFromTarget", ["sessionId": sessionID]) }
    }
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
