import NIOCore
import NIOHTTP1

/// Stamps the receive time of every socket read before any decoding, so every frame decoded from
/// that read gets the same time: the moment the bytes reached user space (wsload does the same).
final class ReadStamper: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let record: ConnRecord

    init(record: ConnRecord) { self.record = record }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        record.rxNs = System.realtimeNs()
        context.fireChannelRead(data)
    }
}

/// Sends the HTTP upgrade request; fails `upgraded` when the server answers without upgrading or the
/// connection dies first. `HTTPClientUpgradeHandler` removes it once the upgrade succeeds.
final class UpgradeRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    static let name = "loadgen.upgrade-request"

    private let target: Target
    private let upgraded: EventLoopPromise<Void>

    init(target: Target, upgraded: EventLoopPromise<Void>) {
        self.target = target
        self.upgraded = upgraded
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(target.host):\(target.port)")
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Only a response that did not upgrade reaches here.
        if case .head(let head) = unwrapInboundIn(data) {
            upgraded.fail(HandshakeError("handshake status \(head.status.code)"))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        upgraded.fail(HandshakeError("handshake: \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        upgraded.fail(HandshakeError("closed during handshake"))
        context.fireChannelInactive()
    }
}

struct HandshakeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
