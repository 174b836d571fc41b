import NIOCore
import NIOWebSocket

/// One websocket client after the upgrade: subscribes, then counts, checks and times every frame.
/// Runs on its channel's event loop and writes only loop-local state on the per-frame path.
final class ClientHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let record: ConnRecord
    private let stats: LoopStats
    private let progress: Progress
    private let subscribe: String
    private let tsKey: Pattern
    private var acked = false

    init(record: ConnRecord, stats: LoopStats, progress: Progress, subscribe: String, tsKey: Pattern) {
        self.record = record
        self.stats = stats
        self.progress = progress
        self.subscribe = subscribe
        self.tsKey = tsKey
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Added by the upgrader: the channel is already active, so subscribe now.
        let data = context.channel.allocator.buffer(string: subscribe)
        send(context: context, WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: data))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary:
            frame.unmaskedData.withUnsafeReadableBytes { handleMessage($0) }
        case .ping:
            stats.pings += 1
            send(context: context, WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData))
        case .connectionClose:
            var payload = frame.unmaskedData
            let code = payload.readInteger(as: UInt16.self).map(Int.init) ?? 1005
            record.closeCode = code
            // Echo the close, then drop the connection without waiting for the server.
            var echo = context.channel.allocator.buffer(capacity: 2)
            echo.writeInteger(UInt16(code == 1005 ? 1000 : code))
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: echo)))
                .whenComplete { _ in channel.close(promise: nil) }
        default:
            stats.otherFrames += 1  // continuation frames: the gateway sends one event per unfragmented frame
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        record.closed = true
        // No close frame before `end` = abnormal closure, reported as 1006 like browsers do.
        if record.closeCode == nil && !record.gotEnd { record.closeCode = 1006 }
        progress.update { $0.closed += 1 }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func send(context: ChannelHandlerContext, _ frame: WebSocketFrame) {
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    @inline(__always)
    private func handleMessage(_ bytes: UnsafeRawBufferPointer) {
        switch FrameScan.kind(bytes) {
        case .data: handleData(bytes)
        case .end:
            if !record.gotEnd {
                record.gotEnd = true
                record.sent = FrameScan.integer(bytes, key: FrameScan.sentKey)?.value
                progress.update { $0.ended += 1 }
            }
        case .ack: handleAck(bytes)
        case .other:
            stats.otherFrames += 1
            if FrameScan.find(bytes, FrameScan.errorType, from: 0) != nil { stats.errorFrames += 1 }
        }
    }

    @inline(__always)
    private func handleData(_ bytes: UnsafeRawBufferPointer) {
        let rx = record.rxNs
        stats.delivered += 1
        record.delivered += 1
        if stats.firstRxNs == 0 { stats.firstRxNs = rx }
        stats.lastRxNs = rx

        var after = 0
        if let ch = FrameScan.channel(bytes), let seq = FrameScan.integer(bytes, key: FrameScan.seqKey, from: ch.upperBound) {
            after = seq.end
            checkContinuity(bytes, channel: ch, seq: seq.value)
        }
        if let ts = FrameScan.integer(bytes, key: tsKey, from: after) {
            stats.recordLatency(rx - ts.value)
        }
    }

    /// seq must grow by one per channel: a jump is a gap (its size counted as missing), a step back
    /// or repeat is a duplicate.
    @inline(__always)
    private func checkContinuity(_ bytes: UnsafeRawBufferPointer, channel: Range<Int>, seq: Int64) {
        let (i, isNew) = record.channelIndex(bytes, channel)
        if isNew {
            // A channel the ack did not list (e.g. matched by a wildcard later): its first frame is the baseline.
            record.lastSeq[i] = seq
            return
        }
        let last = record.lastSeq[i]
        if seq == last &+ 1 {
            record.lastSeq[i] = seq
        } else if seq > last {
            stats.gaps += 1
            stats.missing += UInt64(seq - last - 1)
            record.lastSeq[i] = seq
        } else {
            stats.duplicates += 1
        }
    }

    /// The ack lists each matched channel with its current seq: the next data frame must be seq + 1.
    private func handleAck(_ bytes: UnsafeRawBufferPointer) {
        var from = 0
        while let ch = FrameScan.channel(bytes, from: from) {
            from = ch.upperBound
            guard let seq = FrameScan.integer(bytes, key: FrameScan.seqKey, from: from) else { break }
            let (i, isNew) = record.channelIndex(bytes, ch)
            if isNew { record.lastSeq[i] = seq.value }
            from = seq.end
        }
        if !acked {
            acked = true
            progress.update { $0.acked += 1 }
        }
    }
}
