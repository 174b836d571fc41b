import Bus
import MarketCore
import NIOCore

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

    static func authAck(id: RequestID, user: String, expires: UnixNanos?) -> ByteBuffer {
        frame { w in
            w.key("type")
            w.string("ack")
            id.write(into: &w)
            w.key("user")
            w.string(user)
            if let expires {
                w.key("exp")
                w.time(expires, fractionDigits: 3)
            }
        }
    }

    /// `{"type":"session","event":"expiring"|"signed_out","user":…,"exp":…,"reason":…,"channels":[…]}`
    /// (docs/protocol.md "Sessions").
    static func session(event: String, user: String, expires: UnixNanos?, reason: String?, channels: [String]?) -> ByteBuffer {
        frame { w in
            w.key("type")
            w.string("session")
            w.key("event")
            w.string(event)
            w.key("user")
            w.string(user)
            w.key("exp")
            if let expires { w.time(expires, fractionDigits: 3) } else { w.null() }
            if let reason {
                w.key("reason")
                w.string(reason)
            }
            if let channels {
                w.key("channels")
                w.beginArray()
                for c in channels { w.string(c) }
                w.endArray()
            }
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
