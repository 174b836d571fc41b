import Bus
import FanOut
import Foundation
import MarketCore
import Synchronization
import Testing
import _TestSupport

/// Each per-connection limit under load, with a ``Bystander`` showing the other clients keep their
/// round trip and HTTP keeps answering while one client is being limited.
@Suite("Fan-out limits under load", .serialized, .timeLimit(.minutes(1)))
struct LimitTests {
    @Test func messagesPerSecond() async throws {
        var options = FanOutOptions()
        options.messagesPerSecond = 10
        options.messageBurst = 10
        try await withFanOut(options: options) { _, hub, port in
            let bystander = try Bystander(port: port)
            let flooder = try RawWebSocket(port: port)
            let (pongs, limited) = await onThread { () -> (Int, Int) in
                var pongs = 0
                var limited = 0
                let start = Date()
                var i = 0
                // Two seconds of as many pings as the socket takes, reading what comes back.
                while Date().timeIntervalSince(start) < 2 {
                    for _ in 0..<50 {
                        flooder.send(#"{"op":"ping","id":\#(i)}"#)
                        i += 1
                    }
                    while let r = flooder.readJSON(timeout: 0.01) {
                        if r.type == "pong" { pongs += 1 }
                        if r["code"] as? String == "rate_limited" { limited += 1 }
                    }
                }
                while let r = flooder.readJSON(timeout: 0.5) {
                    if r.type == "pong" { pongs += 1 }
                    if r["code"] as? String == "rate_limited" { limited += 1 }
                }
                return (pongs, limited)
            }
            _ = await bystander.stopAndCheck()
            // About 10 + 2 s × 10 answered; the rest dropped, with one rate_limited reply a second.
            #expect(pongs >= 10 && pongs <= 60, "pongs \(pongs)")
            #expect(limited >= 1 && limited <= 4, "rate_limited replies \(limited)")
            #expect((hub.stats.limitRefusals["messages_per_second"] ?? 0) > 100)
        }
    }

    @Test func subscriptionsPerConnection() async throws {
        var options = FanOutOptions()
        options.maxSubscriptions = 5
        options.messagesPerSecond = 1_000_000
        options.messageBurst = 1_000_000
        try await withFanOut(options: options) { _, hub, port in
            let bystander = try Bystander(port: port)
            let c = try RawWebSocket(port: port)
            let (sent, acks, refused) = await onThread { () -> (Int, Int, Int) in
                var acks = 0
                var refused = 0
                var i = 0
                let start = Date()
                while i < 300 || Date().timeIntervalSince(start) < 1.5 {
                    c.send(#"{"op":"subscribe","id":\#(i),"channels":["trades.binance.S\#(i)-USDT"]}"#)
                    i += 1
                    guard let r = c.readJSON() else { break }
                    if r.type == "ack" { acks += 1 }
                    if r["code"] as? String == "too_many_subscriptions" { refused += 1 }
                }
                return (i, acks, refused)
            }
            _ = await bystander.stopAndCheck()
            #expect(acks == 5 && refused == sent - 5)
            #expect(hub.stats.limitRefusals["subscriptions"] == sent - 5)
            // Client 1 holds 5; the bystander none.
            #expect(hub.stats.subscriptions == 5)
        }
    }

    @Test func messageAndFrameSize() async throws {
        var options = FanOutOptions()
        options.maxMessageBytes = 1024
        options.maxFrameBytes = 64 * 1024
        try await withFanOut(options: options) { _, hub, port in
            let bystander = try Bystander(port: port)
            let c = try RawWebSocket(port: port)
            let big = String(repeating: "x", count: 4096)
            let (sent, tooLarge) = await onThread { () -> (Int, Int) in
                var n = 0
                var sent = 0
                let start = Date()
                while sent < 300 || Date().timeIntervalSince(start) < 1.5 {
                    c.send(#"{"op":"ping","pad":"\#(big)"}"#)
                    sent += 1
                    if c.readJSON()?["code"] as? String == "frame_too_large" { n += 1 }
                }
                return (sent, n)
            }
            #expect(tooLarge == sent)
            // Past the hard limit the frame is not read at all: close 1009.
            c.send(String(repeating: "y", count: 100 * 1024))
            #expect(await onThread { c.readCloseCode() } == 1009)
            _ = await bystander.stopAndCheck()
            #expect(hub.stats.limitRefusals["message_bytes"] == sent)
        }
    }

    @Test func authAttempts() async throws {
        var options = FanOutOptions()
        options.authAttemptsPerMinute = 10
        // This test is about auth attempts only: a fast machine opening connection after
        // connection must not meet the handshake rate or the per-address limit instead (a CI run
        // got a 429 on an upgrade).
        options.handshakesPerSecond = 1_000_000
        options.maxConnectionsPerAddress = 100_000
        let checks = Atomic<Int>(0)
        let sessions: FanOutHub.SessionCheck = { _ in
            checks.add(1, ordering: .relaxed)
            return .failure(TokenRefusal("token signature does not verify"))
        }
        try await withFanOut(options: options, sessions: sessions) { _, hub, port in
            let bystander = try Bystander(port: port)
            // One connection after another, each guessing until it is closed, for a second and a half.
            let (connections, refused, closes) = try await onThread { () throws -> (Int, Int, [Int?]) in
                var connections = 0
                var refused = 0
                var closes: [Int?] = []
                let start = Date()
                while Date().timeIntervalSince(start) < 1.5 {
                    let c = try RawWebSocket(port: port)
                    connections += 1
                    for i in 0..<10 {
                        c.send(#"{"op":"auth","id":\#(i),"token":"guess-\#(i)"}"#)
                        if c.readJSON()?["code"] as? String == "unauthorized" { refused += 1 }
                    }
                    c.send(#"{"op":"auth","id":10,"token":"guess-10"}"#)
                    closes.append(c.readCloseCode())
                    c.close()
                }
                return (connections, refused, closes)
            }
            _ = await bystander.stopAndCheck()
            #expect(refused == 10 * connections)
            #expect(closes == Array(repeating: 4029, count: connections))
            // The eleventh token of each connection was never checked.
            #expect(checks.load(ordering: .relaxed) == 10 * connections)
            #expect(hub.stats.limitRefusals["auth_attempts"] == connections)
        }
    }
}
