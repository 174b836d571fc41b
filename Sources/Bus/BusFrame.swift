public import MarketCore
public import NIOCore

/// What an event on the bus carries besides its encoded frame.
public enum BusPayload: Sendable, Hashable {
    /// A normalized market event (trades, candles, books, tickers, statuses).
    case market(MarketEvent)
    /// What a service published (executions, circuit breaker, mood updates, signals).
    case service(ServiceEvent)
    /// Only the encoded frame: relayed from another node (a cluster edge keeps the publisher's
    /// bytes and decodes nothing, since its only consumer is the fan-out), or published with
    /// ready-made `data` (benchmarks, tests).
    case raw
}

/// Which queued frames a slow websocket client may replace by a newer one: the channel for books and
/// tickers, the channel and bucket for candles (a closed candle is never replaced by the next one).
public struct ConflationKey: Sendable, Hashable {
    public let channelID: Int
    public let bucket: Int64
}

/// One event on one channel, numbered and encoded once.
///
/// `wire` is the complete websocket text frame (header + JSON): the fan-out writes these same bytes
/// to every subscriber, so an event is serialized once however many clients receive it.
public struct BusFrame: Sendable {
    public let channelID: Int
    public let channel: ChannelName
    public let seq: UInt64
    public let epoch: String
    /// `trade`, `candle`, `book_snapshot`, `ticker`, `status`, ...
    public let type: String
    public let payload: BusPayload
    public let wire: ByteBuffer
    /// Nil for frames that must never be dropped (trades, statuses, private channels).
    public let conflationKey: ConflationKey?
    /// The event becomes the channel's state sent first on subscribe (a valid book, a candle).
    public let setsSnapshot: Bool

    /// The JSON text of the frame (without the websocket header).
    public var json: ByteBuffer { WebSocketWire.payload(of: wire) }
}

/// The server side of RFC 6455 framing for frames the gateway writes itself (unmasked).
public enum WebSocketWire {
    public static let textOpcode: UInt8 = 0x1
    public static let closeOpcode: UInt8 = 0x8
    public static let pingOpcode: UInt8 = 0x9
    public static let pongOpcode: UInt8 = 0xA

    /// A final (unfragmented) frame with `payloadLength` bytes to follow: the header bytes.
    public static func writeHeader(opcode: UInt8, payloadLength: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(0x80 | opcode, as: UInt8.self)
        if payloadLength < 126 {
            buffer.writeInteger(UInt8(payloadLength))
        } else if payloadLength <= Int(UInt16.max) {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(payloadLength))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(payloadLength))
        }
    }

    public static func headerLength(payloadLength: Int) -> Int {
        payloadLength < 126 ? 2 : payloadLength <= Int(UInt16.max) ? 4 : 10
    }

    /// A complete frame holding `payload`.
    public static func frame(opcode: UInt8 = textOpcode, payload: some Collection<UInt8>) -> ByteBuffer {
        var b = ByteBuffer()
        b.reserveCapacity(headerLength(payloadLength: payload.count) + payload.count)
        writeHeader(opcode: opcode, payloadLength: payload.count, into: &b)
        b.writeBytes(payload)
        return b
    }

    /// A close frame with a status code and a reason (truncated to fit a control frame).
    public static func close(code: UInt16, reason: String) -> ByteBuffer {
        var payload = ByteBuffer()
        payload.writeInteger(code)
        payload.writeBytes(reason.utf8.prefix(120))
        return frame(opcode: closeOpcode, payload: payload.readableBytesView)
    }

    /// The payload of a frame built by this type.
    public static func payload(of wire: ByteBuffer) -> ByteBuffer {
        guard let second = wire.getInteger(at: wire.readerIndex + 1, as: UInt8.self) else { return ByteBuffer() }
        let header = second < 126 ? 2 : second == 126 ? 4 : 10
        return wire.getSlice(at: wire.readerIndex + header, length: wire.readableBytes - header) ?? ByteBuffer()
    }

    /// The frame with `"conflated":true` added as its first field, for a client that skipped
    /// frames of this channel (CONTRACTS.md: the frame says so and its `seq` jumps).
    public static func markedConflated(_ wire: ByteBuffer) -> ByteBuffer {
        let json = payload(of: wire)
        let marker = Array(#"{"conflated":true,"#.utf8)
        let length = marker.count + json.readableBytes - 1
        var b = ByteBuffer()
        b.reserveCapacity(headerLength(payloadLength: length) + length)
        writeHeader(opcode: textOpcode, payloadLength: length, into: &b)
        b.writeBytes(marker)
        b.writeBytes(json.readableBytesView.dropFirst())
        return b
    }
}

/// Writes `{"ch":…,"seq":…,"epoch":…,"type":…,"data":…}` as a websocket text frame.
enum FrameEncoder {
    static func encode(channel: String, seq: UInt64, epoch: String, type: String, data: [UInt8]) -> ByteBuffer {
        var w = JSONWriter(capacity: data.count + channel.utf8.count + 64)
        w.beginObject()
        w.key("ch")
        w.string(channel)
        w.key("seq")
        w.int(Int64(seq))
        w.key("epoch")
        w.string(epoch)
        w.key("type")
        w.string(type)
        w.key("data")
        w.raw(json: data)
        w.endObject()
        return WebSocketWire.frame(payload: w.bytes)
    }
}

/// Who is connected, per user, for a node that fetches each user's private events only while the
/// user has a socket there (a cluster edge subscribes `user.<id>.>`). The fan-out calls it from
/// any thread, in order per socket: ``acquire(_:)`` when a socket becomes `user`, ``release(_:)`` when it stops being
/// them (it leaves, signs out, its token expires or is revoked, it authenticates as someone
/// else); calls for one user balance. ``ready(_:)`` returns once `user`'s events are subscribed, so
/// the auth ack goes out only when nothing for the user can be missed.
public protocol UserPresence: Sendable {
    func acquire(_ user: String)
    func ready(_ user: String) async
    func release(_ user: String)
}
