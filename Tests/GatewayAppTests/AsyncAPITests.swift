import Bus
import Foundation
import Testing
import Yams
import _TestSupport

/// docs/asyncapi.yaml against the server: its channel kinds and error codes are the server's,
/// every frame a running demo sends matches the document's schemas (scripts/check-asyncapi.py),
/// and the client examples (Python, browser JavaScript) run against the demo.
@Suite("AsyncAPI and client examples", .serialized)
struct AsyncAPITests {
    static func document() throws -> [String: Any] {
        let text = try String(contentsOfFile: Fixtures.repository("docs/asyncapi.yaml"), encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    static func schema(_ doc: [String: Any], _ path: [String]) -> [String: Any]? {
        var node: Any? = doc
        for key in path { node = (node as? [String: Any])?[key] }
        return node as? [String: Any]
    }

    @Test func theDocumentNamesTheServersChannelKindsAndErrorCodes() throws {
        let doc = try Self.document()
        #expect(doc["asyncapi"] as? String == "3.0.0")
        // Error codes: the FanOut server's ErrorCode cases (read from its source: the enum is internal).
        let source = try String(contentsOfFile: Fixtures.repository("Sources/FanOut/ClientProtocolCodes.swift"), encoding: .utf8)
        let block = try #require(source.firstRange(of: /enum ErrorCode[^{]*\{[^}]*\}/).map { String(source[$0]) })
        let serverCodes = Set(block.matches(of: /case (\w+)(?: = "(\w+)")?/).map { m in m.2.map(String.init) ?? String(m.1) })
        #expect(serverCodes.count >= 9, "\(serverCodes)")
        let codes = Set(Self.schema(doc, ["components", "messages", "Error", "payload", "properties", "code"])?["enum"] as? [String] ?? [])
        // The codes sent in error frames: the ones docs/protocol.md's error table lists, all of
        // them the server's (one more is only counted: connections failed with close 1002).
        let protocolPage = try String(contentsOfFile: Fixtures.repository("docs/protocol.md"), encoding: .utf8)
        let tabled = Set(protocolPage.matches(of: /\n\| `([a-z_]+)` \| [^\n]*\| stays open \|/).map { String($0.1) })
        #expect(tabled.count >= 9, "\(tabled)")
        #expect(codes == tabled, "asyncapi \(codes.sorted()), protocol.md \(tabled.sorted())")
        #expect(codes.isSubset(of: serverCodes), "\(codes.subtracting(serverCodes))")
        let kinds = Self.schema(doc, ["components", "schemas", "ChannelKind"])?["enum"] as? [String]
        #expect(Set(kinds ?? []) == Set(ChannelKind.allCases.map(\.rawValue)))
        // Data frame types: CONTRACTS.md's list.
        var types: Set<String> = []
        for (name, message) in (Self.schema(doc, ["components", "schemas"]) ?? [:]) where name.hasSuffix("Frame") {
            let parts = (message as? [String: Any])?["allOf"] as? [[String: Any]] ?? []
            for p in parts {
                if let t = ((p["properties"] as? [String: Any])?["type"] as? [String: Any])?["const"] as? String { types.insert(t) }
            }
        }
        #expect(types == ["trade", "candle", "book_snapshot", "ticker", "status", "execution", "mood_update", "signal"])
    }

    @Test(.timeLimit(.minutes(4)))
    func framesMatchTheDocumentAndTheExamplesRun() async throws {
        let python = try #require(PageTools.python, "python venv \(PageTools.missing)")
        let demo = try await PageDemo()
        defer { demo.stop() }
        _ = await waitUntil(seconds: 30) { (try? demo.request("/api/v1/market/orderbook/BTC-USDT?venue=binance").0) == 200 }

        // Every frame of a long session, good and bad requests included, matches the document.
        let check = try await onThread {
            Result {
                try Command.run([
                    python, Fixtures.repository("scripts/check-asyncapi.py"), "--doc", Fixtures.repository("docs/asyncapi.yaml"),
                    "--base", demo.base, "--token", demo.token, "--user", "demo", "--seconds", "15",
                ])
            }
        }.get()
        #expect(check.status == 0, "check-asyncapi.py:\n\(check.stdout.suffix(4000))\n\(check.stderr.suffix(2000))")
        let summary = (try? JSONSerialization.jsonObject(with: Data(check.stdout.utf8))) as? [String: Any]
        let seen = summary?["seen"] as? [String: Int] ?? [:]
        #expect((seen["trade"] ?? 0) > 0 && (seen["execution"] ?? 0) > 0, "\(seen)")

        // The Python example streams and exits after --count frames.
        let example = try await onThread {
            Result {
                try Command.run([
                    python, Fixtures.repository("examples/python/stream.py"), "--url", "ws://127.0.0.1:\(demo.port)/ws",
                    "--channel", "trades.binance.BTC-USDT", "--channel", "candles.1m.binance.BTC-USDT", "--count", "30",
                ])
            }
        }.get()
        #expect(example.status == 0, "stream.py: \(example.stdout.suffix(2000)) \(example.stderr.suffix(2000))")
        let lines = example.stdout.split(separator: "\n")
        #expect(lines.filter { $0.contains(" trade ") }.count > 0 && lines.filter { $0.contains(" candle ") }.count > 0, "\(lines.prefix(40))")
        #expect(lines.filter { $0.hasPrefix("trades.") || $0.hasPrefix("candles.") }.count == 30)

        // The browser example, opened from disk in Chromium, streams from the demo.
        let browser = try Browser()
        defer { browser.close() }
        let page = try browser.newPage()
        defer { page.close() }
        let file = URL(fileURLWithPath: Fixtures.repository("examples/browser/index.html")).absoluteString
        try page.navigate("\(file)?ws=ws://127.0.0.1:\(demo.port)/ws")
        let streamed = try page.waitFor(
            "parseInt(document.body.dataset.frames) >= 30 && ['book_snapshot','candle','trade'].every(t => (document.body.dataset.types || '').split(',').includes(t))",
            seconds: 40)
        let state = try page.evaluate("JSON.stringify(document.body.dataset)") as? String
        #expect(streamed, "browser example: \(state ?? "")")
        #expect(try page.evaluate("document.body.dataset.gaps") as? String == "0", "\(state ?? "")")
        page.drainEvents()
        #expect(page.errors.isEmpty, "console errors: \(page.errors)")
    }
}
