public import Logging
public import NIOCore
import NIOPosix
import Synchronization

/// A NATS client on SwiftNIO: one TCP connection to one server of a pool, re-established with
/// backoff when it drops, with subscriptions replayed and publishes buffered meanwhile.
///
/// All connection state lives in `NATSConnectionStateMachine`; this class feeds it socket and timer
/// events on one event loop and carries out what it returns. Callers on any thread only take the
/// lock, queue bytes and, at most, schedule one coalesced write on the loop.
///
/// - Important: call `drain()` or `close()` when done; until then the client keeps reconnecting.
public final class NATSClient: Sendable {
    /// Something that happened to the connection, for logs, metrics and tests.
    public enum ConnectionEvent: Sendable, Equatable {
        case connected(NATSServerAddress)
        case reconnected(NATSServerAddress)
        case disconnected(NATSServerAddress, reason: String?)
        case discoveredServers([NATSServerAddress])
        case serverError(String)
        case closed(reason: String?)
    }

    /// Counters since the client started.
    public struct Statistics: Sendable, Equatable {
        public var messagesIn = 0
        public var bytesIn = 0
        public var messagesOut = 0
        public var bytesOut = 0
        public var reconnects = 0
        /// Messages dropped because a subscription's buffer was full (a slow reader).
        public var droppedMessages = 0
        /// Connections closed because the server sent something that is not the protocol.
        public var protocolErrors = 0
    }

    typealias Machine = NATSConnectionStateMachine<ContinuousClock>
    typealias Action = Machine.Action

    enum Sink: Sendable {
        case stream(AsyncThrowingStream<NATSMessage, any Error>.Continuation, SubscriptionCounters)
        case handler(@Sendable (NATSMessage) -> Void)
    }

    struct RequestWaiter: Sendable {
        var subject: String
        var continuation: CheckedContinuation<NATSMessage, any Error>
        var timer: Scheduled<Void>?
    }

    enum TimerKind: Hashable { case handshake, reconnect, ping }

    struct Shared: Sendable {
        var machine: Machine
        var channel: (any Channel)?
        var sinks: [UInt64: Sink] = [:]
        var flushWaiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
        var nextWaiterID: UInt64 = 1
        var requests: [UInt64: RequestWaiter] = [:]
        var requestInboxSID: UInt64?
        var connectWaiters: [CheckedContinuation<Void, any Error>] = []
        var closeWaiters: [(CheckedContinuation<Void, any Error>, throwing: Bool)] = []
        var observers: [UInt64: AsyncStream<ConnectionEvent>.Continuation] = [:]
        var timers: [TimerKind: Scheduled<Void>] = [:]
        var closeReason: NATSError?
    }

    enum Effect {
        case connect(NATSServerAddress, UInt64, ContinuousClock.Instant)
        case write(any Channel, ByteBuffer)
        case close(any Channel)
        case schedule(TimerKind, UInt64, ContinuousClock.Instant)
        case resumeFlushes([CheckedContinuation<Void, any Error>], NATSError?)
        case notify(ConnectionEvent, [AsyncStream<ConnectionEvent>.Continuation])
        case resumeConnect([CheckedContinuation<Void, any Error>], NATSError?)
        case closed(ClosedEffects)
    }

    struct ClosedEffects {
        var error: NATSError?
        var sinks: [Sink]
        var requests: [RequestWaiter]
        var connectWaiters: [CheckedContinuation<Void, any Error>]
        var closeWaiters: [(CheckedContinuation<Void, any Error>, throwing: Bool)]
        var observers: [AsyncStream<ConnectionEvent>.Continuation]
        var timers: [Scheduled<Void>]
    }

    /// The event loop every connection of this client runs on.
    public let eventLoop: any EventLoop
    let logger: Logger
    let options: NATSOptions
    let state: Mutex<Shared>
    let counters = ClientCounters()
    /// Replies to `request` arrive on `<requestPrefix>.<id>`, one wildcard subscription for all.
    let requestPrefix: String
    private let clock = ContinuousClock()

    init(servers: [NATSServerAddress], options: NATSOptions, eventLoop: any EventLoop, logger: Logger) {
        self.eventLoop = eventLoop
        self.logger = logger
        self.options = options
        self.requestPrefix = Self.newInboxSubject()
        self.state = Mutex(Shared(machine: Machine(servers: servers, options: options, clock: ContinuousClock(), seed: UInt64.random(in: 0...UInt64.max))))
    }

    /// Connects to the first reachable server of `urls` (`nats://host:port`, `host:port`).
    /// - Parameters:
    ///   - urls: servers tried in order; more are learned from the cluster (`connect_urls`).
    ///   - logger: connects, reconnects and errors are logged here (per-message logging: none).
    /// - Throws: `NATSError` `.invalidURL`, or `.noServers` when no server answered (see `NATSOptions.retryOnFailedInitialConnect`).
    public static func connect(
        to urls: [String], options: NATSOptions = NATSOptions(), eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws -> NATSClient {
        let servers = try urls.map { try NATSServerAddress(parsing: $0) }
        guard !servers.isEmpty else { throw NATSError(.invalidURL, "no server URLs given") }
        let client = NATSClient(servers: servers, options: options, eventLoop: eventLoopGroup.next(), logger: logger)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            client.eventLoop.execute {
                client.event { s in
                    s.connectWaiters.append(continuation)
                    return s.machine.start()
                }
            }
        }
        return client
    }

    // MARK: Public API

    /// Publishes `payload` to `subject`. Never waits: the bytes join a bounded buffer that the event
    /// loop writes out (coalescing many publishes into one write); while disconnected they wait for
    /// the reconnect. Use `flush()` to wait until the server has them.
    /// - Throws: `NATSError` `.invalidSubject`, `.invalidHeader`, `.bufferFull` (nothing is queued then), `.connectionClosed`.
    public func publish(subject: String, payload: ByteBuffer, headers: NATSHeaders? = nil, replyTo: String? = nil) throws {
        let action = try state.withLock { try $0.machine.publish(subject: subject, replyTo: replyTo, headers: headers, payload: payload) }
        counters.messagesOut.add(1, ordering: .relaxed)
        counters.bytesOut.add(payload.readableBytes, ordering: .relaxed)
        if action == .scheduleFlush { scheduleFlushTick() }
    }

    /// Publishes bytes.
    public func publish(subject: String, payload: [UInt8], headers: NATSHeaders? = nil, replyTo: String? = nil) throws {
        try publish(subject: subject, payload: ByteBuffer(bytes: payload), headers: headers, replyTo: replyTo)
    }

    /// Subscribes to `subject` (wildcards `*` and `>` allowed); with `queue`, the server gives each
    /// message to one member of the group. When connected, returns once the server has the
    /// subscription (a PING round trip), so a publish made afterwards reaches it.
    /// - Parameter bufferSize: messages held for a slow reader before new ones are dropped and counted
    ///   (`NATSSubscription.droppedMessages`); default `NATSOptions.subscriptionBufferSize`.
    public func subscribe(subject: String, queue: String? = nil, bufferSize: Int? = nil) async throws -> NATSSubscription {
        let counters = SubscriptionCounters()
        let (stream, continuation) = AsyncThrowingStream<NATSMessage, any Error>.makeStream(
            bufferingPolicy: .bufferingOldest(bufferSize ?? options.subscriptionBufferSize))
        let (sid, action, connected) = try state.withLock { s in
            let (sid, action) = try s.machine.subscribe(subject: subject, queue: queue)
            s.sinks[sid] = .stream(continuation, counters)
            return (sid, action, s.machine.phase == .connected)
        }
        continuation.onTermination = { [weak self] termination in
            // The reader dropped the sequence: stop the server sending.
            if case .cancelled = termination { self?.unsubscribe(sid: sid) }
        }
        if action == .scheduleFlush { scheduleFlushTick() }
        if connected { try await flush() }
        return NATSSubscription(stream: stream, counters: counters, sid: sid, subject: subject, client: self)
    }

    /// Subscribes with a callback that runs on the event loop for each message (internal users:
    /// request replies, JetStream consumers). It must not block.
    func subscribe(subject: String, handler: @escaping @Sendable (NATSMessage) -> Void) throws -> UInt64 {
        let (sid, action) = try state.withLock { s in
            let (sid, action) = try s.machine.subscribe(subject: subject, queue: nil)
            s.sinks[sid] = .handler(handler)
            return (sid, action)
        }
        if action == .scheduleFlush { scheduleFlushTick() }
        return sid
    }

    /// Stops a subscription now, or after it has received `afterMessages` messages in all.
    func unsubscribe(sid: UInt64, afterMessages: UInt64? = nil) {
        let (action, sink) = state.withLock { s in
            let action = s.machine.unsubscribe(sid: sid, afterMessages: afterMessages)
            let sink = s.machine.subscriptions[sid] == nil ? s.sinks.removeValue(forKey: sid) : nil
            return (action, sink)
        }
        if case .stream(let continuation, _) = sink { continuation.finish() }
        if action == .scheduleFlush { scheduleFlushTick() }
    }

    /// Waits until the server has processed everything sent so far (a PING/PONG round trip). While
    /// disconnected it waits for the reconnect, up to `timeout`.
    public func flush(timeout: Duration = .seconds(10)) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let result: Result<(UInt64, Machine.BufferedAction), any Error> = state.withLock { s in
                let id = s.nextWaiterID
                s.nextWaiterID += 1
                do {
                    let action = try s.machine.flush(id: id)
                    s.flushWaiters[id] = continuation
                    return .success((id, action))
                } catch {
                    return .failure(error)
                }
            }
            switch result {
            case .failure(let error):
                continuation.resume(throwing: error)
            case .success(let (id, action)):
                if action == .scheduleFlush { scheduleFlushTick() }
                eventLoop.scheduleTask(in: timeAmount(timeout)) { [self] in
                    let waiter = state.withLock { $0.flushWaiters.removeValue(forKey: id) }
                    waiter?.resume(throwing: NATSError(.timeout, "flush not answered within \(timeout)"))
                }
            }
        }
    }

    /// Sends a request and waits for the first reply. Replies come to one shared inbox subscription.
    /// - Throws: `NATSError` `.noResponders` (nobody subscribes to `subject`), `.timeout`,
    ///   `.connectionClosed`; `CancellationError` when the task is cancelled.
    public func request(subject: String, payload: ByteBuffer, headers: NATSHeaders? = nil, timeout: Duration = .seconds(5)) async throws -> NATSMessage {
        try ensureRequestInbox()
        let id = state.withLock { s in
            defer { s.nextWaiterID += 1 }
            return s.nextWaiterID
        }
        let replyTo = "\(requestPrefix).\(id)"
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<NATSMessage, any Error>) in
                state.withLock { $0.requests[id] = RequestWaiter(subject: subject, continuation: continuation) }
                do {
                    try publish(subject: subject, payload: payload, headers: headers, replyTo: replyTo)
                } catch {
                    failRequest(id, error)
                    return
                }
                let timer = eventLoop.scheduleTask(in: timeAmount(timeout)) { [self] in
                    failRequest(id, NATSError(.timeout, "no reply to \(subject) within \(timeout)"))
                }
                let waiting = state.withLock { s in
                    guard s.requests[id] != nil else { return false }
                    s.requests[id]!.timer = timer
                    return true
                }
                if !waiting { timer.cancel() }
                if Task.isCancelled { failRequest(id, CancellationError()) }
            }
        } onCancel: {
            failRequest(id, CancellationError())
        }
    }

    /// Sends a request with a byte-array payload.
    public func request(subject: String, payload: [UInt8], headers: NATSHeaders? = nil, timeout: Duration = .seconds(5)) async throws -> NATSMessage {
        try await request(subject: subject, payload: ByteBuffer(bytes: payload), headers: headers, timeout: timeout)
    }

    /// A new unique inbox subject (`_INBOX.<random>`), for replies a caller collects itself.
    public func newInbox() -> String { Self.newInboxSubject() }

    /// Unsubscribes everything, sends what is buffered, waits for the server to confirm (PING/PONG),
    /// lets the subscriptions finish delivering what was already on its way, then closes.
    /// - Throws: `NATSError` when the drain could not finish cleanly (disconnected with buffered
    ///   publishes, or `timeout` passed); the client is closed either way.
    public func drain(timeout: Duration = .seconds(10)) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            eventLoop.execute { [self] in
                event { s in
                    s.closeWaiters.append((continuation, throwing: true))
                    return s.machine.isClosed ? [] : s.machine.drain()
                }
                resumeCloseWaitersIfClosed()
                eventLoop.scheduleTask(in: timeAmount(timeout)) { [self] in
                    event { $0.machine.close(reason: NATSError(.timeout, "drain did not finish within \(timeout)")) }
                }
            }
        }
    }

    /// Drops the current connection without sending what is buffered for it: the client's buffer
    /// is cleared, the socket is closed with `SO_LINGER` 0 (a reset: the kernel discards its send
    /// queue, NIO fails its pending writes), and the client reconnects as after a lost connection,
    /// subscriptions replayed. Returns the client-buffered bytes dropped (NIO's and the kernel's
    /// queues are not counted).
    @discardableResult
    public func resetConnection(reason: String) async -> Int {
        await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
            eventLoop.execute { [self] in
                if let provider = state.withLock({ $0.channel }) as? any SocketOptionProvider {
                    provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { [self] _ in
                        continuation.resume(returning: dropConnection(reason: reason))
                    }
                } else {
                    continuation.resume(returning: dropConnection(reason: reason))
                }
            }
        }
    }

    private func dropConnection(reason: String) -> Int {
        var dropped = 0
        event { s in
            let r = s.machine.resetConnection(error: NATSError(.connectionClosed, reason))
            dropped = r.dropped
            return r.actions
        }
        return dropped
    }

    /// Closes at once: buffered publishes are dropped, subscriptions finish, waiters fail.
    public func close() async {
        _ = try? await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            eventLoop.execute { [self] in
                event { s in
                    s.closeWaiters.append((continuation, throwing: false))
                    return s.machine.close()
                }
                resumeCloseWaitersIfClosed()
            }
        }
    }

    /// A stream of connection events from now on (each call gets its own stream).
    public func connectionEvents() -> AsyncStream<ConnectionEvent> {
        let (stream, continuation) = AsyncStream<ConnectionEvent>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let registered = state.withLock { s -> UInt64? in
            guard !s.machine.isClosed else { return nil }
            let id = s.nextWaiterID
            s.nextWaiterID += 1
            s.observers[id] = continuation
            return id
        }
        if let id = registered {
            continuation.onTermination = { [weak self] _ in
                _ = self?.state.withLock { $0.observers.removeValue(forKey: id) }
            }
        } else {
            continuation.yield(.closed(reason: nil))
            continuation.finish()
        }
        return stream
    }

    /// The servers the client knows: configured, then discovered.
    public var knownServers: [NATSServerAddress] { state.withLock { $0.machine.servers } }

    /// The server of the current connection, if connected.
    public var connectedServer: NATSServerAddress? {
        state.withLock { $0.machine.phase == .connected ? $0.machine.currentServer : nil }
    }

    /// The INFO of the current connection's server, if connected.
    public var serverInfo: ServerInfo? { state.withLock { $0.machine.phase == .connected ? $0.machine.serverInfo : nil } }

    /// Whether the client is closed.
    public var isClosed: Bool { state.withLock { $0.machine.isClosed } }

    /// Counters since start.
    public var statistics: Statistics {
        var stats = Statistics()
        stats.messagesIn = counters.messagesIn.load(ordering: .relaxed)
        stats.bytesIn = counters.bytesIn.load(ordering: .relaxed)
        stats.messagesOut = counters.messagesOut.load(ordering: .relaxed)
        stats.bytesOut = counters.bytesOut.load(ordering: .relaxed)
        stats.reconnects = counters.reconnects.load(ordering: .relaxed)
        stats.droppedMessages = counters.droppedMessages.load(ordering: .relaxed)
        stats.protocolErrors = counters.protocolErrors.load(ordering: .relaxed)
        return stats
    }

    // MARK: Channel events (on the event loop)

    func channelActive(connectionID: UInt64, channel: any Channel) {
        let stale = state.withLock { s -> Bool in
            guard s.machine.connectionID == connectionID, s.machine.phase == .connecting else { return true }
            s.channel = channel
            return false
        }
        if stale {
            channel.close(promise: nil)
            return
        }
        event { $0.machine.channelActive(connectionID: connectionID) }
    }

    func channelInactive(connectionID: UInt64, error: NATSError?) {
        event { s in
            if s.machine.connectionID == connectionID { s.channel = nil }
            return s.machine.channelInactive(connectionID: connectionID, error: error)
        }
    }

    func writabilityChanged(connectionID: UInt64, isWritable: Bool) {
        let (buffer, channel) = state.withLock { s -> (ByteBuffer?, (any Channel)?) in
            guard s.machine.connectionID == connectionID else { return (nil, nil) }
            return (s.machine.writabilityChanged(isWritable: isWritable), s.channel)
        }
        if let buffer, let channel { channel.writeAndFlush(buffer, promise: nil) }
    }

    func protocolError(_ error: NATSError) {
        counters.protocolErrors.add(1, ordering: .relaxed)
        logger.error("nats protocol error; reconnecting", metadata: ["nats.error": "\(error)"])
    }

    /// Operations parsed from one read, in order.
    func received(_ operations: [NATSServerOperation], connectionID: UInt64) {
        enum Step {
            case deliver(Sink, NATSMessage, finish: Bool)
            case effects([Effect])
        }
        var steps: [Step] = []
        var bytes = 0
        var messages = 0
        state.withLock { s in
            for operation in operations {
                if case .message(let sid, let message) = operation {
                    guard s.machine.connectionID == connectionID else { continue }
                    messages += 1
                    bytes += message.payload.readableBytes
                    switch s.machine.receivedMessage(sid: sid) {
                    case .deliver:
                        if let sink = s.sinks[sid] { steps.append(.deliver(sink, message, finish: false)) }
                    case .deliverAndFinish:
                        if let sink = s.sinks.removeValue(forKey: sid) { steps.append(.deliver(sink, message, finish: true)) }
                    case .drop:
                        break
                    }
                } else {
                    let effects = apply(s.machine.received(operation, connectionID: connectionID), to: &s)
                    if !effects.isEmpty { steps.append(.effects(effects)) }
                }
            }
        }
        counters.messagesIn.add(messages, ordering: .relaxed)
        counters.bytesIn.add(bytes, ordering: .relaxed)
        for step in steps {
            switch step {
            case .deliver(let sink, let message, let finish):
                deliver(message, to: sink)
                if finish, case .stream(let continuation, _) = sink { continuation.finish() }
            case .effects(let effects):
                perform(effects)
            }
        }
    }

    private func deliver(_ message: NATSMessage, to sink: Sink) {
        switch sink {
        case .handler(let handler):
            handler(message)
        case .stream(let continuation, let subscriptionCounters):
            let result = continuation.yield(message)
            if case .enqueued = result { subscriptionCounters.enqueued.add(1, ordering: .relaxed) }
            if case .dropped = result {
                counters.droppedMessages.add(1, ordering: .relaxed)
                if subscriptionCounters.dropped.add(1, ordering: .relaxed).newValue == 1 {
                    logger.warning("nats subscription reader is too slow; dropping messages", metadata: ["nats.subject": "\(message.subject)"])
                }
            }
        }
    }

    // MARK: Machinery

    /// Runs a state-machine event under the lock, then carries out the effects outside it.
    func event(_ body: (inout Shared) -> [Action]) {
        let effects = state.withLock { s in apply(body(&s), to: &s) }
        perform(effects)
    }

    private func scheduleFlushTick() {
        eventLoop.execute { [self] in
            let (buffer, channel) = state.withLock { s in (s.machine.flushTick(), s.channel) }
            if let buffer, let channel { channel.writeAndFlush(buffer, promise: nil) }
        }
    }

    /// Turns actions into effects, taking the continuations they resume out of the shared state.
    private func apply(_ actions: [Action], to s: inout Shared) -> [Effect] {
        var effects: [Effect] = []
        for action in actions {
            switch action {
            case .connect(let address, let id, let deadline):
                effects.append(.connect(address, id, deadline))
            case .write(let buffer):
                if let channel = s.channel { effects.append(.write(channel, buffer)) }
            case .closeConnection:
                if let channel = s.channel { effects.append(.close(channel)) }
            case .scheduleReconnect(let id, let deadline):
                effects.append(.schedule(.reconnect, id, deadline))
            case .schedulePing(let id, let deadline):
                effects.append(.schedule(.ping, id, deadline))
            case .succeedFlushes(let ids):
                effects.append(.resumeFlushes(ids.compactMap { s.flushWaiters.removeValue(forKey: $0) }, nil))
            case .failFlushes(let ids, let error):
                effects.append(.resumeFlushes(ids.compactMap { s.flushWaiters.removeValue(forKey: $0) }, error))
            case .reportConnected(let address, _, let isReconnect):
                if isReconnect { counters.reconnects.add(1, ordering: .relaxed) }
                effects.append(.notify(isReconnect ? .reconnected(address) : .connected(address), Array(s.observers.values)))
                effects.append(.resumeConnect(s.connectWaiters, nil))
                s.connectWaiters = []
            case .reportDisconnected(let address, let error):
                effects.append(.notify(.disconnected(address, reason: error?.description), Array(s.observers.values)))
            case .reportServerError(let text):
                effects.append(.notify(.serverError(text), Array(s.observers.values)))
            case .reportDiscoveredServers(let addresses):
                effects.append(.notify(.discoveredServers(addresses), Array(s.observers.values)))
            case .closed(let error):
                s.closeReason = error
                let closed = ClosedEffects(
                    error: error, sinks: Array(s.sinks.values), requests: Array(s.requests.values), connectWaiters: s.connectWaiters,
                    closeWaiters: s.closeWaiters, observers: Array(s.observers.values), timers: Array(s.timers.values))
                s.sinks = [:]
                s.requests = [:]
                s.connectWaiters = []
                s.closeWaiters = []
                s.observers = [:]
                s.timers = [:]
                s.channel = nil
                effects.append(.closed(closed))
            }
        }
        return effects
    }

    private func perform(_ effects: [Effect]) {
        for effect in effects {
            switch effect {
            case .connect(let address, let id, let deadline):
                schedule(.handshake, id: id, at: deadline)
                openConnection(to: address, connectionID: id, deadline: deadline)
            case .write(let channel, let buffer):
                channel.writeAndFlush(buffer, promise: nil)
            case .close(let channel):
                channel.close(promise: nil)
            case .schedule(let kind, let id, let deadline):
                schedule(kind, id: id, at: deadline)
            case .resumeFlushes(let continuations, let error):
                for continuation in continuations {
                    if let error { continuation.resume(throwing: error) } else { continuation.resume() }
                }
            case .notify(let event, let observers):
                log(event)
                for observer in observers { observer.yield(event) }
            case .resumeConnect(let continuations, let error):
                for continuation in continuations {
                    if let error { continuation.resume(throwing: error) } else { continuation.resume() }
                }
            case .closed(let closed):
                finishClosed(closed)
            }
        }
    }

    private func finishClosed(_ closed: ClosedEffects) {
        for timer in closed.timers { timer.cancel() }
        let error = closed.error ?? NATSError(.connectionClosed, "the client is closed")
        for sink in closed.sinks {
            if case .stream(let continuation, _) = sink {
                if let reason = closed.error { continuation.finish(throwing: reason) } else { continuation.finish() }
            }
        }
        for request in closed.requests {
            request.timer?.cancel()
            request.continuation.resume(throwing: error)
        }
        for waiter in closed.connectWaiters { waiter.resume(throwing: error) }
        for (waiter, throwing) in closed.closeWaiters {
            if throwing, let reason = closed.error { waiter.resume(throwing: reason) } else { waiter.resume() }
        }
        let event = ConnectionEvent.closed(reason: closed.error?.description)
        log(event)
        for observer in closed.observers {
            observer.yield(event)
            observer.finish()
        }
    }

    private func resumeCloseWaitersIfClosed() {
        let (waiters, reason) = state.withLock { s -> ([(CheckedContinuation<Void, any Error>, throwing: Bool)], NATSError?) in
            guard s.machine.isClosed else { return ([], nil) }
            defer { s.closeWaiters = [] }
            return (s.closeWaiters, s.closeReason)
        }
        for (waiter, throwing) in waiters {
            if throwing, let reason { waiter.resume(throwing: reason) } else { waiter.resume() }
        }
    }

    private func openConnection(to address: NATSServerAddress, connectionID: UInt64, deadline: ContinuousClock.Instant) {
        let timeout = max(clock.now.duration(to: deadline), .milliseconds(1))
        ClientBootstrap(group: eventLoop)
            .connectTimeout(timeAmount(timeout))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NATSChannelHandler(client: self, connectionID: connectionID))
                }
            }
            .connect(host: address.host, port: address.port)
            .whenFailure { [self] error in
                let reason = NATSError(.connectionClosed, "connect to \(address) failed: \(error)")
                eventLoop.execute { self.event { $0.machine.connectFailed(connectionID: connectionID, error: reason) } }
            }
    }

    private func schedule(_ kind: TimerKind, id: UInt64, at deadline: ContinuousClock.Instant) {
        let delay = max(clock.now.duration(to: deadline), .zero)
        let task = eventLoop.scheduleTask(in: timeAmount(delay)) { [self] in
            event { s in
                s.timers[kind] = nil
                switch kind {
                case .handshake: return s.machine.handshakeTimerFired(connectionID: id)
                case .reconnect: return s.machine.reconnectTimerFired(connectionID: id)
                case .ping: return s.machine.pingTimerFired(connectionID: id)
                }
            }
        }
        let previous = state.withLock { s -> Scheduled<Void>? in
            guard !s.machine.isClosed else { return task }
            defer { s.timers[kind] = task }
            return s.timers[kind]
        }
        previous?.cancel()
    }

    private func ensureRequestInbox() throws {
        let action = try state.withLock { s -> Machine.BufferedAction in
            guard s.requestInboxSID == nil else { return .doNothing }
            let (sid, action) = try s.machine.subscribe(subject: "\(requestPrefix).*", queue: nil)
            s.sinks[sid] = .handler { [weak self] message in self?.routeReply(message) }
            s.requestInboxSID = sid
            return action
        }
        if action == .scheduleFlush { scheduleFlushTick() }
    }

    private func routeReply(_ message: NATSMessage) {
        guard let dot = message.subject.lastIndex(of: "."), let id = UInt64(message.subject[message.subject.index(after: dot)...]) else { return }
        guard let waiter = state.withLock({ $0.requests.removeValue(forKey: id) }) else { return }
        waiter.timer?.cancel()
        if message.status == 503 {
            waiter.continuation.resume(throwing: NATSError(.noResponders, "no responders for \(waiter.subject)"))
        } else {
            waiter.continuation.resume(returning: message)
        }
    }

    private func failRequest(_ id: UInt64, _ error: any Error) {
        guard let waiter = state.withLock({ $0.requests.removeValue(forKey: id) }) else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume(throwing: error)
    }

    private func log(_ event: ConnectionEvent) {
        switch event {
        case .connected(let address): logger.info("nats connected", metadata: ["nats.server": "\(address)"])
        case .reconnected(let address): logger.info("nats reconnected", metadata: ["nats.server": "\(address)"])
        case .disconnected(let address, let reason):
            logger.warning("nats disconnected", metadata: ["nats.server": "\(address)", "nats.reason": "\(reason ?? "closed")"])
        case .discoveredServers(let addresses): logger.debug("nats discovered servers", metadata: ["nats.servers": "\(addresses)"])
        case .serverError(let text): logger.warning("nats server error", metadata: ["nats.error": "\(text)"])
        case .closed(let reason):
            if let reason { logger.error("nats client closed", metadata: ["nats.reason": "\(reason)"]) } else { logger.info("nats client closed") }
        }
    }

    static func newInboxSubject() -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        var bytes = Array("_INBOX.".utf8)
        for _ in 0..<22 { bytes.append(alphabet.randomElement()!) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Lock-free counters behind `NATSClient.statistics`.
final class ClientCounters: Sendable {
    let messagesIn = Atomic<Int>(0)
    let bytesIn = Atomic<Int>(0)
    let messagesOut = Atomic<Int>(0)
    let bytesOut = Atomic<Int>(0)
    let reconnects = Atomic<Int>(0)
    let droppedMessages = Atomic<Int>(0)
    let protocolErrors = Atomic<Int>(0)
}

/// Per-subscription counters.
final class SubscriptionCounters: Sendable {
    let dropped = Atomic<Int>(0)
    let enqueued = Atomic<Int>(0)
}

func timeAmount(_ duration: Duration) -> TimeAmount {
    .nanoseconds(duration.nanoseconds)
}

extension Duration {
    /// Whole nanoseconds (saturating at Int64).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        return whole + attoseconds / 1_000_000_000
    }
}
