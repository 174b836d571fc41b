import Cluster
import NATS
import NIOCore
import Testing

/// The acked publisher's window as a state machine: time is passed in, nothing sleeps.
struct ClusterPublishWindowTests {
    let t0 = ContinuousClock.now

    func admit(_ w: inout ClusterPublishWindow, _ id: String, stream: String = "M", at: Duration = .zero) -> ClusterPublishWindow.Send? {
        w.admit(subject: "md.\(id)", stream: stream, messageID: id, payload: ByteBuffer(string: id), headers: NATSHeaders(), now: t0 + at)
    }

    @Test func eachFrameNamesItsPredecessorInTheSameStream() throws {
        var w = ClusterPublishWindow(capacity: 8)
        let a = try #require(admit(&w, "a"))
        let p = try #require(admit(&w, "p", stream: "P"))
        let b = try #require(admit(&w, "b"))
        #expect(a.expectedLast == nil && p.expectedLast == nil)
        #expect(b.expectedLast == "a")
        #expect([a.number, p.number, b.number] == [1, 2, 3])
        #expect([a.attempt, b.attempt] == [0, 0])
        #expect(w.unacked == 3)
    }

    @Test func acksInAnyOrderEmptyTheWindowOnlyBehindTheOldest() throws {
        var w = ClusterPublishWindow(capacity: 8)
        for id in ["a", "b", "c"] { _ = admit(&w, id) }
        w.answered(number: 2, attempt: 0, .stored, now: t0)
        #expect(w.unacked == 2 && w.held == 3)
        w.answered(number: 1, attempt: 0, .stored, now: t0)
        #expect(w.unacked == 1 && w.held == 1)
        w.answered(number: 1, attempt: 0, .stored, now: t0)  // a late duplicate ack: ignored
        #expect(w.acked == 2)
        w.answered(number: 3, attempt: 0, .stored, now: t0)
        #expect(w.unacked == 0 && w.held == 0)
        #expect(w.tick(now: t0 + .seconds(60)).isEmpty)
    }

    @Test func aFullWindowRefusesAndCountsUntilAnAckFreesRoom() throws {
        var w = ClusterPublishWindow(capacity: 2)
        #expect(admit(&w, "a") != nil)
        #expect(admit(&w, "b") != nil)
        #expect(admit(&w, "c") == nil)
        #expect(admit(&w, "d") == nil)
        #expect(w.overflowed == 2)
        w.answered(number: 1, attempt: 0, .stored, now: t0)
        let e = try #require(admit(&w, "e"))
        // The refused frames never entered the chain: e follows b.
        #expect(e.expectedLast == "b")
    }

    @Test func anErrorResendsEveryUnackedFrameInOrderAfterTheRetryDelay() throws {
        var w = ClusterPublishWindow(capacity: 8, ackTimeout: .seconds(2), retryDelay: .milliseconds(100))
        for id in ["a", "b", "c", "d"] { _ = admit(&w, id) }
        w.answered(number: 1, attempt: 0, .stored, now: t0)
        // b was lost; c is refused by the stream (its predecessor b is missing).
        w.answered(number: 3, attempt: 0, .outOfOrder, now: t0)
        #expect(w.tick(now: t0 + .milliseconds(99)).isEmpty)
        let again = w.tick(now: t0 + .milliseconds(100))
        #expect(again.map(\.messageID) == ["b", "c", "d"])
        #expect(again.map(\.attempt) == [1, 1, 1])
        // The oldest unacked frame's predecessor (a) is stored: sent without the check; the rest keep theirs.
        #expect(again.map(\.expectedLast) == [nil, "b", "c"])
        // d's refusal from the first attempt arrives late: already resent, so nothing more.
        w.answered(number: 4, attempt: 0, .outOfOrder, now: t0 + .milliseconds(150))
        #expect(w.tick(now: t0 + .seconds(1)).isEmpty)
        #expect(w.resent == 3)
        for n in 2...4 { w.answered(number: UInt64(n), attempt: 1, .stored, now: t0 + .seconds(1)) }
        #expect(w.held == 0)
    }

    @Test func anAckTimeoutOrAReconnectResendsWithTheSameIDs() throws {
        var w = ClusterPublishWindow(capacity: 8, ackTimeout: .seconds(2))
        _ = admit(&w, "a")
        _ = admit(&w, "x", stream: "P")
        _ = admit(&w, "b", at: .seconds(1))
        #expect(w.tick(now: t0 + .milliseconds(1999)).isEmpty)
        let timedOut = w.tick(now: t0 + .seconds(2))
        #expect(timedOut.map(\.messageID) == ["a", "x", "b"])
        // Each stream's oldest goes without a predecessor check.
        #expect(timedOut.map(\.expectedLast) == [nil, nil, "a"])
        // A stored answer to the first attempt still counts.
        w.answered(number: 1, attempt: 0, .stored, now: t0 + .seconds(2))
        let back = w.reconnected(now: t0 + .seconds(3))
        #expect(back.map(\.messageID) == ["x", "b"])
        #expect(back.map(\.attempt) == [2, 2])
        #expect(back.map(\.expectedLast) == [nil, nil])
        #expect(w.resent == 5)
    }

    /// Refused as out of order while its predecessor is stored: another node published in between,
    /// so the resend goes at once; a failure (no leader) waits for the retry delay.
    @Test func aForeignPublishInBetweenIsResentAtOnce() throws {
        var w = ClusterPublishWindow(capacity: 8, retryDelay: .milliseconds(100))
        for id in ["a", "b", "c"] { _ = admit(&w, id) }
        w.answered(number: 1, attempt: 0, .stored, now: t0)
        w.answered(number: 2, attempt: 0, .outOfOrder, now: t0)
        let again = w.tick(now: t0)
        #expect(again.map(\.messageID) == ["b", "c"])
        #expect(again.map(\.expectedLast) == [nil, "b"])
        w.answered(number: 2, attempt: 1, .failed, now: t0)
        #expect(w.tick(now: t0 + .milliseconds(99)).isEmpty)
        #expect(w.tick(now: t0 + .milliseconds(100)).map(\.attempt) == [2, 2])
    }

    @Test func aBrokenChainStartsWithoutAPredecessor() throws {
        var w = ClusterPublishWindow(capacity: 8)
        _ = admit(&w, "a")
        w.breakChain()
        #expect(admit(&w, "b")?.expectedLast == nil)
        #expect(admit(&w, "c")?.expectedLast == "b")
    }

    /// Lease lost (docs/nats.md "Ingest failover"): nothing held is ever sent again, late answers
    /// and timeouts find nothing, and the next frame (a later leadership) starts a new chain.
    @Test func aLostLeaseDropsTheWholeWindowForGood() throws {
        var w = ClusterPublishWindow(capacity: 8, ackTimeout: .seconds(2), retryDelay: .milliseconds(100))
        for id in ["a", "b", "c", "d"] { _ = admit(&w, id) }
        _ = admit(&w, "p", stream: "P")
        w.answered(number: 1, attempt: 0, .stored, now: t0)
        w.answered(number: 3, attempt: 0, .failed, now: t0)  // a resend is due at t0 + 100 ms
        #expect(w.dropAll() == 4)  // b, c, d, p: a was acked
        #expect(w.dropped == 4 && w.unacked == 0 && w.held == 0)
        #expect(w.tick(now: t0 + .seconds(1)).isEmpty)
        #expect(w.tick(now: t0 + .seconds(60)).isEmpty)
        #expect(w.reconnected(now: t0 + .seconds(61)).isEmpty)
        w.answered(number: 2, attempt: 0, .outOfOrder, now: t0 + .seconds(61))  // a late answer to a dropped frame
        #expect(w.tick(now: t0 + .seconds(62)).isEmpty)
        #expect(w.resent == 0)
        let e = try #require(admit(&w, "e", at: .seconds(63)))
        let q = try #require(admit(&w, "q", stream: "P", at: .seconds(63)))
        #expect(e.expectedLast == nil && q.expectedLast == nil)
        #expect(e.number == 6)
        // Answers to the dropped numbers do not touch the new frames.
        w.answered(number: 5, attempt: 0, .stored, now: t0 + .seconds(63))
        #expect(w.unacked == 2 && w.acked == 1)
        w.answered(number: 6, attempt: 0, .stored, now: t0 + .seconds(63))
        #expect(w.unacked == 1 && w.held == 1 && w.acked == 2)
        #expect(w.dropAll() == 1 && w.dropped == 5)
    }

    @Test func aFailedHandOverIsRetried() throws {
        var w = ClusterPublishWindow(capacity: 8, retryDelay: .milliseconds(100))
        _ = admit(&w, "a")
        w.sendFailed(now: t0)
        #expect(w.tick(now: t0 + .milliseconds(100)).map(\.messageID) == ["a"])
    }

    @Test func manyFramesCompactWithoutLosingTheirPlace() throws {
        var w = ClusterPublishWindow(capacity: 4096)
        var acked = 0
        for i in 1...10_000 {
            #expect(admit(&w, "f\(i)") != nil)
            if i % 3 == 0 {
                while acked < i - 1 {
                    acked += 1
                    w.answered(number: UInt64(acked), attempt: 0, .stored, now: t0)
                }
            }
        }
        #expect(w.held == 10_000 - acked)
        let rest = w.reconnected(now: t0)
        #expect(rest.map(\.messageID) == ((acked + 1)...10_000).map { "f\($0)" })
    }
}
