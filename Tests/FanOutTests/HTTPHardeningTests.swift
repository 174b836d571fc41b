import Bus
import FanOut
import Foundation
import MarketCore
import Synchronization
import Testing
import _TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Issue 16, defect 6 and the connection limits: timeouts on the HTTP/upgrade path, request size
/// limits answered with their status, connections per address, handshakes per second. Each test
/// failed on the code before the fix (noted per test); the loaded ones run a ``Bystander``.
@Suite("Fan-out HTTP hardening", .serialized, .timeLimit(.minutes(1)))
struct HTTPHardeningTests {
    /// Old code: 300 half-open upgrades stayed open 40 s (no timeout before the request head).
    @Test func slowAndSilentConnectionsAreCutAfterTheHandshakeTimeout() async throws {
        var options = FanOutOptions()
        options.handshakeTimeout = .seconds(1)
        try await withFanOut(options: options) { _, hub, port in
            let bystander = try Bystander(port: port)
            // 50 silent sockets and 50 that trickle an upgrade request a byte at a time.
            let silent = try (0..<50).map { _ in try RawWebSocket.connectTCP(port: port) }
            let trickling = try (0..<50).map { _ in try RawWebSocket.connectTCP(port: port) }
            let request = Array("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n".utf8)
            let start = Date()
            let closedAfter = await onThread { () -> Double? in
                var i = 0
                var open = Set(trickling)
                while !open.isEmpty, Date().timeIntervalSince(start) < 15 {
                    for fd in open {
                        let b = [request[i % request.count]]
                        if Glibc.send(fd, b, 1, Int32(MSG_NOSIGNAL)) <= 0 || RawWebSocket.waitForClose(fd: fd, timeout: 0.001) {
                            open.remove(fd)
                        }
                    }
                    i += 1
                    Thread.sleep(forTimeInterval: 0.1)
                }
                return open.isEmpty ? Date().timeIntervalSince(start) : nil
            }
            let silentClosed = await onThread { silent.allSatisfy { RawWebSocket.waitForClose(fd: $0, timeout: 10) } }
            for fd in silent + trickling { close(fd) }
            _ = await bystander.stopAndCheck()
            let after = try #require(closedAfter, "trickling connections still open after 15 s")
            #expect(after < 8, "cut after \(after) s with a 1 s timeout")
            #expect(silentClosed)
            #expect(hub.stats.limitRefusals["handshake_timeout"] == 100)
        }
    }

    /// Old code: a 4 MB header line got no 431 (NIO's decoder failed and nothing answered).
    @Test func anOversizedRequestHeadGets431() async throws {
        var options = FanOutOptions()
        options.maxHeaderBytes = 16 * 1024
        try await withFanOut(options: options) { _, hub, port in
            for size in [20 * 1024, 4 << 20] {
                let request = RawHTTP.get("/hello", headers: [("X-Filler", String(repeating: "a", count: size))])
                let r = try #require(try await onThread { try RawHTTP.exchange(port: port, request: request) })
                #expect(r.status == 431)
                #expect(r.body.contains("headers_too_large"))
            }
            let longURL = RawHTTP.get("/hello?" + String(repeating: "q", count: 32 * 1024))
            #expect(try await onThread { try RawHTTP.exchange(port: port, request: longURL) }?.status == 431)
            // Under the limit: served.
            let fine = RawHTTP.get("/hello", headers: [("X-Filler", String(repeating: "a", count: 8 * 1024))])
            let ok = try await onThread { try RawHTTP.exchange(port: port, request: fine) }
            #expect(ok?.status == 200 && ok?.body == "hi")
            #expect(hub.stats.limitRefusals["header_bytes"] == 3)
        }
    }

    /// Old code: a 10 MB body was read whole (here the route reads any body; the server must stop it).
    @Test func anOversizedBodyGets413DeclaredOrChunked() async throws {
        var options = FanOutOptions()
        options.maxBodyBytes = 64 * 1024
        try await withFanOut(options: options) { _, hub, port in
            // Declared: refused from the head alone, before any body byte is sent.
            let declared = Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n".utf8)
            let r = try #require(try await onThread { try RawHTTP.exchange(port: port, request: declared) })
            #expect(r.status == 413 && r.body.contains("body_too_large"))
            // Chunked: refused once the chunks pass the limit.
            var chunked = Array("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
            for _ in 0..<40 { chunked += Array("1000\r\n".utf8) + [UInt8](repeating: 0x61, count: 4096) + Array("\r\n".utf8) }
            chunked += Array("0\r\n\r\n".utf8)
            let chunkedRequest = chunked
            #expect(try await onThread { try RawHTTP.exchange(port: port, request: chunkedRequest) }?.status == 413)
            // Under the limit, both ways: the route gets the whole body.
            var small = Array("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
            for _ in 0..<3 { small += Array("1000\r\n".utf8) + [UInt8](repeating: 0x61, count: 4096) + Array("\r\n".utf8) }
            small += Array("0\r\n\r\n".utf8)
            let smallRequest = small
            let echoed = try await onThread { try RawHTTP.exchange(port: port, request: smallRequest) }
            #expect(echoed?.status == 200 && echoed?.body == "12288")
            let plain = Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".utf8)
            #expect(try await onThread { try RawHTTP.exchange(port: port, request: plain) }?.body == "5")
            #expect(hub.stats.limitRefusals["body_bytes"] == 2)
        }
    }

    /// Old code: one client held 19,900 sockets (the process limit is 20,000).
    @Test func connectionsPerAddress() async throws {
        var options = FanOutOptions()
        options.maxConnectionsPerAddress = 20
        try await withFanOut(options: options) { _, hub, port in
            let bystander = try Bystander(port: port)
            // 20 websockets from 127.0.0.2 are accepted; the next connections from there get 429.
            let held = try (0..<20).map { _ in try RawWebSocket(port: port, source: "127.0.0.2") }
            // A second and a half of further attempts from there.
            let refusals = try await onThread { () throws -> [RawHTTP.Response?] in
                var all: [RawHTTP.Response?] = []
                let start = Date()
                while all.count < 30 || Date().timeIntervalSince(start) < 1.5 {
                    all.append(try RawHTTP.exchange(port: port, request: RawHTTP.get("/hello"), source: "127.0.0.2"))
                }
                return all
            }
            for r in refusals {
                #expect(r?.status == 429 && r?.body.contains("too_many_connections_from_address") == true, "\(String(describing: r))")
            }
            #expect(throws: RawWebSocket.Failure.self) { try RawWebSocket(port: port, source: "127.0.0.2") }
            // Other addresses are not affected.
            let other = try RawWebSocket(port: port, source: "127.0.0.3")
            #expect(other.pingRoundTrip(id: 1) != nil)
            _ = await bystander.stopAndCheck()
            #expect(hub.stats.limitRefusals["connections_per_ip"] == refusals.count + 1)
            // Closing frees the address's slots.
            for c in held.prefix(5) { c.close() }
            try await eventually("slots freed") {
                (try? await onThread { try RawHTTP.exchange(port: port, request: RawHTTP.get("/hello"), source: "127.0.0.2") })??.status == 200
            }
            for c in held { c.close() }
        }
    }

    /// Handshakes per second (a new limit): past the budget, upgrades get 429 with Retry-After;
    /// established clients do not notice, and a second later upgrades are accepted again.
    @Test func handshakesPerSecond() async throws {
        var options = FanOutOptions()
        options.handshakesPerSecond = 5
        try await withFanOut(options: options) { _, hub, port in
            let bystander = try Bystander(port: port)
            let upgrade = Array(
                ("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8)
            // 40 upgrades at once, then more for a second and a half.
            let (responses, elapsed) = try await onThread { () throws -> ([RawHTTP.Response?], Double) in
                var all: [RawHTTP.Response?] = []
                let start = Date()
                while all.count < 40 || Date().timeIntervalSince(start) < 1.5 {
                    all.append(try RawHTTP.exchange(port: port, request: upgrade))
                }
                return (all, Date().timeIntervalSince(start))
            }
            let accepted = responses.filter { $0?.status == 101 }.count
            let limited = responses.filter { $0?.status == 429 }
            // The bystander took one of the burst of 5; the budget refills at 5 a second.
            #expect(accepted >= 3, "\(responses.map { $0?.status })")
            #expect(limited.count >= 10 && accepted + limited.count == responses.count, "\(responses.map { $0?.status })")
            // At most the burst plus the refill over the run (plus a second of slack).
            #expect(Double(accepted) <= 5 + 5 * (elapsed + 1), "\(accepted) accepted in \(elapsed) s")
            for r in limited {
                #expect(r?.headers["retry-after"] == "1")
                #expect(r?.body.contains("too_many_handshakes") == true)
            }
            _ = await bystander.stopAndCheck()
            #expect(hub.stats.limitRefusals["handshakes_per_second"] == limited.count)
            try await Task.sleep(for: .seconds(1.2))
            #expect(try RawWebSocket.statusLine(port: port).contains(" 101 "))
        }
    }
}
