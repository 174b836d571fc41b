import Foundation
import Synchronization
import Testing
import _TestSupport

/// A client that is not misbehaving, watched while another one loads a limit: on its own thread
/// it pings over its websocket and fetches `GET /hello` over HTTP, one after the other, five
/// times a second, until stopped. Loads run for at least a second and a half, so there are samples
/// taken during the load. The test asserts every ping and every request was answered and the worst round trip
/// stayed under a generous bound: the limited client must not starve the others.
final class Bystander: Sendable {
    struct Report {
        var pings = 0
        var unanswered = 0
        var worstPing = 0.0
        var requests = 0
        var failedRequests = 0
        var worstRequest = 0.0
    }

    private let report = Mutex(Report())
    private let stopped = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)

    /// Connects now (from `source`, default 127.0.0.1) and starts sampling.
    init(port: Int, source: String? = nil) throws {
        let ws = try RawWebSocket(port: port, source: source)
        Thread.detachNewThread { [self] in
            var id = 0
            while !stopped.load(ordering: .relaxed) {
                id += 1
                let rtt = ws.pingRoundTrip(id: id, timeout: 10)
                let start = Date()
                let response = try? RawHTTP.exchange(port: port, request: RawHTTP.get("/hello"), source: source, timeout: 10)
                let took = Date().timeIntervalSince(start)
                report.withLock { r in
                    r.pings += 1
                    if let rtt { r.worstPing = max(r.worstPing, rtt) } else { r.unanswered += 1 }
                    r.requests += 1
                    if response?.status == 200 && response?.body == "hi" { r.worstRequest = max(r.worstRequest, took) } else { r.failedRequests += 1 }
                }
                // Five samples a second: under every per-connection limit the tests set.
                Thread.sleep(forTimeInterval: 0.2)
            }
            ws.close()
            finished.store(true, ordering: .relaxed)
        }
    }

    /// Stops sampling and checks the bystander was served throughout: at least `minimum` samples,
    /// none unanswered, each round trip under `bound` seconds.
    /// Prints a `figure:` line for docs/faults.md, named after the calling test.
    func stopAndCheck(
        bound: Double = 3, minimum: Int = 3, scenario: String = #function, sourceLocation: SourceLocation = #_sourceLocation
    ) async -> Report {
        stopped.store(true, ordering: .relaxed)
        while !finished.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(10)) }
        let r = report.withLock { $0 }
        print("figure: bystander during \(scenario): \(r.pings) pings, \(r.unanswered) unanswered, worst ping \(Int(r.worstPing * 1000)) ms; \(r.requests) HTTP requests, \(r.failedRequests) failed, worst \(Int(r.worstRequest * 1000)) ms")
        #expect(r.pings >= minimum, "bystander samples: \(r)", sourceLocation: sourceLocation)
        #expect(r.unanswered == 0, "bystander pings unanswered: \(r)", sourceLocation: sourceLocation)
        #expect(r.failedRequests == 0, "bystander HTTP requests failed: \(r)", sourceLocation: sourceLocation)
        #expect(r.worstPing < bound, "bystander worst ping round trip \(r.worstPing) s", sourceLocation: sourceLocation)
        #expect(r.worstRequest < bound, "bystander worst HTTP round trip \(r.worstRequest) s", sourceLocation: sourceLocation)
        return r
    }
}
