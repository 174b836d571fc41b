import Bus
import Logging
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

/// One websocket client: its protocol requests, subscriptions, per-channel positions and the queue
/// it falls back on when it does not keep up. Lives on its channel's event loop.
final class FanOutClient: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame

    let hub: FanOutHub
    let shard: FanOutShard
    let writer: RawFrameWriter
    let logger: Logger
    private var channel: (any Channel)?

    private var patterns: [ChannelName] = []
    private var user: String?
    /// An `auth` is being verified: later requests wait for it, in order (a client may pipeline
    /// `auth` and a private `subscribe`).
    private var authPending = false
    private var deferred: [WebSocketFrame] = []
    /// Channel id → seq of the last frame sent (or covered by a snapshot) on that channel.
    private var cursors: [Int: UInt64] = [:]
    private var backlog = Backlog()
    var needsFlush = false
    private var closing = false
    private var pendingWrites = 0
    private var pendingBytes = 0

    private var tokens: Double
    private var lastRefill = NIODeadline.now()
    private var lastRateLimitReply = NIODeadline.distantPast
    private var lastHeard = NIODeadline.now()

    init(hub: FanOutHub, shard: FanOutShard, writer: RawFrameWriter, logger: Logger) {
        self.hub = hub
        self.shard = shard
        self.writer = writer
        self.logger = logger
        self.tokens = hub.options.messageBurst
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
        logger.debug("websocket client error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: delivery (called by the shard)

    func wants(_ channel: ChannelName) -> Bool {
        !closing && patterns.contains { $0.matches(channel) }
    }

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
        let before = backlog.count
        backlog.append(f.wire, key: f.conflationKey)
        hub.counters.queued.add(backlog.count - before, ordering: .relaxed)
        if backlog.replaced > 0 {
            hub.counters.conflated.add(backlog.replaced, ordering: .relaxed)
            backlog.replaced = 0
        }
        if backlog.lossless > hub.options.maxQueuedFrames {
            hub.counters.slowDisconnects.add(1, ordering: .relaxed)
            logger.notice("closing a client that fell behind", metadata: ["queued": "\(backlog.count)"])
            close(code: CloseCode.tooSlow, reason: "client fell behind: more than \(hub.options.maxQueuedFrames) frames queued")
        }
    }

    /// A frame outside any channel, in order with the data frames (never conflated).
    func send(_ frame: ByteBuffer) {
        guard !closing else { return }
        if backlog.isEmpty, channel?.isWritable == true {
            writer.write(frame)
            shard.markDirty(self)
        } else {
            backlog.append(frame, key: nil)
            hub.counters.queued.add(1, ordering: .relaxed)
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
            var payload = frame.unmaskedData
            writer.write(WebSocketWire.frame(opcode: WebSocketWire.pongOpcode, payload: payload.readBytes(length: payload.readableBytes) ?? []))
            shard.markDirty(self)
        case .connectionClose:
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self) ?? CloseCode.normal
            close(code: code, reason: "")
        default:
            break
        }
        shard.flushDirty()
    }

    private func reply(_ b: ByteBuffer, _ error: ErrorCode? = nil) {
        guard !closing else { return }
        if let error { hub.counters.error(error) }
        writer.write(b)
        shard.markDirty(self)
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
        let elapsed = Double((now - lastRefill).nanoseconds) / 1e9
        lastRefill = now
        tokens = min(hub.options.messageBurst, tokens + elapsed * hub.options.messagesPerSecond)
        if tokens >= 1 {
            tokens -= 1
            return true
        }
        hub.counters.error(.rateLimited)
        if now - lastRateLimitReply >= .seconds(1) {
            lastRateLimitReply = now
            writer.write(
                ServerReply.error(
                    id: .none, code: .rateLimited,
                    message: "more than \(Int(hub.options.messagesPerSecond)) messages per second; message dropped"))
            shard.markDirty(self)
        }
        return false
    }

    private func authenticate(id: RequestID, token: String) {
        guard let check = hub.authenticate, let loop = channel?.eventLoop else {
            reply(ServerReply.error(id: id, code: .unauthorized, message: "authentication is not configured on this server"), .unauthorized)
            return
        }
        authPending = true
        Task {
            let result = await check(token)
            loop.execute { self.finishAuth(id: id, result) }
        }
    }

    private func finishAuth(id: RequestID, _ result: Result<String, TokenRefusal>) {
        authPending = false
        switch result {
        case .success(let subject):
            // A new identity: private subscriptions of the previous one end.
            if let previous = user, previous != subject {
                let mine = patterns.filter { $0.kind.isPrivate }.map(\.description)
                if !mine.isEmpty { unsubscribe(id: .none, channels: mine, quiet: true) }
            }
            user = subject
            reply(ServerReply.authAck(id: id, user: subject))
        case .failure(let refusal):
            reply(ServerReply.error(id: id, code: .unauthorized, message: refusal.message), .unauthorized)
        }
        // Replay what waited; requests after another `auth` wait again (handleText defers them).
        let queued = deferred
        deferred = []
        for frame in queued { handleText(frame) }
        shard.flushDirty()
    }

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
            reply(
                ServerReply.error(
                    id: id, code: .tooManySubscriptions,
                    message: "at most \(hub.options.maxSubscriptions) subscriptions per connection (\(patterns.count) held)"),
                .tooManySubscriptions)
            return
        }
        patterns += new
        hub.counters.subscriptions.add(new.count, ordering: .relaxed)

        var entries: [ServerReply.AckEntry] = []
        var first: [ByteBuffer] = []
        var lost: [String] = []
        var seen = Set<ChannelName>()
        for p in parsed {
            let concrete = p.hasWildcard ? hub.bus.channels(matching: p) : [p]
            for ch in concrete where seen.insert(ch).inserted {
                let a = hub.bus.attach(ch, since: since[ch.description])
                if let last = cursors[a.channelID], last >= a.seq {
                    // Already followed through another pattern: nothing to resend.
                    entries.append(.init(channel: ch.description, position: (a.seq, a.epoch, true)))
                    continue
                }
                cursors[a.channelID] = a.seq
                entries.append(.init(channel: ch.description, position: (a.seq, a.epoch, a.recovered)))
                first += a.frames
                if a.historyUnavailable { lost.append(ch.description) }
            }
        }
        shard.patternsChanged(self)
        reply(ServerReply.ack(id: id, channels: entries))
        for f in first {
            writer.write(f)
            pendingWrites += 1
        }
        if !lost.isEmpty {
            reply(
                ServerReply.error(
                    id: id, code: .historyUnavailable,
                    message: "cannot resume \(lost.joined(separator: ", ")): position no longer in history or epoch changed"),
                .historyUnavailable)
        }
    }

    private func unsubscribe(id: RequestID, channels: [String], quiet: Bool = false) {
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
        if !quiet { reply(ServerReply.ack(id: id, channels: removed)) }
    }
}

/// Frames waiting for a slow client. Book and candle frames replace their queued predecessor of
/// the same key (the newer one is marked conflated); other frames are kept, and counted against
/// the hard limit.
struct Backlog {
    private var items: [Entry?] = []
    private var head = 0
    private var positions: [ConflationKey: Int] = [:]
    private(set) var count = 0
    private(set) var lossless = 0
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
            items[old] = nil
            count -= 1
            replaced += 1
            conflated = true
        }
        if let key { positions[key] = items.count } else { lossless += 1 }
        items.append(Entry(wire: wire, key: key, conflated: conflated))
        count += 1
    }

    mutating func popFirst() -> (ByteBuffer, Bool)? {
        while head < items.count {
            let e = items[head]
            items[head] = nil
            head += 1
            guard let e else { continue }
            count -= 1
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
    }
}
