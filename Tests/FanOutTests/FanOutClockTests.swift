import Bus
import FanOut
import Foundation
import MarketCore
import Testing
import _TestSupport

/// The hub reads time from its ``FanOutClock`` only: a token's `exp` is judged by the clock the
/// hub was given, not by the system's.
@Suite("Fan-out clock", .timeLimit(.minutes(1)))
struct FanOutClockTests {
    @Test func aTokenExpiredOnTheHubsWallClockIsSignedOutAtOnce() async throws {
        let hour: Int64 = 3_600_000_000_000
        // A token valid for 30 minutes by the system's clock; the hub's wall clock is an hour ahead.
        let sessions: FanOutHub.SessionCheck = { _ in
            .success(TokenGrant(user: "alice", expires: UnixNanos(Int64(Date().timeIntervalSince1970 * 1e9) + hour / 2)))
        }
        let ahead = FanOutClock(
            monotonic: FanOutClock.system.monotonic,
            wall: { UnixNanos(Int64(Date().timeIntervalSince1970 * 1e9) + hour) })
        try await withFanOut(sessions: sessions, clock: ahead) { _, _, port in
            let c = try RawWebSocket(port: port)
            c.send(#"{"op":"auth","id":1,"token":"t"}"#)
            #expect(c.readJSON()?["user"] as? String == "alice")
            let warning = try #require(c.readJSON(timeout: 5))
            #expect(warning.type == "session" && warning["event"] as? String == "expiring")
            let out = try #require(c.readJSON(timeout: 5))
            #expect(out.type == "session" && out["event"] as? String == "signed_out" && out["reason"] as? String == "expired")
        }
    }
}
