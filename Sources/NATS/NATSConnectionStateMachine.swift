public import NIOCore

/// The connection's logic as a value: events in, actions out, time from an injected clock.
///
/// It owns the server pool, the subscription table (replayed after every reconnect), the bounded
/// buffer of outgoing commands, the PING/PONG bookkeeping (keepalive, flush, drain) and the reconnect
/// backoff. `NATSClient` is the I/O shell: it feeds socket and timer events in and carries out the
/// returned actions. Events carry the `connectionID` they belong to, so late events from an old
/// socket or timer are ignored.
///
/// Everything a caller sends goes through one ordered buffer (`outbound`): a SUB queued before a
/// PUB reaches the server before it, which is what makes request-reply work without a round trip.
/// PINGs never enter that buffer: a buffer carried across a reconnect must not hold a PING whose
/// PONG would be matched to the wrong waiter.
public struct NATSConnectionStateMachine<C: Clock>: Sendable where C.Duration == Duration {
    /// Where the connection is.
    public enum Phase: Sendable, Equatable {
        case idle
        /// TCP connect in flight.
        case connecting
        /// TCP up; waiting for the server's INFO.
        case awaitingInfo
        /// CONNECT and PING sent; waiting for PONG (or -ERR).
        case awaitingPong
        case connected
        /// Backoff timer running.
        case waitingToReconnect
        /// UNSUBs and a final PING sent; waiting for its PONG to close.
        case draining
        case closed
    }

    /// What the shell must do.
    public enum Action: Sendable, Equatable {
        /// Open a TCP connection; the whole handshake must finish by `deadline`.
        case connect(NATSServerAddress, connectionID: UInt64, deadline: C.Instant)
        /// Write these bytes to the current connection and flush.
        case write(ByteBuffer)
        /// Close the current connection (the shell then reports `channelInactive`).
        case closeConnection(NATSError?)
        /// Call `reconnectTimerFired` at `deadline`.
        case scheduleReconnect(connectionID: UInt64, deadline: C.Instant)
        /// Call `pingTimerFired` at `deadline`.
        case schedulePing(connectionID: UInt64, deadline: C.Instant)
        /// These flushes reached the server.
        case succeedFlushes([UInt64])
        case failFlushes([UInt64], NATSError)
        case reportConnected(NATSServerAddress, ServerInfo, isReconnect: Bool)
        case reportDisconnected(NATSServerAddress, NATSError?)
        case reportServerError(String)
        /// Servers learned from INFO `connect_urls`.
        case reportDiscoveredServers([NATSServerAddress])
        /// The client is closed for good: finish every subscription (with the error, if any), fail everything waiting.
        case closed(NATSError?)
    }

    /// What to do after a publish, subscribe, unsubscribe or flush.
    public enum BufferedAction: Sendable, Equatable {
        case doNothing
        /// Call `flushTick()` soon, on the connection's event loop (coalesces many commands into one write).
        case scheduleFlush
    }

    /// What to do with an incoming message.
    public enum DeliveryAction: Sendable, Equatable {
        case deliver
        /// Deliver, then finish the subscription: its auto-unsubscribe count is reached.
        case deliverAndFinish
        /// Nobody is subscribed any more (a late message after UNSUB).
        case drop
    }

    enum PongWaiter: Equatable {
        case keepalive
        case flush([UInt64])
        case drain
    }

    struct Subscription: Equatable {
        var subject: String
        var queue: String?
        var maxMessages: UInt64?
        var delivered: UInt64 = 0
    }

    let options: NATSOptions
    let connect: NATSConnectCommand
    let clock: C
    private var rng: SplitMix64

    public private(set) var phase: Phase = .idle
    /// Servers to try, in order: the configured ones, then discovered ones.
    public private(set) var servers: [NATSServerAddress]
    private var serverIndex = 0
    /// Increments with every connect attempt.
    public private(set) var connectionID: UInt64 = 0
    /// Consecutive failed attempts since the last successful connect.
    public private(set) var failures = 0
    private var everConnected = false
    public private(set) var serverInfo: ServerInfo?
    /// The last server's `max_payload`, kept across reconnects so buffered publishes are checked too.
    private var maxPayload: Int?
    private var lastError: NATSError?

    private(set) var subscriptions: [UInt64: Subscription] = [:]
    private var nextSID: UInt64 = 1

    private var outbound: ByteBuffer
    private var flushScheduled = false
    private var writable = true
    private var pongWaiters: [PongWaiter] = []
    /// Flushes waiting for the next PING that goes out.
    private var flushesForNextPing: [UInt64] = []
    private var pingsOutstanding = 0

    /// - Parameters:
    ///   - servers: at least one server; tried in order, then round-robin.
    ///   - seed: seeds the jitter generator (tests pass a fixed one).
    public init(servers: [NATSServerAddress], options: NATSOptions, clock: C, seed: UInt64) {
        precondition(!servers.isEmpty, "NATSConnectionStateMachine needs at least one server")
        self.servers = servers
        self.options = options
        self.clock = clock
        self.rng = SplitMix64(seed: seed)
        var connect = NATSConnectCommand()
        connect.name = options.name
        connect.echo = options.echo
        self.connect = connect
        self.outbound = ByteBufferAllocator().buffer(capacity: 0)
    }

    /// Bytes waiting to be written (buffered while disconnected, or not yet flushed).
    public var bufferedBytes: Int { outbound.readableBytes }

    /// The server of the current (or last) connection.
    public var currentServer: NATSServerAddress { servers[serverIndex] }

    /// Whether the client is closed or closing for good.
    public var isClosed: Bool { phase == .closed }

    // MARK: Lifecycle events

    /// Starts the first connect.
    public mutating func start() -> [Action] {
        guard phase == .idle else { return [] }
        return [beginConnect()]
    }

    /// The TCP connect for `connectionID` failed.
    public mutating func connectFailed(connectionID id: UInt64, error: NATSError) -> [Action] {
        guard id == connectionID, phase == .connecting else { return [] }
        return connectionLost(error: error)
    }

    /// The TCP connection for `connectionID` is up.
    public mutating func channelActive(connectionID id: UInt64) -> [Action] {
        guard id == connectionID, phase == .connecting else { return [] }
        phase = .awaitingInfo
        return []
    }

    /// The connection for `connectionID` closed (`error`: why, if known).
    public mutating func channelInactive(connectionID id: UInt64, error: NATSError?) -> [Action] {
        guard id == connectionID else { return [] }
        switch phase {
        case .connecting, .awaitingInfo, .awaitingPong, .connected:
            return connectionLost(error: error ?? lastError)
        case .draining:
            // The drain's PONG never came; what was in flight may be lost, but the client closes as asked.
            return closeForGood(error: error ?? lastError, closeSocket: false)
        case .idle, .waitingToReconnect, .closed:
            return []
        }
    }

    /// The handshake deadline for `connectionID` passed.
    public mutating func handshakeTimerFired(connectionID id: UInt64) -> [Action] {
        guard id == connectionID else { return [] }
        switch phase {
        case .awaitingInfo, .awaitingPong:
            lastError = NATSError(.timeout, "no handshake with \(currentServer) within \(options.connectTimeout)")
            return [.closeConnection(lastError)]
        case .connecting:
            // The shell's connect timeout reports this as connectFailed.
            return []
        default:
            return []
        }
    }

    /// The backoff for `connectionID` is over: try the next server.
    public mutating func reconnectTimerFired(connectionID id: UInt64) -> [Action] {
        guard id == connectionID, phase == .waitingToReconnect else { return [] }
        serverIndex = (serverIndex + 1) % servers.count
        return [beginConnect()]
    }

    /// The ping interval for `connectionID` passed.
    public mutating func pingTimerFired(connectionID id: UInt64) -> [Action] {
        guard id == connectionID, phase == .connected else { return [] }
        if pingsOutstanding >= options.maxPingsOutstanding {
            lastError = NATSError(.staleConnection, "\(currentServer) did not answer \(pingsOutstanding) PINGs")
            return [.closeConnection(lastError)]
        }
        pingsOutstanding += 1
        pongWaiters.append(.keepalive)
        // Written directly, not through `outbound`, and even when the socket is backed up: a PING is tiny.
        var ping = ByteBufferAllocator().buffer(capacity: 6)
        NATSProtocolEncoder.writePing(into: &ping)
        return [.write(ping), .schedulePing(connectionID: connectionID, deadline: clock.now.advanced(by: options.pingInterval))]
    }

    /// The socket's writability changed; when writable again, returns what to write.
    public mutating func writabilityChanged(isWritable: Bool) -> ByteBuffer? {
        writable = isWritable
        return isWritable ? takeWrite() : nil
    }

    /// The shell's coalesced flush: returns the bytes to write now, if any.
    public mutating func flushTick() -> ByteBuffer? {
        flushScheduled = false
        return takeWrite()
    }

    // MARK: Server operations

    /// A non-message operation arrived on `connectionID` (`MSG`/`HMSG` go to `receivedMessage`).
    public mutating func received(_ operation: NATSServerOperation, connectionID id: UInt64) -> [Action] {
        guard id == connectionID else { return [] }
        switch operation {
        case .ping:
            guard phase != .closed else { return [] }
            var pong = ByteBufferAllocator().buffer(capacity: 6)
            NATSProtocolEncoder.writePong(into: &pong)
            return [.write(pong)]
        case .ok, .message:
            return []
        case .error(let text):
            lastError = NATSError(.serverError, text)
            // The server closes the connection itself after fatal errors; permission errors leave it open.
            return [.reportServerError(text)]
        case .info(let info):
            return receivedInfo(info)
        case .pong:
            return receivedPong()
        }
    }

    private mutating func receivedInfo(_ info: ServerInfo) -> [Action] {
        serverInfo = info
        maxPayload = info.maxPayload
        var actions: [Action] = []
        if options.discoverServers {
            var added: [NATSServerAddress] = []
            for url in info.connectURLs {
                guard var address = try? NATSServerAddress(parsing: url) else { continue }
                guard !servers.contains(where: { $0.sameEndpoint(as: address) }) else { continue }
                // Discovered servers get the credentials of the configured first server.
                address.user = servers[0].user
                address.password = servers[0].password
                address.token = servers[0].token
                servers.append(address)
                added.append(address)
            }
            if !added.isEmpty { actions.append(.reportDiscoveredServers(added)) }
        }
        guard phase == .awaitingInfo else { return actions }
        if info.tlsRequired {
            lastError = NATSError(.tlsRequired, "\(currentServer) requires TLS, which this client does not support")
            actions.append(.closeConnection(lastError))
            return actions
        }
        var command = connect
        command.headers = info.headers
        command.noResponders = info.headers
        let address = currentServer
        command.user = address.user
        command.pass = address.password
        command.authToken = address.token
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        NATSProtocolEncoder.writeConnect(command, into: &buffer)
        NATSProtocolEncoder.writePing(into: &buffer)
        phase = .awaitingPong
        actions.append(.write(buffer))
        return actions
    }

    private mutating func receivedPong() -> [Action] {
        switch phase {
        case .awaitingPong:
            return handshakeDone()
        case .connected, .draining:
            pingsOutstanding = 0
            guard !pongWaiters.isEmpty else { return [] }
            switch pongWaiters.removeFirst() {
            case .keepalive: return []
            case .flush(let ids): return [.succeedFlushes(ids)]
            case .drain: return closeForGood(error: nil, closeSocket: true)
            }
        default:
            return []
        }
    }

    private mutating func handshakeDone() -> [Action] {
        let isReconnect = everConnected
        phase = .connected
        everConnected = true
        failures = 0
        lastError = nil
        pingsOutstanding = 0
        // Subscriptions first, then whatever was buffered, so buffered publishes reach our own
        // subscriptions too.
        var buffer = ByteBufferAllocator().buffer(capacity: 64 * subscriptions.count + outbound.readableBytes + 6)
        for sid in subscriptions.keys.sorted() {
            let sub = subscriptions[sid]!
            // Validated when subscribed.
            try! NATSProtocolEncoder.writeSubscribe(subject: sub.subject, queue: sub.queue, sid: sid, into: &buffer)
            if let max = sub.maxMessages { NATSProtocolEncoder.writeUnsubscribe(sid: sid, max: max - sub.delivered, into: &buffer) }
        }
        buffer.writeImmutableBuffer(outbound)
        outbound = ByteBufferAllocator().buffer(capacity: 0)
        if !flushesForNextPing.isEmpty {
            NATSProtocolEncoder.writePing(into: &buffer)
            pongWaiters.append(.flush(flushesForNextPing))
            flushesForNextPing = []
        }
        var actions: [Action] = []
        if buffer.readableBytes > 0 { actions.append(.write(buffer)) }
        actions.append(.schedulePing(connectionID: connectionID, deadline: clock.now.advanced(by: options.pingInterval)))
        actions.append(.reportConnected(currentServer, serverInfo ?? ServerInfo(serverID: ""), isReconnect: isReconnect))
        return actions
    }

    /// A `MSG`/`HMSG` for `sid` arrived.
    public mutating func receivedMessage(sid: UInt64) -> DeliveryAction {
        guard var sub = subscriptions[sid] else { return .drop }
        sub.delivered += 1
        if let max = sub.maxMessages, sub.delivered >= max {
            subscriptions[sid] = nil
            return .deliverAndFinish
        }
        subscriptions[sid] = sub
        return .deliver
    }

    // MARK: Caller commands

    /// Queues a publish.
    /// - Throws: `NATSError` `.invalidSubject`/`.invalidHeader`/`.payloadTooLarge` (nothing queued), `.bufferFull`, `.connectionClosed`.
    public mutating func publish(subject: String, replyTo: String?, headers: NATSHeaders?, payload: ByteBuffer) throws -> BufferedAction {
        try checkOpen()
        if let headers, !headers.isEmpty, let info = serverInfo, !info.headers {
            throw NATSError(.invalidHeader, "server \(info.serverName ?? info.serverID) does not support headers")
        }
        if let maxPayload {
            let size = payload.readableBytes + (headers.map(NATSProtocolEncoder.headerBlockLength) ?? 0)
            // The server answers a larger publish with -ERR and closes the connection; refuse it here.
            guard size <= maxPayload else {
                throw NATSError(.payloadTooLarge, "publish to \(subject): \(size) bytes exceed the server's max_payload of \(maxPayload)")
            }
        }
        let before = outbound.writerIndex
        try NATSProtocolEncoder.writePublish(subject: subject, replyTo: replyTo, headers: headers, payload: payload, into: &outbound)
        if outbound.readableBytes > options.maxBufferedBytes {
            let size = outbound.writerIndex - before
            outbound.moveWriterIndex(to: before)
            throw NATSError(
                .bufferFull,
                "publish to \(subject) (\(size) bytes) would exceed the \(options.maxBufferedBytes)-byte buffer (\(phase == .connected ? "socket backed up" : "disconnected"))"
            )
        }
        return scheduleIfConnected()
    }

    /// Registers a subscription and returns its sid.
    /// - Throws: `NATSError` `.invalidSubject`, `.connectionClosed`.
    public mutating func subscribe(subject: String, queue: String?) throws -> (sid: UInt64, action: BufferedAction) {
        try checkOpen()
        try NATSProtocolEncoder.validateSubscribeSubject(subject)
        if let queue { try NATSProtocolEncoder.validateQueueGroup(queue) }
        let sid = nextSID
        nextSID += 1
        subscriptions[sid] = Subscription(subject: subject, queue: queue)
        guard phase == .connected else { return (sid, .doNothing) }  // sent by the handshake
        try! NATSProtocolEncoder.writeSubscribe(subject: subject, queue: queue, sid: sid, into: &outbound)
        return (sid, scheduleIfConnected())
    }

    /// Removes a subscription now (`afterMessages` nil), or after it has received that many messages in all.
    public mutating func unsubscribe(sid: UInt64, afterMessages: UInt64? = nil) -> BufferedAction {
        guard var sub = subscriptions[sid] else { return .doNothing }
        if let max = afterMessages, max > sub.delivered {
            sub.maxMessages = max
            subscriptions[sid] = sub
        } else {
            subscriptions[sid] = nil
        }
        guard phase == .connected else { return .doNothing }
        NATSProtocolEncoder.writeUnsubscribe(sid: sid, max: subscriptions[sid]?.maxMessages, into: &outbound)
        return scheduleIfConnected()
    }

    /// Asks for a PING after everything queued so far; `succeedFlushes([id])` follows its PONG.
    /// While disconnected, the flush waits for the reconnect.
    public mutating func flush(id: UInt64) throws -> BufferedAction {
        try checkOpen()
        flushesForNextPing.append(id)
        return scheduleIfConnected()
    }

    /// Starts a drain: UNSUB everything, write what is buffered, PING, and close on the PONG.
    /// Messages already on their way are still delivered. When not connected, closes at once; what
    /// was buffered is lost and the returned actions end with `.closed` carrying that error.
    public mutating func drain() -> [Action] {
        switch phase {
        case .closed, .draining:
            return []
        case .connected:
            phase = .draining
            // What was queued before the drain goes first, then the UNSUBs, then the final PING.
            var buffer = outbound
            outbound = ByteBufferAllocator().buffer(capacity: 0)
            for sid in subscriptions.keys.sorted() { NATSProtocolEncoder.writeUnsubscribe(sid: sid, max: nil, into: &buffer) }
            if !flushesForNextPing.isEmpty {
                NATSProtocolEncoder.writePing(into: &buffer)
                pongWaiters.append(.flush(flushesForNextPing))
                flushesForNextPing = []
            }
            NATSProtocolEncoder.writePing(into: &buffer)
            pongWaiters.append(.drain)
            return [.write(buffer)]
        default:
            let lost = outbound.readableBytes
            let error = lost > 0 ? NATSError(.connectionClosed, "drained while disconnected: \(lost) buffered bytes were not sent") : nil
            return closeForGood(error: error, closeSocket: true)
        }
    }

    /// Drops the current connection and everything buffered for it, unsent (the shell resets the
    /// socket, so its kernel send queue goes too), then reconnects as after any lost connection.
    /// For a publisher whose buffered bytes went stale while the connection stalled (an ingest node
    /// that lost its lease while cut off, docs/nats.md "Ingest failover"). Returns the bytes dropped.
    public mutating func resetConnection(error: NATSError) -> (dropped: Int, actions: [Action]) {
        let dropped = outbound.readableBytes
        outbound.clear()
        switch phase {
        case .awaitingInfo, .awaitingPong, .connected:
            lastError = error
            return (dropped, [.closeConnection(error)])
        default:
            return (dropped, [])
        }
    }

    /// Closes now: nothing more is sent or delivered. `reason` (if any) is what subscribers and waiters see.
    public mutating func close(reason: NATSError? = nil) -> [Action] {
        guard phase != .closed else { return [] }
        return closeForGood(error: reason, closeSocket: true)
    }

    // MARK: Internals

    private func checkOpen() throws {
        switch phase {
        case .closed: throw NATSError(.connectionClosed, "the client is closed")
        case .draining: throw NATSError(.connectionClosed, "the client is draining")
        default: return
        }
    }

    private mutating func scheduleIfConnected() -> BufferedAction {
        guard phase == .connected, !flushScheduled else { return .doNothing }
        flushScheduled = true
        return .scheduleFlush
    }

    private mutating func takeWrite() -> ByteBuffer? {
        guard phase == .connected, writable else { return nil }
        var buffer = outbound
        outbound = ByteBufferAllocator().buffer(capacity: 0)
        if !flushesForNextPing.isEmpty {
            NATSProtocolEncoder.writePing(into: &buffer)
            pongWaiters.append(.flush(flushesForNextPing))
            flushesForNextPing = []
        }
        return buffer.readableBytes > 0 ? buffer : nil
    }

    private mutating func beginConnect() -> Action {
        connectionID += 1
        phase = .connecting
        serverInfo = nil
        writable = true
        return .connect(currentServer, connectionID: connectionID, deadline: clock.now.advanced(by: options.connectTimeout))
    }

    /// After a connect failure or a lost connection: keep the buffer (unless `discardBufferOnDisconnect`),
    /// carry flushes over, back off.
    private mutating func connectionLost(error: NATSError?) -> [Action] {
        let wasConnected = phase == .connected
        var actions: [Action] = []
        if wasConnected { actions.append(.reportDisconnected(currentServer, error)) }
        // Flushes whose PING went out on the dead socket wait for the next connection's PING.
        var carried: [UInt64] = []
        for waiter in pongWaiters { if case .flush(let ids) = waiter { carried += ids } }
        flushesForNextPing = carried + flushesForNextPing
        pongWaiters = []
        pingsOutstanding = 0
        flushScheduled = false
        if options.discardBufferOnDisconnect, wasConnected { outbound.clear() }
        lastError = error
        if wasConnected {
            failures = 0
        } else {
            failures += 1
        }
        if let max = options.reconnect.maxAttempts, failures >= max, !wasConnected {
            let reason = NATSError(.noServers, "gave up after \(failures) failed connect attempts; last: \(error?.description ?? "unknown")")
            return actions + closeForGood(error: reason, closeSocket: false)
        }
        if !everConnected, !options.retryOnFailedInitialConnect, failures >= servers.count {
            let reason = NATSError(.noServers, "could not connect to any of \(servers.map(\.description)); last: \(error?.description ?? "unknown")")
            return actions + closeForGood(error: reason, closeSocket: false)
        }
        phase = .waitingToReconnect
        let delay = options.reconnect.delay(afterFailures: failures, random: Double.random(in: 0..<1, using: &rng))
        actions.append(.scheduleReconnect(connectionID: connectionID, deadline: clock.now.advanced(by: delay)))
        return actions
    }

    private mutating func closeForGood(error: NATSError?, closeSocket: Bool) -> [Action] {
        let wasConnected = phase == .connected || phase == .draining
        phase = .closed
        var actions: [Action] = []
        var waiting: [UInt64] = flushesForNextPing
        for waiter in pongWaiters { if case .flush(let ids) = waiter { waiting += ids } }
        pongWaiters = []
        flushesForNextPing = []
        if !waiting.isEmpty { actions.append(.failFlushes(waiting, error ?? NATSError(.connectionClosed, "the client closed"))) }
        subscriptions = [:]
        if closeSocket { actions.append(.closeConnection(nil)) }
        // A close that was asked for is reported by `.closed` alone; a failure also as a disconnect.
        if wasConnected, error != nil { actions.append(.reportDisconnected(currentServer, error)) }
        outbound = ByteBufferAllocator().buffer(capacity: 0)
        actions.append(.closed(error))
        return actions
    }
}
