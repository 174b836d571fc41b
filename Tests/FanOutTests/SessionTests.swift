import Bus
import FanOut
import Foundation
import MarketCore
import Synchronization
import Testing
import _TestSupport

/// Sessions on the websocket (a token's `exp`, a failed re-auth, revocation) and RFC 6455
/// frames that must fail the connection. The session check here is the hub's injectable hook
/// with hand-made grants; GatewayAppTests run the same paths with real signed tokens.
@Suite("Fan-out sessions and protocol errors", .serialized, .timeLimit(.minutes(1)))
struct SessionTests {
    /// `alice` and `bob` tokens are valid; `alice-<s>` expires `<s>` seconds from the check.
    static let sessions: FanOutHub.SessionCheck = { token in
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        if token.hasPrefix("alice-"), let s = Double(token.dropFirst(6)) {
            return .success(TokenGrant(user: "alice", expires: UnixNanos(now + Int64(s * 1e9))))
        }
        if token == "alice" || token == "bob" { return .success(TokenGrant(user: token, expires: UnixNanos(now + 3_600_000_000_000))) }
        return .failure(TokenRefusal("token signature does not verify"))
    }

    static func execution(_ user: String, _ n: Int) -> (ChannelName, [UInt8]) {
        (ChannelName(kind: .executions, scope: user), Array(#"{"user":"\#(user)","n":\#(n)}"#.utf8))
    }

    /// Old code: a socket kept its private channels after `exp` and could still subscribe to them.
    @Test func aSessionIsWarnedBeforeExpAndLosesItsPrivateChannelsAtExp() async throws {
        var options = FanOutOptions()
        options.sessionWarning = .seconds(2)
        try await withFanOut(options: options, sessions: Self.sessions) { bus, hub, port in
            let c = try RawWebSocket(port: port)
            let authAt = Date()
            c.send(#"{"op":"auth","id":1,"token":"alice-3"}"#)
            let ack = try #require(c.readJSON())
            #expect(ack.type == "ack" && ack["user"] as? String == "alice")
            let exp = try #require(ack["exp"] as? String)
            c.send(#"{"op":"subscribe","id":2,"channels":["executions.alice","trades.binance.BTC-USDT"]}"#)
            #expect(c.readJSON()?.type == "ack")
            let (ch, data) = Self.execution("alice", 1)
            bus.publish(channel: ch, type: "execution", data: data)
            #expect(c.readJSON()?.ch == "executions.alice")

            let warning = try #require(c.readJSON(timeout: 5))
            #expect(warning.type == "session" && warning["event"] as? String == "expiring")
            #expect(warning["user"] as? String == "alice" && warning["exp"] as? String == exp)
            let warnedAfter = Date().timeIntervalSince(authAt)
            #expect(warnedAfter > 0.5 && warnedAfter < 2.9, "warned \(warnedAfter) s after auth")

            let out = try #require(c.readJSON(timeout: 5))
            #expect(out.type == "session" && out["event"] as? String == "signed_out" && out["reason"] as? String == "expired")
            #expect(out["channels"] as? [String] == ["executions.alice"])
            #expect(Date().timeIntervalSince(authAt) >= 2.9)

            // Nothing private arrives any more and the channel cannot be taken again; public ones go on.
            bus.publish(channel: ch, type: "execution", data: Self.execution("alice", 2).1)
            bus.publish(Sample.trade(1))
            #expect(c.readJSON()?.ch == "trades.binance.BTC-USDT")
            c.send(#"{"op":"subscribe","id":3,"channels":["executions.alice"]}"#)
            let refused = try #require(c.readJSON())
            #expect(refused["code"] as? String == "unauthorized")
            #expect(await hub.subscriberCount(ch) == 0)

            // Re-authenticating restores it.
            c.send(#"{"op":"auth","id":4,"token":"alice"}"#)
            #expect(c.readJSON()?["user"] as? String == "alice")
            c.send(#"{"op":"subscribe","id":5,"channels":["executions.alice"]}"#)
            #expect(c.readJSON()?.type == "ack")
        }
    }

    /// Re-authenticating before `exp` moves the session to the new token's `exp`: no warning,
    /// no sign-out from the old one.
    @Test func reAuthenticatingBeforeExpKeepsTheSession() async throws {
        var options = FanOutOptions()
        options.sessionWarning = .milliseconds(500)
        try await withFanOut(options: options, sessions: Self.sessions) { bus, _, port in
            let c = try RawWebSocket(port: port)
            c.send(#"{"op":"auth","id":1,"token":"alice-1.5"}"#)
            _ = c.readJSON()
            c.send(#"{"op":"subscribe","id":2,"channels":["executions.alice"]}"#)
            _ = c.readJSON()
            c.send(#"{"op":"auth","id":3,"token":"alice"}"#)
            #expect(c.readJSON()?.type == "ack")
            try await Task.sleep(for: .seconds(2))
            bus.publish(channel: ChannelName(kind: .executions, scope: "alice"), type: "execution", data: Self.execution("alice", 1).1)
            let f = try #require(c.readJSON())
            #expect(f.ch == "executions.alice", "\(f)")
        }
    }

    /// Old code: a failed re-auth left the previous identity in place, private channels included.
    @Test func aFailedReAuthDropsThePreviousIdentityAndItsPrivateChannels() async throws {
        try await withFanOut(sessions: Self.sessions) { bus, hub, port in
            let c = try RawWebSocket(port: port)
            c.send(#"{"op":"auth","id":1,"token":"alice"}"#)
            _ = c.readJSON()
            c.send(#"{"op":"subscribe","id":2,"channels":["executions.alice","mood.alice"]}"#)
            #expect(c.readJSON()?.type == "ack")
            c.send(#"{"op":"auth","id":3,"token":"forged"}"#)
            let error = try #require(c.readJSON())
            #expect(error["code"] as? String == "unauthorized" && error.int("id") == 3)
            #expect(error["message"] as? String == "token signature does not verify; the previous identity 'alice' and its private channels are dropped")
            let out = try #require(c.readJSON())
            #expect(out.type == "session" && out["event"] as? String == "signed_out" && out["reason"] as? String == "auth_failed")
            #expect(out["channels"] as? [String] == ["executions.alice", "mood.alice"])
            #expect(await hub.subscriberCount(ChannelName(kind: .mood, scope: "alice")) == 0)
            c.send(#"{"op":"subscribe","id":4,"channels":["executions.alice"]}"#)
            #expect(c.readJSON()?["code"] as? String == "unauthorized")
            // The only frames after this are answers: nothing of alice's leaks.
            bus.publish(channel: ChannelName(kind: .executions, scope: "alice"), type: "execution", data: Self.execution("alice", 1).1)
            c.send(#"{"op":"ping","id":5}"#)
            #expect(c.readJSON()?.type == "pong")
        }
    }

    @Test func revokingAUsersSessionsSignsOutOnlyThatUsersSockets() async throws {
        try await withFanOut(sessions: Self.sessions) { bus, hub, port in
            let a1 = try RawWebSocket(port: port)
            let a2 = try RawWebSocket(port: port)
            let b = try RawWebSocket(port: port)
            for (c, user) in [(a1, "alice"), (a2, "alice"), (b, "bob")] {
                c.send(#"{"op":"auth","id":1,"token":"\#(user)"}"#)
                _ = c.readJSON()
                c.send(#"{"op":"subscribe","id":2,"channels":["executions.\#(user)"]}"#)
                #expect(c.readJSON()?.type == "ack")
            }
            #expect(await hub.revokeSessions(of: "alice") == 2)
            for c in [a1, a2] {
                let out = try #require(c.readJSON())
                #expect(out["event"] as? String == "signed_out" && out["reason"] as? String == "revoked")
                #expect(out["channels"] as? [String] == ["executions.alice"])
            }
            bus.publish(channel: ChannelName(kind: .executions, scope: "bob"), type: "execution", data: Self.execution("bob", 1).1)
            #expect(b.readJSON()?.ch == "executions.bob")
        }
    }

    /// Old code: a frame with reserved opcode 0x3 was ignored; RFC 6455 5.2 says fail the
    /// connection. Same for RSV bits without an extension and for an unmasked client frame.
    @Test(arguments: [
        ("opcode 0x3", UInt8(0x3), true, UInt8(0)), ("opcode 0xB", UInt8(0xB), true, UInt8(0)),
        ("RSV1", UInt8(0x1), true, UInt8(0x40)), ("unmasked", UInt8(0x1), false, UInt8(0)),
    ])
    func framesRFC6455ForbidsCloseWith1002(_ what: String, _ opcode: UInt8, _ masked: Bool, _ rsv: UInt8) async throws {
        try await withFanOut { _, hub, port in
            let c = try RawWebSocket(port: port)
            c.sendFrame(opcode: opcode, payload: Array(#"{"op":"ping","id":1}"#.utf8), masked: masked, rsv: rsv)
            c.send(#"{"op":"ping","id":2}"#)
            #expect(await onThread { c.readCloseCode() } == 1002, "\(what)")
            #expect(hub.stats.clientErrors["protocol_error"] == 1)
            let other = try RawWebSocket(port: port)
            #expect(other.pingRoundTrip(id: 1) != nil)
        }
    }
}
