public import HummingbirdCore
public import Logging
public import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import Synchronization
import HTTPTypes

/// Hummingbird's HTTP/1 server with `GET /ws` upgraded into a ``FanOutClient`` pipeline.
///
/// Ordinary requests go to the Hummingbird router (the HTTP API, `/metrics`); a websocket upgrade
/// on `/ws` gets NIO's frame decoder and our own handlers, not an async per-client task: the
/// fan-out writes pre-encoded frames to many clients per event loop, which an async writer per
/// client cannot do without a hop per message.
public struct FanOutHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    public enum UpgradeResult: Sendable {
        case websocket(any Channel)
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, status: HTTPResponseStatus)
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
            let refusal = NIOLoopBoundBox<HTTPResponseStatus?>(nil, eventLoop: channel.eventLoop)
            let hub = self.hub
            let path = self.path
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
                        refusal.value = .serviceUnavailable
                        return channel.eventLoop.makeSucceededFuture(nil)
                    }
                    return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        let ops = channel.pipeline.syncOperations
                        let writer = RawFrameWriter()
                        try ops.addHandler(writer, position: .first)
                        try ops.addHandler(
                            NIOWebSocketFrameAggregator(
                                minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 64,
                                maxAccumulatedFrameSize: hub.options.maxFrameBytes))
                        let shard = hub.shard(for: channel.eventLoop)
                        try ops.addHandler(FanOutClient(hub: hub, shard: shard, writer: writer, logger: hub.logger))
                        return UpgradeResult.websocket(channel)
                    }
                })
            let upgrade = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        if let status = refusal.value { return UpgradeResult.refused(asyncChannel, status: status) }
                        return UpgradeResult.notUpgraded(asyncChannel)
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: upgrade)
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            return Value(result: result, channel: channel)
        }
    }

    public func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.result.get() {
            case .notUpgraded(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http, let status):
                await refuse(http, status: status)
            case .websocket:
                // The client's handlers own the connection from here (and the hub closes it on
                // shutdown): no task waits on it, which saves memory per connection.
                break
            }
        } catch {
            logger.debug("connection setup failed", metadata: ["error": "\(error)"])
        }
    }

    private func refuse(_ http: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, status: HTTPResponseStatus) async {
        let body =
            status == .serviceUnavailable
            ? #"{"error":{"code":"too_many_connections","message":"the server is at its connection limit"}}"#
            : #"{"error":{"code":"not_found","message":"websocket upgrades are served on the fan-out path only"}}"#
        try? await http.executeThenClose { _, outbound in
            var buffer = ByteBuffer()
            buffer.writeString(body)
            let head = HTTPResponse(
                status: .init(code: Int(status.code)),
                headerFields: [.contentType: "application/json", .contentLength: "\(buffer.readableBytes)", .connection: "close"])
            try await outbound.write(contentsOf: [.head(head), .body(buffer), .end(nil)])
        }
    }
}
