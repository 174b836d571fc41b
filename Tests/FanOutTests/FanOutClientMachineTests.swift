@testable import Bus
@testable import FanOut
import MarketCore
import NIOCore
import NIOWebSocket
import Testing

/// FanOutClient's decisions as a value: time is a number passed in, nothing sleeps, nothing
/// connects. Expectations come from docs/protocol.md "Limits" and the options each test sets.
@Suite("FanOutClientMachine")
struct FanOutClientMachineTests {
    typealias M = FanOutClientMachine
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    static let s: Int64 = 1_000_000_000
    static let wall0 = UnixNanos.seconds(1_780_000_000)

    static func machine(_ tweak: (inout FanOutOptions) -> Void = { _ in }) -> M {
        var o = FanOutOptions()
        tweak(&o)
        return M(options: o, now: t0)
    }

    static func text(_ s: String) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: s))
    }

    static func text(bytes n: Int) -> WebSocketFrame { text(String(repeating: "x", count: n)) }

    static func at(_ seconds: Double) -> NIODeadline { t0 + .nanoseconds(Int64(seconds * 1e9)) }

    static func channel(_ text: String) throws -> ChannelName { try ChannelName(parsing: text) }

    static func wire(_ json: String) -> ByteBuffer { WebSocketWire.frame(payload: Array(json.utf8)) }

    // MARK: Message rate

    @Test func theBurstIsAnsweredThenTheRateRefills() {
        var m = Self.machine {
            $0.messagesPerSecond = 4
            $0.messageBurst = 4
        }
        // All at one instant: the burst of 4 goes through, the 5th is the first over the limit.
        for n in 1...4 { #expect(m.text(Self.text("{}"), now: Self.t0) == .handle, "message \(n) of the burst") }
        #expect(m.text(Self.text("{}"), now: Self.t0) == .rateLimited(reply: "more than 4 messages per second; message dropped"))
        #expect(m.text(Self.text("{}"), now: Self.t0) == .rateLimited(reply: nil))
        // 250 ms at 4/s refills exactly one token.
        #expect(m.text(Self.text("{}"), now: Self.at(0.25)) == .handle)
        #expect(m.text(Self.text("{}"), now: Self.at(0.25)) == .rateLimited(reply: nil))
    }

    @Test func aFloodGetsOneRateLimitedReplyASecond() {
        var m = Self.machine {
            $0.messagesPerSecond = 1
            $0.messageBurst = 1
        }
        let reply = M.Inbound.rateLimited(reply: "more than 1 messages per second; message dropped")
        #expect(m.text(Self.text("{}"), now: Self.t0) == .handle)
        #expect(m.text(Self.text("{}"), now: Self.t0) == reply)
        // A copy probes just before the second is over: still no token, and no second reply.
        var probe = m
        #expect(probe.text(Self.text("{}"), now: Self.at(1) - .nanoseconds(1)) == .rateLimited(reply: nil))
        // At exactly one second: one token back, and the next refusal is answered again.
        #expect(m.text(Self.text("{}"), now: Self.at(1)) == .handle)
        #expect(m.text(Self.text("{}"), now: Self.at(1)) == reply)
        #expect(m.text(Self.text("{}"), now: Self.at(1)) == .rateLimited(reply: nil))
    }

    @Test func aMessageOverTheSizeLimitIsRefusedWithoutCostingAToken() {
        var m = Self.machine {
            $0.maxMessageBytes = 16
            $0.messagesPerSecond = 1
            $0.messageBurst = 1
        }
        #expect(
            m.text(Self.text(bytes: 17), now: Self.t0)
                == .refuse(.init(id: .none, code: .frameTooLarge, message: "message of 17 bytes; at most 16", limit: .messageBytes)))
        // 16 bytes exactly is allowed, and the one token is still there.
        #expect(m.text(Self.text(bytes: 16), now: Self.t0) == .handle)
        #expect(m.text(Self.text(bytes: 16), now: Self.t0) == .rateLimited(reply: "more than 1 messages per second; message dropped"))
    }

    // MARK: Auth attempts

    @Test func authAttemptsAreLimitedPerSlidingMinute() {
        var m = Self.machine { $0.authAttemptsPerMinute = 3 }
        for n in 0..<3 {
            #expect(m.authRequested(now: Self.at(Double(n))) == .verify)
            _ = m.authFinished(id: .number(Int64(n)), .failure(TokenRefusal("bad")), wall: Self.wall0)
        }
        let refused = M.AuthStart.close(code: 4029, reason: "more than 3 auth attempts per minute", limit: .authAttempts)
        #expect(m.authRequested(now: Self.at(60) - .nanoseconds(1)) == refused, "the first attempt is still within the minute")
        // At exactly one minute after the first attempt it has left the window.
        #expect(m.authRequested(now: Self.at(60)) == .verify)
        #expect(m.authPending)
    }

    @Test func requestsWaitForAPendingAuthInOrderUpToSixtyFour() {
        var m = Self.machine()
        #expect(m.authRequested(now: Self.t0) == .verify)
        for n in 0..<64 { #expect(m.text(Self.text("\(n)"), now: Self.t0) == .deferred) }
        #expect(
            m.text(Self.text("64"), now: Self.t0)
                == .refuse(.init(id: .none, code: .rateLimited, message: "too many requests while auth is pending; message dropped")))
        _ = m.authFinished(id: .number(1), .success(TokenGrant(user: "alice", expires: nil)), wall: Self.wall0)
        let replay = m.takeDeferred().map { String(buffer: $0.unmaskedData) }
        #expect(replay == (0..<64).map { "\($0)" })
        #expect(m.takeDeferred().isEmpty)
        #expect(!m.authPending)
    }

    @Test func anAuthAnsweredAfterTheClientClosedChangesNothing() {
        var m = Self.machine()
        _ = m.authRequested(now: Self.t0)
        _ = m.close()
        #expect(m.authFinished(id: .number(1), .success(TokenGrant(user: "alice", expires: nil)), wall: Self.wall0) == nil)
        #expect(m.user == nil)
    }

    // MARK: Sessions

    @Test func aSessionIsWarnedSixtySecondsBeforeExpAndEndsAtExp() {
        var m = Self.machine()  // sessionWarning 60 s
        _ = m.authRequested(now: Self.t0)
        let exp = UnixNanos(Self.wall0.rawValue + 150 * Self.s)
        let steps = m.authFinished(id: .number(7), .success(TokenGrant(user: "alice", expires: exp)), wall: Self.wall0)
        #expect(
            steps == [
                .send(.authAck(id: .number(7), user: "alice", expires: exp)),
                .cancelTimers,
                .warn(afterNanos: 90 * Self.s, .expiring(user: "alice", expires: exp)),
                .expire(afterNanos: 150 * Self.s),
            ])
        #expect(m.user == "alice" && m.expires == exp)
    }

    @Test func aTokenCloserToExpThanTheWarningIsWarnedAtOnceAndOnePastExpEndsAtOnce() {
        var m = Self.machine()
        _ = m.authRequested(now: Self.t0)
        let soon = UnixNanos(Self.wall0.rawValue + 60 * Self.s)  // exactly the warning time: warned now
        #expect(
            m.authFinished(id: .number(1), .success(TokenGrant(user: "alice", expires: soon)), wall: Self.wall0) == [
                .send(.authAck(id: .number(1), user: "alice", expires: soon)), .cancelTimers,
                .send(.expiring(user: "alice", expires: soon)), .expire(afterNanos: 60 * Self.s),
            ])
        _ = m.authRequested(now: Self.t0)
        let past = UnixNanos(Self.wall0.rawValue - 1)
        let steps = m.authFinished(id: .number(2), .success(TokenGrant(user: "alice", expires: past)), wall: Self.wall0)
        #expect(steps?.last == .expire(afterNanos: 0))
    }

    @Test func theSessionEndsAtExactlyExpWithItsPrivateChannels() throws {
        var m = Self.machine()
        let exp = UnixNanos(Self.wall0.rawValue + 100 * Self.s)
        _ = m.authRequested(now: Self.t0)
        _ = m.authFinished(id: .number(1), .success(TokenGrant(user: "alice", expires: exp)), wall: Self.wall0)
        let mine = [try Self.channel("executions.alice"), try Self.channel("mood.alice")]
        let public1 = try Self.channel("trades.binance.BTC-USDT")
        #expect(m.subscribe(id: .number(2), mine + [public1], wall: Self.wall0, expand: { _ in [] }).result.map(\.added) == .success(3))
        #expect(m.checkExpiry(wall: UnixNanos(exp.rawValue - 1)) == [], "one nanosecond before exp the session holds")
        #expect(
            m.checkExpiry(wall: exp) == [
                .cancelTimers, .droppedPatterns(2),
                .send(.signedOut(user: "alice", expires: exp, reason: .expired, channels: ["executions.alice", "mood.alice"])),
            ])
        #expect(m.user == nil && m.expires == nil && m.patterns == [public1])
        #expect(m.checkExpiry(wall: exp) == [], "signed out once")
    }

    @Test func aSubscribeAfterExpIsAnsweredAsSignedOut() throws {
        var m = Self.machine()
        let exp = UnixNanos(Self.wall0.rawValue + 10 * Self.s)
        _ = m.authRequested(now: Self.t0)
        _ = m.authFinished(id: .number(1), .success(TokenGrant(user: "alice", expires: exp)), wall: Self.wall0)
        let (session, result) = m.subscribe(id: .number(2), [try Self.channel("executions.alice")], wall: exp, expand: { _ in [] })
        #expect(session.contains(.send(.signedOut(user: "alice", expires: exp, reason: .expired, channels: []))))
        #expect(result == .failure(.init(id: .number(2), code: .unauthorized, message: "executions.alice is private: send auth first")))
    }

    @Test func reAuthAsAnotherUserDropsThePrivateChannelsSilently() throws {
        var m = Self.machine()
        _ = m.authRequested(now: Self.t0)
        _ = m.authFinished(id: .number(1), .success(TokenGrant(user: "alice", expires: nil)), wall: Self.wall0)
        _ = m.subscribe(id: .number(2), [try Self.channel("executions.alice")], wall: Self.wall0, expand: { _ in [] })
        _ = m.authRequested(now: Self.t0)
        let steps = m.authFinished(id: .number(3), .success(TokenGrant(user: "bob", expires: nil)), wall: Self.wall0)
        #expect(steps == [.cancelTimers, .droppedPatterns(1), .send(.authAck(id: .number(3), user: "bob", expires: nil)), .cancelTimers])
        #expect(m.user == "bob" && m.patterns.isEmpty)
    }

    @Test func aFailedReAuthEndsThePreviousIdentity() throws {
        var m = Self.machine()
        _ = m.authRequested(now: Self.t0)
        _ = m.authFinished(id: .number(1), .success(TokenGrant(user: "alice", expires: nil)), wall: Self.wall0)
        _ = m.subscribe(id: .number(2), [try Self.channel("mood.alice")], wall: Self.wall0, expand: { _ in [] })
        _ = m.authRequested(now: Self.t0)
        let steps = m.authFinished(id: .number(3), .failure(TokenRefusal("token expired")), wall: Self.wall0)
        #expect(
            steps == [
                .send(
                    .error(
                        .init(
                            id: .number(3), code: .unauthorized,
                            message: "token expired; the previous identity 'alice' and its private channels are dropped"))),
                .cancelTimers, .droppedPatterns(1),
                .send(.signedOut(user: "alice", expires: nil, reason: .authFailed, channels: ["mood.alice"])),
            ])
        #expect(m.user == nil)
    }

    @Test func signingOutWithNoIdentityDoesNothing() {
        var m = Self.machine()
        #expect(m.signOut(reason: .revoked) == [])
    }

    // MARK: Subscriptions

    @Test func privateChannelsNeedTheirOwnUser() throws {
        var m = Self.machine()
        let alice = try Self.channel("executions.alice")
        #expect(
            m.subscribe(id: .number(1), [alice], wall: Self.wall0, expand: { _ in [] }).result
                == .failure(.init(id: .number(1), code: .unauthorized, message: "executions.alice is private: send auth first")))
        _ = m.authRequested(now: Self.t0)
        _ = m.authFinished(id: .number(2), .success(TokenGrant(user: "bob", expires: nil)), wall: Self.wall0)
        #expect(
            m.subscribe(id: .number(3), [alice], wall: Self.wall0, expand: { _ in [] }).result
                == .failure(.init(id: .number(3), code: .forbidden, message: "executions.alice belongs to another user")))
        #expect(m.patterns.isEmpty)
        #expect(m.subscribe(id: .number(4), [try Self.channel("executions.bob")], wall: Self.wall0, expand: { _ in [] }).result.map(\.added) == .success(1))
    }

    @Test func subscriptionsPerConnectionAtTheLimitAndOneMore() throws {
        var m = Self.machine { $0.maxSubscriptions = 3 }
        let three = try ["trades.binance.A", "trades.binance.B", "trades.binance.C"].map(Self.channel)
        // Repeats within a request and of held patterns do not count.
        #expect(m.subscribe(id: .number(1), three + [three[0]], wall: Self.wall0, expand: { _ in [] }).result.map(\.added) == .success(3))
        #expect(m.subscribe(id: .number(2), [three[1]], wall: Self.wall0, expand: { _ in [] }).result.map(\.added) == .success(0))
        #expect(
            m.subscribe(id: .number(3), [try Self.channel("trades.binance.D")], wall: Self.wall0, expand: { _ in [] }).result
                == .failure(
                    .init(
                        id: .number(3), code: .tooManySubscriptions, message: "at most 3 subscriptions per connection (3 held)",
                        limit: .subscriptions)))
        #expect(m.patterns == three)
    }

    @Test func aSubscribeMatchingMoreThanTheChannelCapChangesNothing() throws {
        var m = Self.machine { $0.maxChannelsPerSubscribe = 2 }
        let pattern = try Self.channel("book.binance.*")
        let two = try ["book.binance.A", "book.binance.B"].map(Self.channel)
        let three = two + [try Self.channel("book.binance.C")]
        #expect(m.subscribe(id: .number(1), [pattern], wall: Self.wall0, expand: { _ in two }).result == .success(.init(channels: two, added: 1)))
        _ = m.unsubscribe([pattern])
        let refused = m.subscribe(id: .number(2), [pattern], wall: Self.wall0, expand: { _ in three }).result
        guard case .failure(let r) = refused else {
            Issue.record("expected a refusal, got \(refused)")
            return
        }
        #expect(r.code == .tooManyChannels && r.limit == .channelsPerSubscribe && r.message.contains("more than 2 channels"))
        #expect(m.patterns.isEmpty)
    }

    @Test func aChannelAlreadyFollowedIsAckedWithoutResendUnlessResumed() {
        var m = Self.machine()
        #expect(m.attached(channelID: 5, seq: 10, resuming: false) == .fresh)
        #expect(m.attached(channelID: 5, seq: 10, resuming: false) == .alreadyFollowed)
        #expect(m.attached(channelID: 5, seq: 9, resuming: true) == .resend)
        #expect(m.attached(channelID: 5, seq: 11, resuming: false) == .fresh, "the channel moved on: a new position")
        #expect(m.attached(channelID: nil, seq: 0, resuming: false) == .fresh, "a channel with no events yet")
        #expect(m.cursors == [5: 11])
    }

    @Test func unsubscribeRemovesHeldPatternsInOrder() throws {
        var m = Self.machine()
        let a = try Self.channel("trades.binance.A")
        let b = try Self.channel("status.binance")
        _ = m.subscribe(id: .number(1), [a, b], wall: Self.wall0, expand: { _ in [] })
        #expect(m.unsubscribe([b, try Self.channel("trades.okx.X"), a, a]) == [b, a])
        #expect(m.patterns.isEmpty)
        #expect(!m.wants(a))
    }

    // MARK: Delivery, queue and conflation

    @Test func framesGoToTheSocketWhileItIsWritableThenQueueInOrder() {
        var m = Self.machine()
        let f = Self.wire(#"{"ch":"trades.x.A","seq":1}"#)
        #expect(m.deliver(channelID: 1, seq: 1, wire: f, key: nil, writable: true) == .write)
        #expect(m.deliver(channelID: 1, seq: 1, wire: f, key: nil, writable: true) == .drop, "seq not past the cursor")
        #expect(m.deliver(channelID: 1, seq: 2, wire: f, key: nil, writable: false) == .queued(added: 1, conflated: 0, overflow: nil))
        // Once something waits, the socket being writable again does not let a frame jump the queue.
        #expect(m.deliver(channelID: 1, seq: 3, wire: f, key: nil, writable: true) == .queued(added: 1, conflated: 0, overflow: nil))
        #expect(m.send(f, writable: true) == .queued(added: 1, conflated: 0, overflow: nil))
        #expect(!m.answersPing(writable: true), "no pongs queued behind a backlog")
        var drained = 0
        while m.nextQueued() != nil { drained += 1 }
        #expect(drained == 3 && m.backlog.isEmpty && m.answersPing(writable: true))
    }

    @Test func aQueuedBookFrameIsReplacedByTheNextAndMarkedConflated() {
        var m = Self.machine()
        let key = ConflationKey(channelID: 2, bucket: 0)
        let old = Self.wire(#"{"ch":"book.x.A","seq":1}"#)
        let new = Self.wire(#"{"ch":"book.x.A","seq":2}"#)
        #expect(m.deliver(channelID: 2, seq: 1, wire: old, key: key, writable: false) == .queued(added: 1, conflated: 0, overflow: nil))
        #expect(m.deliver(channelID: 2, seq: 2, wire: new, key: key, writable: false) == .queued(added: 0, conflated: 1, overflow: nil))
        let out = m.nextQueued().map { String(buffer: WebSocketWire.payload(of: $0)) }
        #expect(out == #"{"conflated":true,"ch":"book.x.A","seq":2}"#)
        #expect(m.nextQueued() == nil)
    }

    @Test func theQueueClosesTheClientPastMaxQueuedFrames() {
        var m = Self.machine { $0.maxQueuedFrames = 3 }
        let f = Self.wire(#"{"t":1}"#)
        for seq in 1...3 {
            #expect(m.deliver(channelID: 1, seq: UInt64(seq), wire: f, key: nil, writable: false) == .queued(added: 1, conflated: 0, overflow: nil))
        }
        #expect(
            m.deliver(channelID: 1, seq: 4, wire: f, key: nil, writable: false)
                == .queued(
                    added: 1, conflated: 0,
                    overflow: .init(limit: .queuedFrames, queued: 4, reason: "client fell behind: more than 3 frames queued")))
    }

    @Test func conflatedFramesDoNotCountAgainstTheFrameLimit() {
        var m = Self.machine { $0.maxQueuedFrames = 1 }
        let key = ConflationKey(channelID: 2, bucket: 0)
        for seq in 1...10 {
            guard case .queued(_, _, nil) = m.deliver(channelID: 2, seq: UInt64(seq), wire: Self.wire("{}"), key: key, writable: false) else {
                Issue.record("book frame \(seq) overflowed")
                return
            }
        }
        #expect(m.backlog.count == 1)
    }

    @Test func theQueueClosesTheClientPastMaxOutstandingBytes() {
        let f = Self.wire(String(repeating: "x", count: 98))  // 2 header bytes + 98
        #expect(f.readableBytes == 100)
        var m = Self.machine { $0.maxOutstandingBytes = 300 }
        for seq in 1...3 { #expect(m.deliver(channelID: 1, seq: UInt64(seq), wire: f, key: nil, writable: false) == .queued(added: 1, conflated: 0, overflow: nil)) }
        #expect(
            m.send(Self.wire("x"), writable: false)
                == .queued(
                    added: 1, conflated: 0,
                    overflow: .init(limit: .outstandingBytes, queued: 303, reason: "client fell behind: more than 300 bytes queued")))
    }

    @Test func aClosingClientDropsItsQueueAndSendsNothingMore() {
        var m = Self.machine()
        let f = Self.wire("{}")
        _ = m.send(f, writable: false)
        _ = m.send(f, writable: false)
        #expect(m.close() == 2)
        #expect(m.close() == nil, "closed once")
        #expect(m.send(f, writable: true) == .drop)
        #expect(m.text(Self.text("{}"), now: Self.t0) == .ignore)
        #expect(m.removed() == .init(abrupt: false, queued: 0, patterns: 0))
    }

    @Test func aConnectionGoneWithoutCloseIsAbrupt() throws {
        var m = Self.machine()
        _ = m.subscribe(id: .number(1), [try Self.channel("status.binance")], wall: Self.wall0, expand: { _ in [] })
        _ = m.send(Self.wire("{}"), writable: false)
        #expect(m.removed() == .init(abrupt: true, queued: 1, patterns: 1))
    }

    // MARK: Heartbeat

    @Test func aClientSilentForMoreThanThreePingIntervalsIsClosed() {
        var m = Self.machine()
        let interval = TimeAmount.seconds(20)
        #expect(m.heartbeat(now: Self.at(20), interval: interval) == .ping)
        #expect(m.heartbeat(now: Self.at(60), interval: interval) == .ping, "exactly three intervals is not yet silent")
        #expect(m.heartbeat(now: Self.at(60) + .nanoseconds(1), interval: interval) == .close(code: 1001, reason: "no answer to pings"))
        m.heard(now: Self.at(50))
        #expect(m.heartbeat(now: Self.at(110), interval: interval) == .ping, "anything heard moves the deadline")
        #expect(m.heartbeat(now: Self.at(110) + .nanoseconds(1), interval: interval) == .close(code: 1001, reason: "no answer to pings"))
        _ = m.close()
        #expect(m.heartbeat(now: Self.at(500), interval: interval) == .none)
    }
}
