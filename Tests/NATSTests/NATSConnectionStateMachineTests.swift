import NIOCore
import Synchronization
import Testing

@testable import NATS

/// A clock the test moves by hand.
struct ManualClock: Clock {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }
    final class Box: Sendable { let now = Mutex(Instant(offset: .seconds(1000))) }
    let box = Box()
    var now: Instant { box.now.withLock { $0 } }
    var minimumResolution: Duration { .nanoseconds(1) }
    func sleep(until deadline: Instant, tolerance: Duration?) async throws { advance(to: deadline) }
    func advance(by duration: Duration) { box.now.withLock { $0 = $0.advanced(by: duration) } }
    func advance(to instant: Instant) { box.now.withLock { $0 = Swift.max($0, instant) } }
}

/// The connection state machine as a value: one event, one expectation.
@Suite struct NATSConnectionStateMachineTests {
    typealias Machine = NATSConnectionStateMachine<ManualClock>
    let a = NATSServerAddress(host: "127.0.0.1", port: 4222)
    let b = NATSServerAddress(host: "127.0.0.1", port: 4223)
    let clock = ManualClock()

    func machine(_ configure: (inout NATSOptions) -> Void = { _ in }) -> Machine {
        var options = NATSOptions()
        configure(&options)
        return Machine(servers: [a, b], options: options, clock: clock, seed: 42)
    }

    func info(_ urls: [String] = [], tls: Bool = false) -> ServerInfo {
        ServerInfo(serverID: "S", version: "2.9.10", headers: true, tlsRequired: tls, connectURLs: urls)
    }

    static func text(_ actions: [Machine.Action]) -> [String] {
        actions.compactMap { if case .write(let buffer) = $0 { String(buffer: buffer) } else { nil } }
    }

    /// Drives a machine from idle to connected on its current server.
    func connect(_ m: inout Machine) {
        let id = m.connectionID + (m.phase == .idle ? 1 : 0)
        if m.phase == .idle { _ = m.start() }
        _ = m.channelActive(connectionID: m.connectionID)
        _ = m.received(.info(info()), connectionID: m.connectionID)
        _ = m.received(.pong, connectionID: m.connectionID)
        precondition(m.phase == .connected && m.connectionID == id)
    }

    @Test func handshakeSendsConnectAndPingThenReplaysWhatWasQueued() throws {
        var m = machine()
        #expect(m.start() == [.connect(a, connectionID: 1, deadline: clock.now.advanced(by: .seconds(5)))])
        let (sid, subscribeAction) = try m.subscribe(subject: "md.>", queue: nil)
        #expect(sid == 1 && subscribeAction == .doNothing)
        #expect(try m.publish(subject: "x", replyTo: nil, headers: nil, payload: ByteBuffer(string: "p")) == .doNothing)
        #expect(m.bufferedBytes == "PUB x 1\r\np\r\n".utf8.count)
        #expect(m.channelActive(connectionID: 1) == [])

        let handshake = m.received(.info(info(["127.0.0.1:4222", "127.0.0.1:4224"])), connectionID: 1)
        #expect(handshake.first == .reportDiscoveredServers([NATSServerAddress(host: "127.0.0.1", port: 4224)]))
        let written = Self.text(handshake)
        #expect(written.count == 1 && written[0].hasPrefix("CONNECT {") && written[0].hasSuffix("}\r\nPING\r\n"))
        #expect(m.servers.count == 3)
        #expect(m.phase == .awaitingPong)

        let connected = m.received(.pong, connectionID: 1)
        #expect(
            connected == [
                .write(ByteBuffer(string: "SUB md.> 1\r\nPUB x 1\r\np\r\n")),
                .schedulePing(connectionID: 1, deadline: clock.now.advanced(by: .seconds(30))),
                .reportConnected(a, info(["127.0.0.1:4222", "127.0.0.1:4224"]), isReconnect: false),
            ])
        #expect(m.bufferedBytes == 0)
    }

    @Test func publishesCoalesceIntoOneFlush() throws {
        var m = machine()
        connect(&m)
        #expect(try m.publish(subject: "a", replyTo: nil, headers: nil, payload: ByteBuffer(string: "1")) == .scheduleFlush)
        #expect(try m.publish(subject: "b", replyTo: "r", headers: nil, payload: ByteBuffer(string: "22")) == .doNothing)
        #expect(m.flushTick() == ByteBuffer(string: "PUB a 1\r\n1\r\nPUB b r 2\r\n22\r\n"))
        #expect(m.flushTick() == nil)
        #expect(try m.publish(subject: "c", replyTo: nil, headers: nil, payload: ByteBuffer()) == .scheduleFlush)
    }

    @Test func bufferIsBoundedAndAFullBufferKeepsWhatItHas() throws {
        var m = machine { $0.maxBufferedBytes = 40 }
        _ = m.start()
        let payload = ByteBuffer(string: "0123456789")  // "PUB s 10\r\n" + 10 + "\r\n" = 22 bytes
        #expect(try m.publish(subject: "s", replyTo: nil, headers: nil, payload: payload) == .doNothing)
        #expect(throws: NATSError(.bufferFull, "publish to s (22 bytes) would exceed the 40-byte buffer (disconnected)")) {
            try m.publish(subject: "s", replyTo: nil, headers: nil, payload: payload)
        }
        #expect(m.bufferedBytes == 22)
    }

    @Test func reconnectBacksOffExponentiallyWithJitterCappedAndRotatesServers() throws {
        var m = machine()
        connect(&m)
        let lost = NATSError(.connectionClosed, "reset")
        let actions = m.channelInactive(connectionID: 1, error: lost)
        #expect(actions.first == .reportDisconnected(a, lost))
        var expectedServer = b
        var id: UInt64 = 1
        for failures in 0..<10 {
            guard case .scheduleReconnect(let rid, let deadline)? = (failures == 0 ? actions.last : m.connectFailed(connectionID: id, error: lost).last) else {
                Issue.record("no reconnect scheduled after \(failures) failures")
                return
            }
            #expect(rid == id)
            // Independently: min(5 s, 100 ms · 2^failures), minus up to half of it.
            let base = Swift.min(Duration.seconds(5), Duration.milliseconds(100) * (1 << failures))
            let delay = clock.now.duration(to: deadline)
            #expect(delay <= base && delay >= base / 2, "failures \(failures): \(delay) for base \(base)")
            #expect(m.reconnectTimerFired(connectionID: id) == [.connect(expectedServer, connectionID: id + 1, deadline: clock.now.advanced(by: .seconds(5)))])
            id += 1
            expectedServer = expectedServer == a ? b : a
        }
    }

    @Test func jitterSpreadsClientsThatLostTheSameServer() {
        var delays = Set<Duration>()
        for seed in UInt64(1)...20 {
            var m = Machine(servers: [a], options: NATSOptions(), clock: clock, seed: seed)
            connect(&m)
            if case .scheduleReconnect(_, let deadline)? = m.channelInactive(connectionID: 1, error: nil).last { delays.insert(clock.now.duration(to: deadline)) }
        }
        #expect(delays.count > 15)
    }

    @Test func reconnectReplaysSubscriptionsThenBufferAndCarriesFlushes() throws {
        var m = machine()
        connect(&m)
        _ = try m.subscribe(subject: "a", queue: nil)
        _ = try m.subscribe(subject: "b", queue: "q")
        _ = m.flushTick()
        #expect(m.unsubscribe(sid: 2, afterMessages: 5) == .scheduleFlush)
        #expect(m.receivedMessage(sid: 2) == .deliver)
        #expect(m.receivedMessage(sid: 2) == .deliver)
        _ = try m.flush(id: 7)
        #expect(m.flushTick() == ByteBuffer(string: "UNSUB 2 5\r\nPING\r\n"))

        _ = m.channelInactive(connectionID: 1, error: nil)
        #expect(try m.publish(subject: "p", replyTo: nil, headers: nil, payload: ByteBuffer(string: "x")) == .doNothing)
        _ = m.reconnectTimerFired(connectionID: 1)
        _ = m.channelActive(connectionID: 2)
        _ = m.received(.info(info()), connectionID: 2)
        let connected = m.received(.pong, connectionID: 2)
        #expect(Self.text(connected) == ["SUB a 1\r\nSUB b q 2\r\nUNSUB 2 3\r\nPUB p 1\r\nx\r\nPING\r\n"])
        #expect(connected.last == .reportConnected(b, info(), isReconnect: true))
        #expect(m.received(.pong, connectionID: 2) == [.succeedFlushes([7])])
    }

    /// `discardBufferOnDisconnect`: what was not written when the connection died is dropped, so
    /// it cannot reach the next server ahead of what its owner resends; what is published while
    /// disconnected is still kept, and subscriptions are replayed as always.
    @Test func discardBufferOnDisconnectDropsOnlyWhatTheDeadConnectionHeld() throws {
        var m = machine { $0.discardBufferOnDisconnect = true }
        connect(&m)
        _ = try m.subscribe(subject: "a", queue: nil)
        _ = m.flushTick()
        _ = try m.publish(subject: "old", replyTo: nil, headers: nil, payload: ByteBuffer(string: "1"))
        #expect(m.bufferedBytes == "PUB old 1\r\n1\r\n".utf8.count)
        _ = m.channelInactive(connectionID: 1, error: nil)
        #expect(m.bufferedBytes == 0)
        _ = try m.publish(subject: "new", replyTo: nil, headers: nil, payload: ByteBuffer(string: "2"))
        _ = m.reconnectTimerFired(connectionID: 1)
        _ = m.channelActive(connectionID: 2)
        _ = m.received(.info(info()), connectionID: 2)
        #expect(Self.text(m.received(.pong, connectionID: 2)) == ["SUB a 1\r\nPUB new 1\r\n2\r\n"])
    }

    /// `resetConnection`: what is buffered is dropped (counted) and the connection closed at once,
    /// with or without `discardBufferOnDisconnect`; the reconnect replays only the subscriptions.
    @Test func resetConnectionDropsTheBufferAndReconnects() throws {
        var m = machine()
        connect(&m)
        _ = try m.subscribe(subject: "a", queue: nil)
        _ = m.flushTick()
        _ = try m.publish(subject: "stale", replyTo: nil, headers: nil, payload: ByteBuffer(string: "1"))
        let error = NATSError(.connectionClosed, "lease lost")
        let reset = m.resetConnection(error: error)
        #expect(reset.dropped == "PUB stale 1\r\n1\r\n".utf8.count)
        #expect(reset.actions == [.closeConnection(error)])
        #expect(m.bufferedBytes == 0)
        let lost = m.channelInactive(connectionID: 1, error: nil)
        #expect(lost.contains { if case .scheduleReconnect = $0 { true } else { false } })
        _ = m.reconnectTimerFired(connectionID: 1)
        _ = m.channelActive(connectionID: 2)
        _ = m.received(.info(info()), connectionID: 2)
        #expect(Self.text(m.received(.pong, connectionID: 2)) == ["SUB a 1\r\n"])
        // While waiting to reconnect: the buffer is dropped, nothing to close.
        _ = try m.publish(subject: "x", replyTo: nil, headers: nil, payload: ByteBuffer(string: "2"))
        _ = m.channelInactive(connectionID: 2, error: nil)
        let idle = m.resetConnection(error: error)
        #expect(idle.dropped > 0 && idle.actions.isEmpty && m.bufferedBytes == 0)
    }

    @Test func unansweredPingsCloseAStaleConnection() {
        var m = machine { $0.maxPingsOutstanding = 2 }
        connect(&m)
        let next = { clock.now.advanced(by: .seconds(30)) }
        #expect(m.pingTimerFired(connectionID: 1) == [.write(ByteBuffer(string: "PING\r\n")), .schedulePing(connectionID: 1, deadline: next())])
        #expect(m.received(.pong, connectionID: 1) == [])
        #expect(m.pingTimerFired(connectionID: 1) == [.write(ByteBuffer(string: "PING\r\n")), .schedulePing(connectionID: 1, deadline: next())])
        #expect(m.pingTimerFired(connectionID: 1) == [.write(ByteBuffer(string: "PING\r\n")), .schedulePing(connectionID: 1, deadline: next())])
        let stale = m.pingTimerFired(connectionID: 1)
        guard case .closeConnection(let error?)? = stale.first else {
            Issue.record("expected a close, got \(stale)")
            return
        }
        #expect(error.code == .staleConnection)
    }

    @Test func eventsFromAnOldConnectionAreIgnored() {
        var m = machine()
        connect(&m)
        _ = m.channelInactive(connectionID: 1, error: nil)
        _ = m.reconnectTimerFired(connectionID: 1)
        _ = m.channelActive(connectionID: 2)
        #expect(m.channelInactive(connectionID: 1, error: nil) == [])
        #expect(m.received(.pong, connectionID: 1) == [])
        #expect(m.pingTimerFired(connectionID: 1) == [])
        #expect(m.reconnectTimerFired(connectionID: 1) == [])
        #expect(m.handshakeTimerFired(connectionID: 1) == [])
        #expect(m.phase == .awaitingInfo && m.connectionID == 2)
    }

    @Test func serverPingIsAnsweredAndPermissionErrorsKeepTheConnection() {
        var m = machine()
        connect(&m)
        #expect(m.received(.ping, connectionID: 1) == [.write(ByteBuffer(string: "PONG\r\n"))])
        #expect(m.received(.error("Permissions Violation for Subscription to \"x\""), connectionID: 1) == [.reportServerError("Permissions Violation for Subscription to \"x\"")])
        #expect(m.phase == .connected)
    }

    @Test func autoUnsubscribeFinishesAfterTheCount() throws {
        var m = machine()
        connect(&m)
        let (sid, _) = try m.subscribe(subject: "one.shot", queue: nil)
        _ = m.unsubscribe(sid: sid, afterMessages: 2)
        #expect(m.flushTick() == ByteBuffer(string: "SUB one.shot 1\r\nUNSUB 1 2\r\n"))
        #expect(m.receivedMessage(sid: sid) == .deliver)
        #expect(m.receivedMessage(sid: sid) == .deliverAndFinish)
        #expect(m.receivedMessage(sid: sid) == .drop)
    }

    @Test func drainSendsQueuedThenUnsubscribesAndClosesOnThePong() throws {
        var m = machine()
        connect(&m)
        _ = try m.subscribe(subject: "a", queue: nil)
        _ = try m.subscribe(subject: "b", queue: nil)
        _ = m.flushTick()
        _ = try m.publish(subject: "last", replyTo: nil, headers: nil, payload: ByteBuffer(string: "z"))
        #expect(m.drain() == [.write(ByteBuffer(string: "PUB last 1\r\nz\r\nUNSUB 1\r\nUNSUB 2\r\nPING\r\n"))])
        #expect(throws: NATSError.self) { try m.publish(subject: "late", replyTo: nil, headers: nil, payload: ByteBuffer()) }
        #expect(m.receivedMessage(sid: 1) == .deliver)
        #expect(m.received(.pong, connectionID: 1) == [.closeConnection(nil), .closed(nil)])
        #expect(m.isClosed)
    }

    @Test func drainWhileDisconnectedSaysWhatWasLost() throws {
        var m = machine()
        connect(&m)
        _ = m.channelInactive(connectionID: 1, error: nil)
        _ = try m.publish(subject: "x", replyTo: nil, headers: nil, payload: ByteBuffer(string: "abc"))
        guard case .closed(let error?)? = m.drain().last else {
            Issue.record("expected closed with an error")
            return
        }
        #expect(error == NATSError(.connectionClosed, "drained while disconnected: 14 buffered bytes were not sent"))
    }

    @Test func firstConnectGivesUpAfterOneRoundUnlessToldToRetry() {
        var m = machine()
        _ = m.start()
        let refused = NATSError(.connectionClosed, "refused")
        _ = m.connectFailed(connectionID: 1, error: refused)
        _ = m.reconnectTimerFired(connectionID: 1)
        guard case .closed(let error?)? = m.connectFailed(connectionID: 2, error: refused).last else {
            Issue.record("expected the client to close")
            return
        }
        #expect(error.code == .noServers)

        var retrying = machine {
            $0.retryOnFailedInitialConnect = true
            $0.reconnect.maxAttempts = 3
        }
        _ = retrying.start()
        for id in UInt64(1)...2 {
            #expect(retrying.connectFailed(connectionID: id, error: refused).last.map { if case .scheduleReconnect = $0 { true } else { false } } == true)
            _ = retrying.reconnectTimerFired(connectionID: id)
        }
        guard case .closed(let last?)? = retrying.connectFailed(connectionID: 3, error: refused).last else {
            Issue.record("expected the client to give up after 3 attempts")
            return
        }
        #expect(last.code == .noServers)
    }

    @Test func handshakeTimeoutAndTLSOnlyServersCloseTheSocket() {
        var m = machine()
        _ = m.start()
        _ = m.channelActive(connectionID: 1)
        guard case .closeConnection(let timeout?)? = m.handshakeTimerFired(connectionID: 1).first else {
            Issue.record("expected a close on handshake timeout")
            return
        }
        #expect(timeout.code == .timeout)
        _ = m.channelInactive(connectionID: 1, error: nil)
        _ = m.reconnectTimerFired(connectionID: 1)
        _ = m.channelActive(connectionID: 2)
        guard case .closeConnection(let tls?)? = m.received(.info(info(tls: true)), connectionID: 2).last else {
            Issue.record("expected a close for a TLS-only server")
            return
        }
        #expect(tls.code == .tlsRequired)
    }

    @Test func backedUpSocketHoldsWritesButNotPings() throws {
        var m = machine()
        connect(&m)
        #expect(m.writabilityChanged(isWritable: false) == nil)
        #expect(try m.publish(subject: "a", replyTo: nil, headers: nil, payload: ByteBuffer(string: "1")) == .scheduleFlush)
        _ = try m.flush(id: 3)
        #expect(m.flushTick() == nil)
        #expect(Self.text(m.pingTimerFired(connectionID: 1)) == ["PING\r\n"])
        #expect(m.writabilityChanged(isWritable: true) == ByteBuffer(string: "PUB a 1\r\n1\r\nPING\r\n"))
        // The keepalive PING went out first, so its PONG comes first.
        #expect(m.received(.pong, connectionID: 1) == [])
        #expect(m.received(.pong, connectionID: 1) == [.succeedFlushes([3])])
    }

    @Test func publishLargerThanTheServerAcceptsIsRefusedEvenWhileDisconnected() throws {
        var m = machine()
        _ = m.start()
        _ = m.channelActive(connectionID: 1)
        var small = info()
        small.maxPayload = 100
        _ = m.received(.info(small), connectionID: 1)
        _ = m.received(.pong, connectionID: 1)
        #expect(try m.publish(subject: "a", replyTo: nil, headers: nil, payload: ByteBuffer(repeating: 0, count: 100)) == .scheduleFlush)
        #expect(throws: NATSError(.payloadTooLarge, "publish to a: 101 bytes exceed the server's max_payload of 100")) {
            try m.publish(subject: "a", replyTo: nil, headers: nil, payload: ByteBuffer(repeating: 0, count: 101))
        }
        // 12 bytes of header block ("NATS/1.0\r\n\r\n") plus 90 of payload.
        #expect(throws: NATSError.self) { try m.publish(subject: "a", replyTo: nil, headers: NATSHeaders(), payload: ByteBuffer(repeating: 0, count: 90)) }
        _ = m.channelInactive(connectionID: 1, error: nil)
        #expect(throws: NATSError.self) { try m.publish(subject: "a", replyTo: nil, headers: nil, payload: ByteBuffer(repeating: 0, count: 101)) }
    }

    @Test func closeFailsWaitingFlushes() throws {
        var m = machine()
        _ = m.start()
        _ = try m.flush(id: 9)
        let actions = m.close()
        #expect(actions.first == .failFlushes([9], NATSError(.connectionClosed, "the client closed")))
        #expect(actions.last == .closed(nil))
        #expect(throws: NATSError.self) { try m.subscribe(subject: "x", queue: nil) }
    }
}
