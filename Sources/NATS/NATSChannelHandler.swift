import NIOCore

/// The per-connection handler: parses what the server sends and reports it to the client.
/// A fresh handler (and parser) per connection, so bytes from a dead socket never mix with a new one.
final class NATSChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let client: NATSClient
    let connectionID: UInt64
    private var parser = NATSProtocolParser()
    private var error: NATSError?

    init(client: NATSClient, connectionID: UInt64) {
        self.client = client
        self.connectionID = connectionID
    }

    func channelActive(context: ChannelHandlerContext) {
        client.channelActive(connectionID: connectionID, channel: context.channel)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard error == nil else { return }
        parser.append(unwrapInboundIn(data))
        var operations: [NATSServerOperation] = []
        do {
            while let operation = try parser.next() { operations.append(operation) }
        } catch {
            // The stream cannot be resynchronized: deliver what parsed, then start over on a new connection.
            let reason = error as? NATSError ?? NATSError(.protocolViolation, "\(error)")
            self.error = reason
            client.received(operations, connectionID: connectionID)
            client.protocolError(reason)
            context.close(promise: nil)
            return
        }
        if !operations.isEmpty { client.received(operations, connectionID: connectionID) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        client.channelInactive(connectionID: connectionID, error: error)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if self.error == nil { self.error = NATSError(.connectionClosed, "socket error: \(error)") }
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        client.writabilityChanged(connectionID: connectionID, isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }
}
