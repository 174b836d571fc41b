import Bus
import MarketCore
import NIOCore

/// A request id as the client sent it (a number or a string), echoed in acks and errors.
enum RequestID: Sendable, Equatable {
    case none
    case number(Int64)
    case text(String)

    func write(into w: inout JSONWriter) {
        w.key("id")
        switch self {
        case .none: w.null()
        case .number(let n): w.int(n)
        case .text(let s): w.string(s)
        }
    }
}

/// Stable error codes (CONTRACTS.md "Websocket protocol").
enum ErrorCode: String, Sendable {
    case badJSON = "bad_json"
    case unknownOp = "unknown_op"
    case badChannel = "bad_channel"
    case tooManySubscriptions = "too_many_subscriptions"
    case rateLimited = "rate_limited"
    case frameTooLarge = "frame_too_large"
    case unauthorized
    case forbidden
    case historyUnavailable = "history_unavailable"
}

/// Frames the server writes to one client: acks, errors, pongs.
enum ServerReply {
    struct AckEntry {
        var channel: String
        var position: (seq: UInt64, epoch: String, recovered: Bool)?
    }

    static func ack(id: RequestID, channels: [AckEntry]) -> ByteBuffer {
        frame { w in
            w.key("type")
            w.string("ack")
            id.write(into: &w)
            w.key("channels")
            w.beginArray()
            for c in channels {
                w.beginObject()
                w.key("ch")
                w.string(c.channel)
                if let p = c.position {
                    w.key("seq")
                    w.int(Int64(p.seq))
                    w.key("epoch")
                    w.string(p.epoch)
                    w.key("recovered")
                    w.bool(p.recovered)
                }
                w.endObject()
            }
            w.endArray()
        }
    }

    static func authAck(id: RequestID, user: String) -> ByteBuffer {
        frame { w in
            w.key("type")
            w.string("ack")
            id.write(into: &w)
            w.key("user")
            w.string(user)
        }
    }

    static func error(id: RequestID, code: ErrorCode, message: String) -> ByteBuffer {
        frame { w in
            w.key("type")
            w.string("error")
            id.write(into: &w)
            w.key("code")
            w.string(code.rawValue)
            w.key("message")
            w.string(message)
        }
    }

    static func pong(id: RequestID) -> ByteBuffer {
        frame { w in
            w.key("type")
            w.string("pong")
            id.write(into: &w)
        }
    }

    static func frame(_ body: (inout JSONWriter) -> Void) -> ByteBuffer {
        var w = JSONWriter()
        w.beginObject()
        body(&w)
        w.endObject()
        return WebSocketWire.frame(payload: w.bytes)
    }
}
