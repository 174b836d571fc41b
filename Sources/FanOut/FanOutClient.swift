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

/// One websocket client: its protocol requests, identity and session, subscriptions, per-channel
/// positions and the queue it falls back on when it does not keep up. Lives on its channel's
/// event loop.
///
/// Everything written to the client but websocket control frames goes through ``send(_:)`` or
/// ``deliver(_:)``: straight to the socket while it is writable, else into the client's own queue,
/// whose frames and bytes are bounded (close 4008). A client that does not read can therefore
/// cost at most `writeBufferHighWater + maxOutstandingBytes` however much it asks for.
final class FanOutClient: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame

    let hub: FanOutHub
    let shard: FanOutShard
    let writer: RawFrameWriter
    let logger: Logger
    private var channel: (any Channel)?

    private var patterns: [ChannelName] = []
    /// The authenticated user, its token's expiry, and the timers of its session messages.
    private(set) var user: String?
    private var expires: UnixNanos?
    private var sessionTimers: [Scheduled<Void>] = []
    /// An `auth` is being verified: later requests wait for it, in order (a client may pipeline
    /// `auth` and a private `subscribe`).
    private var authPending = false
    private var deferred: [WebSocketFrame] = []
    /// When the last `authAttemptsPerMinute` auth messages came.
    private var authAttempts: [NIODeadline] = []
    /// Channel id → seq of the last frame sent (or covered by a snapshot) on that channel.
    private var cursors: [Int: UInt64] = [:]
    private var backlog = Backlog()
    var needsFlush = false
    private var closing = false
    private var pendingWrites = 0
    private var pendingBytes = 0

    private var bucket: TokenBucket
    private var lastRateLimitReply = NIODeadline.distantPast
    private var lastHeard = NIODeadline.now()

    init(hub: FanOutHub, shard: FanOutShard, writer: RawFrameWriter, logger: Logger) {
        self.hub = hub
        self.shard = shard
        self.writer = writer
        self.logger = logger
        self.bucket = TokenBucket(rate: hub.options.messagesPerSecond, burst: hub.options.messageBurst)
    }

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
        if !closing {
            // Gone without a close handshake (RFC 6455 7.1.5: "1006").
            hub.counters.closed(1006)
            hub.counters.dropped.add(backlog.count, ordering: .relaxed)
        }
        hub.counters.connections.subtract(1, ordering: .relaxed)
        hub.counters.subscriptions.subtract(patterns.count, ordering: .relaxed)
        hub.counters.queued.subtract(backlog.count, ordering: .relaxed)
        cancelSessionTimers()
        patterns.removeAll()
        backlog.removeAll()
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

    func wants(_ channel: ChannelName) -> Bool {
        !closing && patterns.contains { $0.matches(channel) }
    }

    /// A data frame from the bus (called by the shard).
    func deliver(_ f: BusFrame) {
        if let last = cursors[f.channelID], f.seq <= last { return }
        cursors[f.channelID] = f.seq
        if backlog.isEmpty, channel?.isWritable == true {
            writer.write(f.wire)
            pendingWrites += 1
            pendingBytes += f.wire.readableBytes
            shard.markDirty(self)
            return
        }
        enqueue(f.wire, key: f.conflationKey)
    }

    /// A frame outside the bus's delivery (acks, errors, pongs, session messages, snapshots and
    /// history on subscribe, broadcasts): in order with the data frames, never conflated.
    func send(_ frame: ByteBuffer, isData: Bool = false) {
        guard !closing else { return }
        if backlog.isEmpty, channel?.isWritable == true {
            writer.write(frame)
            if isData {
                pendingWrites += 1
                pendingBytes += frame.readableBytes
            }
            shard.markDirty(self)
        } else {
            enqueue(frame, key: nil)
        }
    }

    private func enqueue(_ wire: ByteBuffer, key: ConflationKey?) {
        guard !closing else { return }
        let before = backlog.count
        backlog.append(wire, key: key)
        hub.counters.queued.add(backlog.count - before, ordering: .relaxed)
        if backlog.replaced > 0 {
            hub.counters.conflated.add(backlog.replaced, ordering: .relaxed)
            backlog.replaced = 0
        }
        if backlog.lossless > hub.options.maxQueuedFrames {
            hub.counters.slowDisconnects.add(1, ordering: .relaxed)
            hub.counters.refuse(.queuedFrames)
            logger.notice("closing a client that fell behind", metadata: ["queued": "\(backlog.count)"])
            close(code: CloseCode.tooSlow, reason: "client fell behind: more than \(hub.options.maxQueuedFrames) frames queued")
        } else if backlog.bytes > hub.options.maxOutstandingBytes {
            hub.counters.slowDisconnects.add(1, ordering: .relaxed)
            hub.counters.refuse(.outstandingBytes)
            logger.notice("closing a client that does not read", metadata: ["queued_bytes": "\(backlog.bytes)"])
            close(code: CloseCode.tooSlow, reason: "client fell behind: more than \(hub.options.maxOutstandingBytes) bytes queued")
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
        guard !closing else { return }
        let before = backlog.count
        while channel?.isWritable == true, let (wire, conflated) = backlog.popFirst() {
            let frame = conflated ? WebSocketWire.markedConflated(wire) : wire
            writer.write(frame)
            pendingWrites += 1
            pendingBytes += frame.readableBytes
        }
        hub.counters.queued.subtract(before - backlog.count, ordering: .relaxed)
        shard.markDirty(self)
        shard.flushDirty()
    }

    /// Sends a close frame and closes the connection once it is written or `closeTimeout` passed.
    func close(code: UInt16, reason: String) {
        guard !closing, let channel else { return }
        closing = true
        hub.counters.closed(code)
        hub.counters.dropped.add(backlog.count, ordering: .relaxed)
        cancelSessionTimers()
        hub.counters.queued.subtract(backlog.count, ordering: .relaxed)
        backlog.removeAll()
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
        guard !closing else { return }
        if now - lastHeard > interval * 3 {
            close(code: CloseCode.goingAway, reason: "no answer to pings")
            return
        }
        writer.write(WebSocketWire.frame(opcode: WebSocketWire.pingOpcode, payload: [UInt8]()))
        shard.markDirty(self)
    }

    // MARK: requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        lastHeard = .now()
        switch frame.opcode {
        case .text:
            handleText(frame)
        case .binary:
            reply(ServerReply.error(id: .none, code: .badJSON, message: "binary frames are not accepted; send JSON text"), .badJSON)
        case .ping:
            // RFC 6455 5.5.3 allows answering only the latest ping: a client that pings without
            // reading gets no pongs queued.
            if backlog.isEmpty, context.channel.isWritable {
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

    private func reply(_ b: ByteBuffer, _ error: ErrorCode? = nil) {
        guard !closing else { return }
        if let error { hub.counters.error(error) }
        send(b)
    }

    private func handleText(_ frame: WebSocketFrame) {
        guard !closing else { return }
        if authPending {
            guard deferred.count < 64 else {
                reply(ServerReply.error(id: .none, code: .rateLimited, message: "too many requests while auth is pending; message dropped"), .rateLimited)
                return
            }
            deferred.append(frame)
            return
        }
        if frame.length > hub.options.maxMessageBytes {
            hub.counters.refuse(.messageBytes)
            reply(
                ServerReply.error(
                    id: .none, code: .frameTooLarge, message: "message of \(frame.length) bytes; at most \(hub.options.maxMessageBytes)"),
                .frameTooLarge)
            return
        }
        guard takeToken() else { return }
        let data = frame.unmaskedData
        switch ClientRequest.parse(data.readableBytesView) {
        case .failure(let f):
            reply(ServerReply.error(id: f.id, code: f.code, message: f.message), f.code)
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

    /// Token bucket: `messagesPerSecond` with a burst of `messageBurst`. One `rate_limited` reply
    /// per second at most, so a flood is not answered with a flood.
    private func takeToken() -> Bool {
        let now = NIODeadline.now()
        if bucket.take(now: now) { return true }
        hub.counters.error(.rateLimited)
        hub.counters.refuse(.messagesPerSecond)
        if now - lastRateLimitReply >= .seconds(1) {
            lastRateLimitReply = now
            send(
                ServerReply.error(
                    id: .none, code: .rateLimited,
                    message: "more than \(Int(hub.options.messagesPerSecond)) messages per second; message dropped"))
        }
        return false
    }

    // MARK: auth and sessions

    private func authenticate(id: RequestID, token: String) {
        guard let check = hub.sessionCheck, let loop = channel?.eventLoop else {
            reply(ServerReply.error(id: id, code: .unauthorized, message: "authentication is not configured on this server"), .unauthorized)
            return
        }
        // Sliding one-minute window: each attempt costs a signature check, and a socket trying
        // token after token is guessing.
        let now = NIODeadline.now()
        authAttempts.removeAll { now - $0 >= .minutes(1) }
        guard authAttempts.count < hub.options.authAttemptsPerMinute else {
            hub.counters.refuse(.authAttempts)
            close(code: CloseCode.tooManyAuthAttempts, reason: "more than \(hub.options.authAttemptsPerMinute) auth attempts per minute")
            return
        }
        authAttempts.append(now)
        authPending = true
        Task {
            let result = await check(token)
            loop.execute { self.finishAuth(id: id, result) }
        }
    }

    private func finishAuth(id: RequestID, _ result: Result<TokenGrant, TokenRefusal>) {
        authPending = false
        guard !closing else { return }
        switch result {
        case .success(let grant):
            // A new identity: private subscriptions of the previous one end.
            if let previous = user, previous != grant.user { signOut(reason: nil) }
            user = grant.user
            expires = grant.expires
            reply(ServerReply.authAck(id: id, user: grant.user, expires: grant.expires))
            scheduleSession(grant)
        case .failure(let refusal):
            // A failed re-auth ends the previous identity too: the socket must not keep rights
            // its client could no longer prove.
            let previous = user
            let suffix = previous.map { "; the previous identity '\($0)' and its private channels are dropped" } ?? ""
            reply(ServerReply.error(id: id, code: .unauthorized, message: refusal.message + suffix), .unauthorized)
            if previous != nil { signOut(reason: .authFailed) }
        }
        // Replay what waited; requests after another `auth` wait again (handleText defers them).
        let queued = deferred
        deferred = []
        for frame in queued { handleText(frame) }
        shard.flushDirty()
    }

    /// The `expiring` message `sessionWarning` before `exp`, and the sign-out at `exp`.
    private func scheduleSession(_ grant: TokenGrant) {
        cancelSessionTimers()
        guard let exp = grant.expires, let loop = channel?.eventLoop else { return }
        let left = exp.rawValue - UnixNanos.wallClock().rawValue
        let warnIn = left - Int64(TimeAmount(hub.options.sessionWarning).nanoseconds)
        let warning = ServerReply.session(event: "expiring", user: grant.user, expires: exp, reason: nil, channels: nil)
        if warnIn <= 0 {
            send(warning)
        } else {
            sessionTimers.append(
                loop.scheduleTask(in: .nanoseconds(warnIn)) { [self] in
                    send(warning)
                    shard.flushDirty()
                })
        }
        sessionTimers.append(
            loop.scheduleTask(in: .nanoseconds(max(0, left))) { [self] in
                signOut(reason: .expired)
                shard.flushDirty()
            })
    }

    private func cancelSessionTimers() {
        for t in sessionTimers { t.cancel() }
        sessionTimers.removeAll()
    }

    /// Ends the identity: private channels go, and (with a reason) the client is told which.
    func signOut(reason: SignOutReason?) {
        guard let previous = user else { return }
        cancelSessionTimers()
        user = nil
        let mine = patterns.filter { $0.kind.isPrivate }
        if !mine.isEmpty {
            patterns.removeAll { $0.kind.isPrivate }
            hub.counters.subscriptions.subtract(mine.count, ordering: .relaxed)
            shard.patternsChanged(self)
        }
        let at = expires
        expires = nil
        if let reason {
            send(ServerReply.session(event: "signed_out", user: previous, expires: at, reason: reason.rawValue, channels: mine.map(\.description)))
        }
    }

    /// Ends the session when its token is past `exp` (the timer may not have fired yet).
    private func checkExpiry() {
        if let expires, UnixNanos.wallClock() >= expires { signOut(reason: .expired) }
    }

    enum SignOutReason: String {
        case expired
        case revoked
        case authFailed = "auth_failed"
    }

    // MARK: subscriptions

    private func subscribe(id: RequestID, channels: [String], since: [String: (seq: UInt64, epoch: String)]) {
        var parsed: [ChannelName] = []
        for text in channels {
            do {
                parsed.append(try ChannelName(parsing: text, venues: hub.venues, intervals: hub.intervals))
            } catch {
                reply(ServerReply.error(id: id, code: .badChannel, message: error.message), .badChannel)
                return
            }
        }
        for p in parsed {
            if let unknown = hub.unknownInstrument(p) {
                reply(ServerReply.error(id: id, code: .badChannel, message: unknown), .badChannel)
                return
            }
        }
        checkExpiry()
        for p in parsed where p.kind.isPrivate {
            guard let user else {
                reply(ServerReply.error(id: id, code: .unauthorized, message: "\(p) is private: send auth first"), .unauthorized)
                return
            }
            guard p.scope == user else {
                reply(ServerReply.error(id: id, code: .forbidden, message: "\(p) belongs to another user"), .forbidden)
                return
            }
        }
        let new = parsed.reduce(into: [ChannelName]()) { acc, p in
            if !patterns.contains(p) && !acc.contains(p) { acc.append(p) }
        }
        guard patterns.count + new.count <= hub.options.maxSubscriptions else {
            hub.counters.refuse(.subscriptions)
            reply(
                ServerReply.error(
                    id: id, code: .tooManySubscriptions,
                    message: "at most \(hub.options.maxSubscriptions) subscriptions per connection (\(patterns.count) held)"),
                .tooManySubscriptions)
            return
        }
        // The concrete channels first: a subscribe matching too many changes nothing.
        var concrete: [ChannelName] = []
        var seen = Set<ChannelName>()
        let cap = hub.options.maxChannelsPerSubscribe
        for p in parsed {
            for ch in p.hasWildcard ? hub.bus.channels(matching: p) : [p] where seen.insert(ch).inserted {
                concrete.append(ch)
            }
            if concrete.count > cap {
                hub.counters.refuse(.channelsPerSubscribe)
                reply(
                    ServerReply.error(
                        id: id, code: .tooManyChannels,
                        message: "subscription refused: \(parsed.map(\.description).joined(separator: ", ")) match more than \(cap) channels "
                            + "(at most \(cap) per subscribe); subscribe to narrower patterns"),
                    .tooManyChannels)
                return
            }
        }
        patterns += new
        hub.counters.subscriptions.add(new.count, ordering: .relaxed)

        var entries: [ServerReply.AckEntry] = []
        var first: [ByteBuffer] = []
        var lost: [String] = []
        for ch in concrete {
            let resume = since[ch.description]
            let a = hub.bus.attach(ch, since: resume)
            if let cid = a.channelID {
                if let last = cursors[cid], last >= a.seq {
                    // Already followed (through another pattern, or an earlier subscribe). Without
                    // `since` there is nothing to resend; with it the client asks for a resend, which
                    // is answered like any resume (history after its seq, or recovered:false and a
                    // fresh snapshot when the epoch is not the channel's).
                    guard resume != nil else {
                        entries.append(.init(channel: ch.description, position: (a.seq, a.epoch, true)))
                        continue
                    }
                } else {
                    cursors[cid] = a.seq
                }
            }
            entries.append(.init(channel: ch.description, position: (a.seq, a.epoch, a.recovered)))
            first += a.frames
            if a.historyUnavailable { lost.append(ch.description) }
        }
        shard.patternsChanged(self)
        reply(ServerReply.ack(id: id, channels: entries))
        for f in first { send(f, isData: true) }
        if !lost.isEmpty {
            reply(
                ServerReply.error(
                    id: id, code: .historyUnavailable,
                    message: "cannot resume \(lost.joined(separator: ", ")): position no longer in history or epoch changed"),
                .historyUnavailable)
        }
    }

    private func unsubscribe(id: RequestID, channels: [String]) {
        var removed: [ServerReply.AckEntry] = []
        for text in channels {
            guard let p = try? ChannelName(parsing: text, venues: hub.venues, intervals: hub.intervals) else {
                reply(ServerReply.error(id: id, code: .badChannel, message: "bad channel name '\(text.prefix(80))'"), .badChannel)
                return
            }
            if let i = patterns.firstIndex(of: p) {
                patterns.remove(at: i)
                removed.append(.init(channel: p.description, position: nil))
            }
        }
        hub.counters.subscriptions.subtract(removed.count, ordering: .relaxed)
        shard.patternsChanged(self)
        reply(ServerReply.ack(id: id, channels: removed))
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
