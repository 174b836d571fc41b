import Bus
import FanOut
import Feeds
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Services
import Storage
import Testing
import _TestSupport
@testable import GatewayApp

/// `GET /openapi.json` describes exactly the routes the serving gateway's router has, and the
/// running demo answers as the document says (schemathesis, a bounded number of examples).
@Suite("OpenAPI", .serialized)
struct OpenAPITests {
    /// The `add…Routes` calls of the serving gateway (ServeRun.swift); the router below makes the
    /// same ones, and the test fails when ServeRun gains a call this list lacks.
    static let registrations = ["install", "addMarketRoutes", "addServiceRoutes", "addNotificationRoutes", "addStrategyRoutes", "addOpsRoutes", "addPageRoutes", "addOpenAPIRoutes"]

    /// The serving gateway's router, built with the same calls as ``ServeRun``.
    static func servingRouter(in dir: String) async throws -> Router<BasicRequestContext> {
        var logger = Logger(label: "openapi-test")
        logger.logLevel = .critical
        let store = try await SQLiteStore(path: dir + "/g.sqlite", logger: logger)
        let bus = MarketBus()
        let hub = FanOutHub(bus: bus, venues: ["binance"], intervals: ["1m"], logger: logger)
        let services = ServiceSuite(options: ServiceOptions(), bus: bus, store: store, authority: nil, logger: logger)
        let feed = LiveFeed(feeds: [], options: PipelineOptions(), logger: logger)
        let writer = StoreWriter(store: store, options: StoreWriterOptions(spillDirectory: dir + "/spill"), logger: logger)
        let router = Router()
        try AccessControl(configuration: GatewayConfiguration(), authority: nil, services: services).install(on: router, hub: hub)
        addMarketRoutes(to: router, store: store, liveBooks: feed, instruments: [])
        addServiceRoutes(to: router, services: services)
        addNotificationRoutes(to: router, services: services)
        addStrategyRoutes(to: router, services: services, registry: StrategyRegistry(history: storeHistory(store)), store: store)
        addOpsRoutes(to: router, health: HealthSources(bus: bus, hub: hub, writer: writer, feed: feed))
        addPageRoutes(to: router, ops: OpsSampler(feed: feed, writer: writer, configuration: GatewayConfiguration()))
        addOpenAPIRoutes(to: router, logger: logger)
        await store.close()
        return router
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() async throws {
        let dir = try makeTempDirectory("openapi")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // ServeRun makes no route registration this test does not.
        let serveRun = try String(contentsOfFile: Fixtures.repository("Sources/GatewayApp/Live/ServeRun.swift"), encoding: .utf8)
        let calls = Set(serveRun.matches(of: /(add[A-Za-z]+Routes|\.install)\((?:to|on): router/).map { String($0.1).replacingOccurrences(of: ".", with: "") })
        #expect(calls == Set(Self.registrations), "ServeRun registers \(calls.sorted())")

        let router = try await Self.servingRouter(in: dir)
        let routes = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        let full = try #require(OpenAPIDocument.load(), "openapi.yaml missing from the bundle")
        let documented = OpenAPIDocument.operations(full)
        #expect(routes.count >= 20, "\(routes.sorted())")
        #expect(routes.subtracting(documented).isEmpty, "routes missing from openapi.yaml: \(routes.subtracting(documented).sorted())")
        #expect(documented.subtracting(routes).isEmpty, "documented but not routed: \(documented.subtracting(routes).sorted())")
        #expect(full["openapi"] as? String == "3.1.0")
        #expect(((full["info"] as? [String: Any])?["version"] as? String) == GatewayVersion.current)

        // What the router serves at /openapi.json is that document, as JSON.
        let app = Application(router: router)
        try await app.test(.router) { client in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                let served = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
                #expect(OpenAPIDocument.operations(served) == documented)
                // Every operation says who may call it and what its errors look like.
                for (path, item) in served["paths"] as? [String: [String: Any]] ?? [:] {
                    for (method, op) in item where OpenAPIDocument.methods.contains(method) {
                        let responses = (op as? [String: Any])?["responses"] as? [String: Any] ?? [:]
                        #expect(responses.keys.contains { $0.hasPrefix("2") }, "\(method) \(path) has no success response")
                        if path.hasPrefix("/api/v1/trading") || path.hasPrefix("/api/v1/mood") || path.hasPrefix("/api/v1/agents") || path.hasPrefix("/api/v1/users") {
                            #expect((op as? [String: Any])?["security"] != nil, "\(method) \(path) names no auth")
                            #expect(responses["401"] != nil, "\(method) \(path) documents no 401")
                        }
                    }
                }
            }
        }
    }

    /// `gateway api` serves the market routes only, and its /openapi.json says so.
    @Test func theStoreOnlyServerDocumentsItsOwnRoutes() async throws {
        let full = try #require(OpenAPIDocument.load())
        let cut = OpenAPIDocument.restricted(full, to: ["GET /api/v1/health/db", "GET /openapi.json"])
        #expect(OpenAPIDocument.operations(cut) == ["GET /api/v1/health/db", "GET /openapi.json"])
        #expect((cut["components"] as? [String: Any])?["schemas"] != nil)
    }

    /// The ops sampler reads /metrics back with this parser.
    @Test func expositionLinesAreRead() {
        let text = """
            # HELP feed_frames_total Websocket frames received from the venue.
            # TYPE feed_frames_total counter
            feed_frames_total{venue="binance"} 1234
            feed_frames_total{venue="coinbase"} 5
            store_batch_duration_seconds_bucket{store="default",table="trades",le="+Inf"} 3
            store_batch_duration_seconds_sum{store="default",table="trades"} 0.25
            gateway_ws_clients 2
            odd{detail="a \\"quoted\\", b"} 1.5e3
            """
        let series = Exposition.parse(Array(text.utf8))
        #expect(series.count == 5)
        #expect(Exposition.sum(series, "feed_frames_total") == 1239)
        #expect(Exposition.sum(series, "feed_frames_total", matching: ["venue": "coinbase"]) == 5)
        #expect(Exposition.sum(series, "store_batch_duration_seconds_sum", matching: ["table": "trades"]) == 0.25)
        #expect(Exposition.sum(series, "gateway_ws_clients") == 2)
        #expect(series.last == MetricSeries(name: "odd", labels: ["detail": "a \"quoted\", b"], value: 1500))
    }

    /// schemathesis against the running demo: every operation with a bounded number of generated
    /// requests (the demo user's token on all of them), every answer as documented: status codes
    /// included, so a 5xx the document does not list fails. Not `not_a_server_error`: the demo's
    /// captures loop, and at a loop boundary the live book resyncs, when the orderbook route's
    /// documented 503 `book_resyncing` is the right answer.
    @Test(.timeLimit(.minutes(8)))
    func theDemoAnswersAsTheDocumentSays() async throws {
        let python = try #require(PageTools.python, "python venv \(PageTools.missing)")
        let demo = try await PageDemo()
        defer { demo.stop() }
        // Let the books synchronize so the orderbook and trading answers are the real ones.
        _ = await waitUntil(seconds: 20) { (try? demo.request("/api/v1/market/orderbook/BTC-USDT?venue=binance").0) == 200 }
        let schemathesis = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("schemathesis").path
        let report = demo.directory.appendingPathComponent("junit.xml").path
        let result = try await onThread {
            Result {
                // From the demo's directory: schemathesis keeps a cache in its working directory.
                try Command.run([
                    "/usr/bin/env", "--chdir=\(demo.directory.path)", schemathesis, "run", "\(demo.base)/openapi.json", "--url", demo.base,
                    "--checks", "status_code_conformance,content_type_conformance,response_schema_conformance",
                    "--phases", "examples,coverage,fuzzing", "--max-examples", "15", "--seed", "19", "--workers", "1", "--rate-limit", "15/s",
                    "--request-timeout", "10", "--generation-database", "none",
                    "--header", "Authorization: Bearer \(demo.token)", "--no-color", "--report", "junit", "--report-junit-path", report,
                ])
            }
        }.get()
        let tail = (result.stdout + result.stderr).suffix(6000)
        #expect(result.status == 0, "schemathesis exit \(result.status):\n\(tail)")
        // It ran: every operation was exercised.
        let junit = (try? String(contentsOfFile: report, encoding: .utf8)) ?? ""
        let cases = junit.components(separatedBy: "<testcase ").count - 1
        #expect(cases >= 20, "schemathesis ran \(cases) operations:\n\(tail)")
    }
}
