import Bus
import Foundation
import Logging
import MarketCore
import NIOCore
import NIOWebSocket
import Synchronization

/// Writes pre-encoded websocket frames straight to the socket, past `WebSocketFrameEncoder`: it
/// sits first in the pipeline, so the same `ByteBuffer` goes to every client without re-framing.
final class RawFrameWriter: ChannelOutboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private(set) var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func write(_ b: ByteBuffer) { context?.write(NIOAny(b), promise: nil) }
    func flush() { context?.flush() }
}

/// One websocket client's I/O: reads its frames, writes its replies and data, runs its timers and
/// counts what happened. Every decision (identity and session, rate limits, subscriptions and
/// cursors, queueing and conflation, pings) is ``FanOutClientMachine``'s; this handler performs
/// what it returns. Lives on its channel's event loop.
///
/// Everything written to the client but websocket control frames goes through ``send(_:isData:)``
/// or ``deliver(_:)``: straight to the socket while it is writable, else into the client's own
/// queue, whose frames and bytes are bounded (close 4008). A client that does not read can
/// therefore cost at most `writeBufferHighWater + maxOutstandingBytes` however much it asks for.
final class FanOutClient: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias SignOutReason = FanOutClientMachine.SignOutReason

    let hub: FanOutHub
    let shard: FanOutShard
    let writer: RawFrameWriter
    let logger: Logger
    private var channel: (any Channel)?
    private var machine: FanOutClientMachine
    /// The timers of the session's messages (the `expiring` warning, the sign-out at `exp`).
    private var sessionTimers: [Scheduled<Void>] = []
    var needsFlush = false
    /// The user this socket counts for in the hub's ``UserPresence`` (follows `machine.user`).
    private var heldUser: String?
    private var removed = false
    private var pendingWrites = 0
    private var pendingBytes = 0

    init(hub: FanOutHub, shard: FanOutShard, writer: RawFrameWriter, logger: Logger) {
        self.hub = hub
        self.shard = shard
        self.writer = writer
        self.logger = logger
        self.machine = FanOutClientMachine(options: hub.options, now: hub.clock.monotonic())
    }

    /// The authenticated user.
    var user: String? { machine.user }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        channel = context.channel
        let high = hub.options.writeBufferHighWater
        _ = context.channel.setOption(
            ChannelOptions.writeBufferWaterMark, value: .init(low: high / 2, high: high))
        // Small frames must not wait for the previous one's ACK (Nagle).
        _ = context.channel.setOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
        if let size = hub.options.socketSendBuffer {
            _ = context.channel.setOption(ChannelOptions.socketOption(.so_sndbuf), value: SocketOptionValue(size))
        }
        hub.counters.connections.add(1, ordering: .relaxed)
        hub.counters.connectionsTotal.add(1, ordering: .relaxed)
        shard.add(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        let gone = machine.removed()
        if gone.abrupt {
            // Gone without a close handshake (RFC 6455 7.1.5: "1006").
            hub.counters.closed(1006)
            hub.counters.dropped.add(gone.queued, ordering: .relaxed)
        }
        hub.counters.connections.subtract(1, ordering: .relaxed)
        hub.counters.subscriptions.subtract(gone.patterns, ordering: .relaxed)
        hub.counters.queued.subtract(gone.queued, ordering: .relaxed)
        cancelSessionTimers()
        removed = true
        syncPresence(pending: nil)
        shard.remove(self)
        channel = nil
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { drainBacklog() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The server allows half-closed connections; a client that is done sending is done.
        if let e = event as? ChannelEvent, e == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let violation = error as? WebSocketViolation {
            hub.counters.error(.protocolError)
            close(code: CloseCode.protocolError, reason: violation.reason)
            return
        }
        logger.debug("websocket client error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: output

    func wants(_ channel: ChannelName) -> Bool { machine.wants(channel) }

    /// A data frame from the bus (called by the shard).
    func deliver(_ f: BusFrame) {
        let out = machine.deliver(
            channelID: f.channelID, seq: f.seq, wire: f.wire, key: f.conflationKey, writable: channel?.isWritable == true)
        perform(out, f.wire, isData: true)
    }

    /// A frame outside the bus's delivery (acks, errors, pongs, session messages, snapshots and
    /// history on subscribe, broadcasts): in order with the data frames, never conflated.
    func send(_ frame: ByteBuffer, isData: Bool = false) {
        perform(machine.send(frame, writable: channel?.isWritable == true), frame, isData: isData)
    }

    private func perform(_ out: FanOutClientMachine.Output, _ frame: ByteBuffer, isData: Bool) {
        switch out {
        case .drop:
            return
        case .write:
            writer.write(frame)
            if isData {
                pendingWrites += 1
                pendingBytes += frame.readableBytes
            }
            shard.markDirty(self)
        case .queued(let added, let conflated, let overflow):
            hub.counters.queued.add(added, ordering: .relaxed)
            if conflated > 0 { hub.counters.conflated.add(conflated, ordering: .relaxed) }
            guard let overflow else { return }
            hub.counters.slowDisconnects.add(1, ordering: .relaxed)
            hub.counters.refuse(overflow.limit)
            if overflow.limit == .queuedFrames {
                logger.notice("closing a client that fell behind", metadata: ["queued": "\(overflow.queued)"])
            } else {
                logger.notice("closing a client that does not read", metadata: ["queued_bytes": "\(overflow.queued)"])
            }
            close(code: CloseCode.tooSlow, reason: overflow.reason)
        }
    }

    /// Flushes what was written since the last flush; returns the number of frames.
    func flush() -> Int {
        needsFlush = false
        writer.flush()
        if pendingBytes > 0 { hub.counters.bytesSent.add(pendingBytes, ordering: .relaxed) }
        defer {
            pendingWrites = 0
            pendingBytes = 0
        }
        return pendingWrites
    }

    private func drainBacklog() {
        guard !machine.closing else { return }
        var drained = 0
        while channel?.isWritable == true, let frame = machine.nextQueued() {
            writer.write(frame)
            pendingWrites += 1
            pendingBytes += frame.readableBytes
            drained += 1
        }
        hub.counters.queued.subtract(drained, ordering: .relaxed)
        shard.markDirty(self)
        shard.flushDirty()
    }

    /// Sends a close frame and closes the connection once it is written or `closeTimeout` passed.
    func close(code: UInt16, reason: String) {
        guard let channel, let dropped = machine.close() else { return }
        hub.counters.closed(code)
        hub.counters.dropped.add(dropped, ordering: .relaxed)
        cancelSessionTimers()
        hub.counters.queued.subtract(dropped, ordering: .relaxed)
        shard.patternsChanged(self)
        let promise = channel.eventLoop.makePromise(of: Void.self)
        writer.context?.writeAndFlush(NIOAny(WebSocketWire.close(code: code, reason: reason)), promise: promise)
        let timeout = channel.eventLoop.scheduleTask(in: TimeAmount(hub.options.closeTimeout)) { channel.close(promise: nil) }
        promise.futureResult.whenComplete { _ in
            timeout.cancel()
            channel.close(promise: nil)
        }
    }

    func heartbeat(now: NIODeadline, interval: TimeAmount) {
        switch machine.heartbeat(now: now, interval: interval) {
        case .none:
            break
        case .close(let code, let reason):
            close(code: code, reason: reason)
        case .ping:
            writer.write(WebSocketWire.frame(opcode: WebSocketWire.pingOpcode, payload: [UInt8]()))
            shard.markDirty(self)
        }
    }

    // MARK: requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        machine.heard(now: hub.clock.monotonic())
        switch frame.opcode {
        case .text:
            handleText(frame)
        case .binary:
            refuse(.init(id: .none, code: .badJSON, message: "binary frames are not accepted; send JSON text"))
        case .ping:
            if machine.answersPing(writable: context.channel.isWritable) {
                var payload = frame.unmaskedData
                writer.write(WebSocketWire.frame(opcode: WebSocketWire.pongOpcode, payload: payload.readBytes(length: payload.readableBytes) ?? []))
                shard.markDirty(self)
            }
        case .connectionClose:
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self) ?? CloseCode.normal
            close(code: code, reason: "")
        default:
            // Pongs; reserved opcodes never get here (WebSocketFrameValidator).
            break
        }
        shard.flushDirty()
    }

    /// Sends an error frame and counts it (and its limit).
    private func refuse(_ r: FanOutClientMachine.Refusal) {
        guard !machine.closing else { return }
        if let limit = r.limit { hub.counters.refuse(limit) }
        hub.counters.error(r.code)
        send(ServerReply.error(id: r.id, code: r.code, message: r.message))
    }

    private func reply(_ b: ByteBuffer) {
        guard !machine.closing else { return }
        send(b)
    }

    private func handleText(_ frame: WebSocketFrame) {
        switch machine.text(frame, now: hub.clock.monotonic()) {
        case .ignore, .deferred:
            return
        case .refuse(let r):
            refuse(r)
            return
        case .rateLimited(let message):
            hub.counters.error(.rateLimited)
            hub.counters.refuse(.messagesPerSecond)
            if let message { send(ServerReply.error(id: .none, code: .rateLimited, message: message)) }
            return
        case .handle:
            break
        }
        let data = frame.unmaskedData
        switch ClientRequest.parse(data.readableBytesView) {
        case .failure(let f):
            refuse(.init(id: f.id, code: f.code, message: f.message))
        case .success(.ping(let id)):
            reply(ServerReply.pong(id: id))
        case .success(.auth(let id, let token)):
            authenticate(id: id, token: token)
        case .success(.subscribe(let id, let channels, let since)):
            subscribe(id: id, channels: channels, since: since)
        case .success(.unsubscribe(let id, let channels)):
            unsubscribe(id: id, channels: channels)
        }
    }

    // MARK: auth and sessions

    private func authenticate(id: RequestID, token: String) {
        guard let check = hub.sessionCheck, let loop = channel?.eventLoop else {
            refuse(.init(id: id, code: .unauthorized, message: "authentication is not configured on this server"))
            return
        }
        switch machine.authRequested(now: hub.clock.monotonic()) {
        case .close(let code, let reason, let limit):
            hub.counters.refuse(limit)
            close(code: code, reason: reason)
        case .verify:
            let presence = hub.presence
            Task {
                let result = await check(token)
                // The user's private events are subscribed before the ack can go out.
                var pending: String?
                if let presence, case .success(let grant) = result {
                    pending = grant.user
                    presence.acquire(grant.user)
                    await presence.ready(grant.user)
                }
                loop.execute { self.finishAuth(id: id, result, pending: pending) }
            }
        }
    }

    private func finishAuth(id: RequestID, _ result: Result<TokenGrant, TokenRefusal>, pending: String?) {
        guard !removed, let steps = machine.authFinished(id: id, result, wall: hub.clock.wall()) else {
            syncPresence(pending: pending)
            return
        }
        perform(steps)
        syncPresence(pending: pending)
        // Replay what waited; requests after another `auth` wait again (the machine defers them).
        for frame in machine.takeDeferred() { handleText(frame) }
        shard.flushDirty()
    }

    private func perform(_ steps: [FanOutClientMachine.SessionStep]) {
        for step in steps {
            switch step {
            case .send(let message):
                send(message)
            case .droppedPatterns(let n):
                hub.counters.subscriptions.subtract(n, ordering: .relaxed)
                shard.patternsChanged(self)
            case .cancelTimers:
                cancelSessionTimers()
            case .warn(let after, let message):
                guard let loop = channel?.eventLoop else { continue }
                sessionTimers.append(
                    loop.scheduleTask(in: .nanoseconds(after)) { [self] in
                        send(message)
                        shard.flushDirty()
                    })
            case .expire(let after):
                guard let loop = channel?.eventLoop else { continue }
                sessionTimers.append(
                    loop.scheduleTask(in: .nanoseconds(after)) { [self] in
                        signOut(reason: .expired)
                        shard.flushDirty()
                    })
            }
        }
    }

    private func send(_ message: FanOutClientMachine.Message) {
        switch message {
        case .error(let r):
            refuse(r)
        case .authAck(let id, let user, let expires):
            reply(ServerReply.authAck(id: id, user: user, expires: expires))
        case .expiring(let user, let expires):
            send(ServerReply.session(event: "expiring", user: user, expires: expires, reason: nil, channels: nil))
        case .signedOut(let user, let expires, let reason, let channels):
            send(ServerReply.session(event: "signed_out", user: user, expires: expires, reason: reason.rawValue, channels: channels))
        }
    }

    private func cancelSessionTimers() {
        for t in sessionTimers { t.cancel() }
        sessionTimers.removeAll()
    }

    /// Ends the identity: private channels go, and (with a reason) the client is told which.
    func signOut(reason: SignOutReason?) {
        perform(machine.signOut(reason: reason))
        syncPresence(pending: nil)
    }

    /// Brings the presence count in line with the socket's identity. `pending` is a user acquired
    /// for an auth that has just finished: kept when the socket became that user, else released.
    private func syncPresence(pending: String?) {
        guard let presence = hub.presence else { return }
        let now = removed ? nil : machine.user
        var pending = pending
        if now != heldUser {
            if let h = heldUser { presence.release(h) }
            if let n = now {
                if pending == n { pending = nil } else { presence.acquire(n) }
            }
            heldUser = now
        }
        if let p = pending { presence.release(p) }
    }

    // MARK: subscriptions

    private func subscribe(id: RequestID, channels: [String], since: [String: (seq: UInt64, epoch: String)]) {
        var parsed: [ChannelName] = []
        for text in channels {
            do {
                parsed.append(try ChannelName(parsing: text, venues: hub.venues, intervals: hub.intervals))
            } catch {
                refuse(.init(id: id, code: .badChannel, message: error.message))
                return
            }
        }
        for p in parsed {
            if let unknown = hub.unknownInstrument(p) {
                refuse(.init(id: id, code: .badChannel, message: unknown))
                return
            }
        }
        let (session, result) = machine.subscribe(id: id, parsed, wall: hub.clock.wall()) { hub.bus.channels(matching: $0) }
        perform(session)
        let plan: FanOutClientMachine.Subscription
        switch result {
        case .failure(let r):
            refuse(r)
            return
        case .success(let p):
            plan = p
        }
        hub.counters.subscriptions.add(plan.added, ordering: .relaxed)

        var entries: [ServerReply.AckEntry] = []
        var first: [ByteBuffer] = []
        var lost: [String] = []
        for ch in plan.channels {
            let resume = since[ch.description]
            let a = hub.bus.attach(ch, since: resume)
            if machine.attached(channelID: a.channelID, seq: a.seq, resuming: resume != nil) == .alreadyFollowed {
                entries.append(.init(channel: ch.description, position: (a.seq, a.epoch, true)))
                continue
            }
            entries.append(.init(channel: ch.description, position: (a.seq, a.epoch, a.recovered)))
            first += a.frames
            if a.historyUnavailable { lost.append(ch.description) }
        }
        shard.patternsChanged(self)
        reply(ServerReply.ack(id: id, channels: entries))
        for f in first { send(f, isData: true) }
        if !lost.isEmpty {
            refuse(
                .init(
                    id: id, code: .historyUnavailable,
                    message: "cannot resume \(lost.joined(separator: ", ")): position no longer in history or epoch changed"))
        }
    }

    private func unsubscribe(id: RequestID, channels: [String]) {
        // All names are checked first: a bad one and nothing is unsubscribed (as for subscribe).
        var parsed: [ChannelName] = []
        for text in channels {
            guard let p = try? ChannelName(parsing: text, venues: hub.venues, intervals: hub.intervals) else {
                refuse(.init(id: id, code: .badChannel, message: "bad channel name '\(text.prefix(80))'"))
                return
            }
            parsed.append(p)
        }
        let removed = machine.unsubscribe(parsed)
        hub.counters.subscriptions.subtract(removed.count, ordering: .relaxed)
        shard.patternsChanged(self)
        reply(ServerReply.ack(id: id, channels: removed.map { .init(channel: $0.description, position: nil) }))
    }
}

/// An inbound frame that breaks RFC 6455 (close 1002).
struct WebSocketViolation: Error {
    let reason: String
}

/// Fails the connection on frames RFC 6455 says must fail it and NIO's decoder passes on: a
/// reserved opcode (0x3–0x7, 0xB–0xF), RSV bits set with no extension negotiated, a client frame
/// that is not masked (5.1, 5.2). Sits before the fragment aggregator, which drops those details.
final class WebSocketFrameValidator: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    private var failed = false

    static let known: [WebSocketOpcode] = [.continuation, .text, .binary, .connectionClose, .ping, .pong]

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let frame = unwrapInboundIn(data)
        let reason: String?
        if !Self.known.contains(frame.opcode) {
            reason = "reserved opcode 0x\(String(UInt8(webSocketOpcode: frame.opcode), radix: 16))"
        } else if frame.rsv1 || frame.rsv2 || frame.rsv3 {
            reason = "RSV bits set but no extension was negotiated"
        } else if frame.maskKey == nil {
            reason = "client frames must be masked"
        } else {
            reason = nil
        }
        if let reason {
            failed = true
            context.fireErrorCaught(WebSocketViolation(reason: reason))
            return
        }
        context.fireChannelRead(data)
    }
}

/// Frames waiting for a slow client. Book and candle frames replace their queued predecessor of
/// the same key (the newer one is marked conflated); other frames are kept, and counted against
/// the hard limits (frames and bytes).
struct Backlog {
    private var items: [Entry?] = []
    private var head = 0
    private var positions: [ConflationKey: Int] = [:]
    private(set) var count = 0
    private(set) var lossless = 0
    private(set) var bytes = 0
    /// Frames replaced since the owner last read this.
    var replaced = 0

    struct Entry {
        var wire: ByteBuffer
        var key: ConflationKey?
        var conflated: Bool
    }

    var isEmpty: Bool { count == 0 }

    mutating func append(_ wire: ByteBuffer, key: ConflationKey?) {
        var conflated = false
        if let key, let old = positions[key] {
            // Remove the older frame and queue the newer one at the end, keeping per-channel order.
            bytes -= items[old]?.wire.readableBytes ?? 0
            items[old] = nil
            count -= 1
            replaced += 1
            conflated = true
        }
        if let key { positions[key] = items.count } else { lossless += 1 }
        items.append(Entry(wire: wire, key: key, conflated: conflated))
        count += 1
        bytes += wire.readableBytes
    }

    mutating func popFirst() -> (ByteBuffer, Bool)? {
        while head < items.count {
            let e = items[head]
            items[head] = nil
            head += 1
            guard let e else { continue }
            count -= 1
            bytes -= e.wire.readableBytes
            if let key = e.key {
                if positions[key] == head - 1 { positions[key] = nil }
            } else {
                lossless -= 1
            }
            compactIfNeeded()
            return (e.wire, e.conflated)
        }
        compactIfNeeded()
        return nil
    }

    private mutating func compactIfNeeded() {
        guard head > 1024, head * 2 > items.count else {
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            }
            return
        }
        items.removeFirst(head)
        head = 0
        positions.removeAll(keepingCapacity: true)
        for (i, e) in items.enumerated() { if let k = e?.key { positions[k] = i } }
    }

    mutating func removeAll() {
        items.removeAll()
        positions.removeAll()
        head = 0
        count = 0
        lossless = 0
        bytes = 0
    }
}
