import Bus
import FanOut
import Foundation
import Hummingbird
import Logging
import MarketCore
import Synchronization
import Testing
import _TestSupport

/// A fan-out server on 127.0.0.1 (port 0) over a fresh bus, stopped at the end of `body`.
///
/// Routes besides `/ws`: `GET /hello` ("hi") and `POST /echo` (the body's length, read whole: the
/// server's own limits are what stop a large one).
func withFanOut(
    options: FanOutOptions = FanOutOptions(), history: Int = 1024,
    instruments: [String: Set<String>]? = nil,
    authenticate: FanOutHub.TokenCheck? = nil, sessions: FanOutHub.SessionCheck? = nil, tls: ServerTLS? = nil,
    clock: FanOutClock = .system,
    _ body: @Sendable (MarketBus, FanOutHub, Int) async throws -> Void
) async throws {
    var busOptions = MarketBus.Options()
    busOptions.historyPerChannel = history
    let bus = MarketBus(options: busOptions, bootID: "test")
    var logger = Logger(label: "fanout-test")
    logger.logLevel = .warning
    let hub = FanOutHub(
        bus: bus, options: options, venues: ["binance", "okx", "coinbase", "kraken", "bybit", "binance-usdm", "bench"],
        intervals: ["1m", "5m"], instruments: instruments, authenticate: authenticate, sessions: sessions, tls: tls, clock: clock, logger: logger)
    let router = Router()
    router.get("/hello") { _, _ in "hi" }
    router.post("/echo") { req, _ in
        var req = req
        let body = try await req.collectBody(upTo: .max)
        return "\(body.readableBytes)"
    }
    let port = Mutex<Int?>(nil)
    let app = FanOutServer.makeApplication(
        hub: hub, router: router, host: "127.0.0.1", port: 0, logger: logger, onListening: { p in port.withLock { $0 = p } })
    let server = TestHTTPServer(app, logger: logger)
    defer { server.stop() }
    var bound: Int?
    for _ in 0..<500 {
        bound = port.withLock { $0 }
        if bound != nil { break }
        try await Task.sleep(for: .milliseconds(10))
    }
    let p = try #require(bound)
    try await body(bus, hub, p)
    await hub.shutdown()
    await server.stopAndWait()
}

/// Waits (bounded) until `condition` holds; records an issue and throws when it does not.
func eventually(_ what: String, seconds: Double = 20, _ condition: @Sendable () async -> Bool) async throws {
    guard await waitUntil(seconds: seconds, condition) else {
        Issue.record("timed out waiting for \(what)")
        throw CancellationError()
    }
}

extension [String: Any] {
    var int: (String) -> Int? { { (self[$0] as? NSNumber)?.intValue } }
    var type: String? { self["type"] as? String }
    var ch: String? { self["ch"] as? String }
    var seq: Int? { (self["seq"] as? NSNumber)?.intValue }
    var dataObject: [String: Any]? { self["data"] as? [String: Any] }
}
