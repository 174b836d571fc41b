public import HummingbirdCore
public import Logging
public import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOSSL
import NIOWebSocket
import Synchronization
import HTTPTypes

/// Hummingbird's HTTP/1 server with `GET /ws` upgraded into a ``FanOutClient`` pipeline.
///
/// Ordinary requests go to the Hummingbird router (the HTTP API, `/metrics`); a websocket upgrade
/// on `/ws` gets NIO's frame decoder and our own handlers, not an async per-client task: the
/// fan-out writes pre-encoded frames to many clients per event loop, which an async writer per
/// client cannot do without a hop per message.
///
/// Every connection passes the connection limits first (per address, then, for upgrades, the
/// total and the handshake rate), must send its request head (after TLS, when configured) within
/// `handshakeTimeout`, and its request head and body are bounded (431, 413).
public struct FanOutHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    public enum UpgradeResult: Sendable {
        case websocket(any Channel)
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, refusal: UpgradeRefusal)
    }

    /// Why an upgrade was refused, answered as an HTTP error.
    public enum UpgradeRefusal: Sendable {
        case notFound, atConnectionLimit, handshakeRate
    }

    public struct Value: ServerChildChannelValue {
        let result: EventLoopFuture<UpgradeResult>
        public let channel: any Channel
    }

    public let responder: HTTPChannelHandler.Responder
    let hub: FanOutHub
    let path: String

    public init(hub: FanOutHub, path: String = "/ws", responder: @escaping HTTPChannelHandler.Responder) {
        self.hub = hub
        self.path = path
        self.responder = responder
    }

    /// The server builder for `Application(router:server:)`.
    public static func builder(hub: FanOutHub, path: String = "/ws") -> HTTPServerBuilder {
        HTTPServerBuilder { responder in FanOutHTTPChannel(hub: hub, path: path, responder: responder) }
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let hub = self.hub
            let path = self.path
            let address = channel.remoteAddress?.ipAddress ?? "unknown"
            guard hub.connectionOpened(from: address) else {
                try Self.refuseConnection(channel, tls: hub.tls != nil, limit: hub.options.maxConnectionsPerAddress)
                let failed = channel.eventLoop.makeFailedFuture(ChannelError.inputClosed) as EventLoopFuture<UpgradeResult>
                return Value(result: failed, channel: channel)
            }
            channel.closeFuture.whenComplete { _ in hub.connectionClosed(from: address) }

            let ops = channel.pipeline.syncOperations
            let deadline = HandshakeDeadline(timeout: TimeAmount(hub.options.handshakeTimeout), hub: hub)
            try ops.addHandler(deadline)
            let ssl = hub.tls.map { NIOSSLServerHandler(context: $0.context) }
            if let ssl { try ops.addHandler(ssl) }
            let limits = HTTPRequestLimits(maxBodyBytes: hub.options.maxBodyBytes, hub: hub)
            let refusal = NIOLoopBoundBox<UpgradeRefusal?>(nil, eventLoop: channel.eventLoop)
            // The handlers the upgrade callbacks remove or place after (they run on this loop).
            let handlers = NIOLoopBound((deadline: deadline, limits: limits, ssl: ssl), eventLoop: channel.eventLoop)
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: hub.options.maxFrameBytes,
                shouldUpgrade: { channel, head in
                    let requested = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                    guard requested == path else {
                        refusal.value = .notFound
                        return channel.eventLoop.makeSucceededFuture(nil)
                    }
                    guard hub.admits() else {
                        hub.counters.rejected.add(1, ordering: .relaxed)
                        hub.counters.refuse(.connections)
                        refusal.value = .atConnectionLimit
                        return channel.eventLoop.makeSucceededFuture(nil)
                    }
                    guard hub.takeHandshake() else {
                        hub.counters.rejected.add(1, ordering: .relaxed)
                        refusal.value = .handshakeRate
                        return channel.eventLoop.makeSucceededFuture(nil)
                    }
                    return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        let ops = channel.pipeline.syncOperations
                        ops.removeHandler(handlers.value.deadline, promise: nil)
                        ops.removeHandler(handlers.value.limits, promise: nil)
                        // Pre-encoded frames go out just after TLS (which must encrypt them), or first.
                        let writer = RawFrameWriter()
                        try ops.addHandler(writer, position: handlers.value.ssl.map { .after($0) } ?? .first)
                        try ops.addHandler(WebSocketFrameValidator())
                        try ops.addHandler(
                            NIOWebSocketFrameAggregator(
                                minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64,
                                maxAccumulatedFrameSize: hub.options.maxFrameBytes))
                        let shard = hub.shard(for: channel.eventLoop)
                        try ops.addHandler(FanOutClient(hub: hub, shard: shard, writer: writer, logger: hub.logger))
                        return UpgradeResult.websocket(channel)
                    }
                })
            let secure = hub.tls != nil
            let idle = hub.options.idleTimeout
            let upgrade = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let ops = channel.pipeline.syncOperations
                        // The head is in: from here the keep-alive idle timeout applies.
                        ops.removeHandler(handlers.value.deadline, promise: nil)
                        try ops.addHandler(HTTP1ToHTTPServerCodec(secure: secure))
                        try ops.addHandler(HTTPConnectionStateHandler(idleTimeout: idle, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        if let r = refusal.value { return UpgradeResult.refused(asyncChannel, refusal: r) }
                        return UpgradeResult.notUpgraded(asyncChannel)
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: upgrade)
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            // The request line counts too: NIO's decoder adds the URL to the header bytes.
            configuration.decoderConfiguration.maxHeaderFieldSize = hub.options.maxHeaderBytes
            configuration.decoderConfiguration.maxHeaderListSize = hub.options.maxHeaderBytes
            configuration.decoderConfiguration.maxHeaderFieldCount = 256
            let result = try ops.configureUpgradableHTTPServerPipeline(configuration: configuration)
            try ops.addHandler(limits)
            return Value(result: result, channel: channel)
        }
    }

    /// Over the per-address limit: a plain connection gets a 429 and is closed; a TLS one is
    /// closed at once (answering would cost a handshake). The plain one half-closes first and
    /// lingers a moment, so the client's request does not turn the close into a reset that
    /// would discard the 429 before the client reads it.
    static func refuseConnection(_ channel: any Channel, tls: Bool, limit: Int) throws {
        guard !tls else {
            channel.close(promise: nil)
            return
        }
        let body =
            #"{"error":{"code":"too_many_connections_from_address","message":"more than \#(limit) connections from this address"}}"#
        var b = channel.allocator.buffer(capacity: 256)
        b.writeString(
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
                + "Connection: close\r\n\r\n\(body)")
        channel.writeAndFlush(b).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
    }

    public func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.result.get() {
            case .notUpgraded(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http, let refusal):
                await refuse(http, refusal)
            case .websocket:
                // The client's handlers own the connection from here (and the hub closes it on
                // shutdown): no task waits on it, which saves memory per connection.
                break
            }
        } catch {
            logger.debug("connection setup failed", metadata: ["error": "\(error)"])
        }
    }

    private func refuse(_ http: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, _ refusal: UpgradeRefusal) async {
        let status: HTTPResponse.Status
        let body: String
        var extra: HTTPFields = [:]
        switch refusal {
        case .atConnectionLimit:
            status = .serviceUnavailable
            body = #"{"error":{"code":"too_many_connections","message":"the server is at its connection limit"}}"#
        case .handshakeRate:
            status = .tooManyRequests
            extra[.retryAfter] = "1"
            body =
                #"{"error":{"code":"too_many_handshakes","message":"more than \#(Int(hub.options.handshakesPerSecond)) websocket handshakes per second; retry later"}}"#
        case .notFound:
            status = .notFound
            body = #"{"error":{"code":"not_found","message":"websocket upgrades are served on the fan-out path only"}}"#
        }
        try? await http.executeThenClose { _, outbound in
            var buffer = ByteBuffer()
            buffer.writeString(body)
            var fields: HTTPFields = [.contentType: "application/json", .contentLength: "\(buffer.readableBytes)", .connection: "close"]
            fields.append(contentsOf: extra)
            try await outbound.write(contentsOf: [.head(HTTPResponse(status: status, headerFields: fields)), .body(buffer), .end(nil)])
        }
    }
}

/// Closes a connection that has not sent its request head `timeout` after it was accepted (a
/// slowloris, a half-open upgrade, a stalled TLS handshake). Removed once the head is in.
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let timeout: TimeAmount
    let hub: FanOutHub
    private var task: Scheduled<Void>?

    init(timeout: TimeAmount, hub: FanOutHub) {
        self.timeout = timeout
        self.hub = hub
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        let hub = self.hub
        task = context.eventLoop.scheduleTask(in: timeout) {
            guard channel.isActive else { return }
            hub.counters.refuse(.handshakeTimeout)
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        task?.cancel()
        task = nil
    }
}

/// Request limits NIO's decoder does not answer for: a request head over the limit gets 431 (the
/// decoder only fails), a body over `maxBodyBytes` gets 413 before the router sees it (declared
/// `Content-Length` at once; a chunked body is held until it ends or passes the limit), other
/// parse errors get 400. Each closes the connection.
final class HTTPRequestLimits: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let maxBodyBytes: Int
    let hub: FanOutHub
    private var state = State.idle
    private var responding = false

    enum State {
        case idle
        /// Forwarding a request whose body is known to fit.
        case passing
        /// Holding a chunked request until it ends or passes the limit.
        case holding(head: HTTPRequestHead, body: [ByteBuffer], bytes: Int)
        case refused
    }

    init(maxBodyBytes: Int, hub: FanOutHub) {
        self.maxBodyBytes = maxBodyBytes
        self.hub = hub
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case (.refused, _):
            return
        case (_, .head(let head)):
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxBodyBytes {
                refuse(context, .payloadTooLarge, code: "body_too_large", "request body of \(length) bytes; at most \(maxBodyBytes)")
                return
            }
            if head.headers.contains(name: "transfer-encoding") {
                state = .holding(head: head, body: [], bytes: 0)
                return
            }
            state = .passing
            context.fireChannelRead(data)
        case (.holding(let head, var body, let bytes), .body(let chunk)):
            let total = bytes + chunk.readableBytes
            guard total <= maxBodyBytes else {
                refuse(context, .payloadTooLarge, code: "body_too_large", "request body over \(maxBodyBytes) bytes")
                return
            }
            body.append(chunk)
            state = .holding(head: head, body: body, bytes: total)
        case (.holding(let head, let body, _), .end(let trailers)):
            state = .idle
            context.fireChannelRead(wrapInboundOut(.head(head)))
            for b in body { context.fireChannelRead(wrapInboundOut(.body(b))) }
            context.fireChannelRead(wrapInboundOut(.end(trailers)))
        case (_, .end):
            state = .idle
            context.fireChannelRead(data)
        case (_, .body):
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head: responding = true
        case .end: responding = false
        case .body: break
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Once refused, the rest of the request is read and dropped (the decoder reports it as
        // errors) until the connection closes.
        if case .refused = state { return }
        guard let parse = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if parse == .headerOverflow {
            refuse(context, .requestHeaderFieldsTooLarge, code: "headers_too_large", "request head over \(hub.options.maxHeaderBytes) bytes")
        } else {
            refuse(context, .badRequest, code: "bad_request", "malformed HTTP request (\(parse))")
        }
    }

    private func refuse(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, code: String, _ message: String) {
        switch status {
        case .payloadTooLarge: hub.counters.refuse(.bodyBytes)
        case .requestHeaderFieldsTooLarge: hub.counters.refuse(.headerBytes)
        default: break
        }
        state = .refused
        // A response already on its way cannot be followed by another: just close.
        guard !responding else {
            context.close(promise: nil)
            return
        }
        let body = #"{"error":{"code":"\#(code)","message":"\#(message)"}}"#
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        // Half-close and linger: closing with the rest of the request unread would reset the
        // connection, and a reset can discard the response before the client reads it.
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
    }
}
