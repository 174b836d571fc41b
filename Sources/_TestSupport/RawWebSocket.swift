import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A minimal blocking websocket client on a POSIX socket, written for the tests only (it shares no
/// code with the server): it can stop reading, which a real slow client does, and it sees exactly
/// the bytes on the wire.
public final class RawWebSocket: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible { public let description: String }

    public let fd: Int32
    private var pending: [UInt8] = []

    /// Connects and performs the upgrade. `receiveBuffer` shrinks the kernel's receive buffer so a
    /// client that does not read falls behind quickly; `source` is the local address to connect
    /// from (any 127.x.y.z works on Linux loopback), so tests can be several "clients".
    public init(port: Int, path: String = "/ws", receiveBuffer: Int32? = nil, source: String? = nil) throws {
        fd = try Self.connectTCP(port: port, receiveBuffer: receiveBuffer, source: source)
        let status = try Self.handshake(fd: fd, path: path, leftover: &pending)
        guard status.contains(" 101 ") else {
            Glibc.close(fd)
            throw Failure(description: "upgrade refused: \(status)")
        }
    }

    /// A connected TCP socket to 127.0.0.1:`port`, from `source` when given.
    public static func connectTCP(port: Int, receiveBuffer: Int32? = nil, source: String? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let rc = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else {
                Glibc.close(fd)
                throw Failure(description: "bind \(source) failed")
            }
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            Glibc.close(fd)
            throw Failure(description: "connect failed")
        }
        return fd
    }

    /// Sends an upgrade request and returns the response's status line.
    static func handshake(fd: Int32, path: String, leftover: inout [UInt8]) throws -> String {
        let request =
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        _ = request.withCString { Glibc.send(fd, $0, strlen($0), 0) }
        var response: [UInt8] = []
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while true {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { throw Failure(description: "connection closed during the handshake") }
            response += chunk[0..<n]
            if let r = response.firstRange(of: end) {
                leftover = Array(response[r.upperBound...])
                return String(decoding: response[..<r.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")[0]
            }
        }
    }

    /// The status line an upgrade request on `path` gets (for refusals).
    public static func statusLine(port: Int, path: String = "/ws", source: String? = nil) throws -> String {
        let fd = try connectTCP(port: port, source: source)
        defer { Glibc.close(fd) }
        var leftover: [UInt8] = []
        return try handshake(fd: fd, path: path, leftover: &leftover)
    }

    /// Sends a text frame; false when the connection is gone.
    @discardableResult
    public func send(_ text: String) -> Bool { sendFrame(opcode: 0x1, payload: Array(text.utf8)) }

    /// A client frame (RFC 6455 5.3), masked unless `masked` is false; `rsv` sets the RSV1–3 bits
    /// (0x70). False when the connection is gone.
    @discardableResult
    public func sendFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true, masked: Bool = true, rsv: UInt8 = 0) -> Bool {
        var f: [UInt8] = [(fin ? 0x80 : 0) | (rsv & 0x70) | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        if payload.count < 126 {
            f.append(maskBit | UInt8(payload.count))
        } else if payload.count <= 65535 {
            f.append(maskBit | 126)
            f += [UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            f.append(maskBit | 127)
            f += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xff) }
        }
        if masked {
            let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
            f += mask
            f += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        } else {
            f += payload
        }
        var sent = 0
        while sent < f.count {
            let n = f[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// The next frame, or nil on timeout or end of stream.
    public func readFrame(timeout: Double = 10) -> (opcode: UInt8, payload: [UInt8])? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let f = parse() { return f }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(min(left, 1) * 1000)) >= 0 else { return nil }
            if p.revents == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return nil }
            pending += chunk[0..<n]
        }
    }

    private func parse() -> (opcode: UInt8, payload: [UInt8])? {
        guard pending.count >= 2 else { return nil }
        let opcode = pending[0] & 0x0f
        var length = Int(pending[1] & 0x7f)
        var offset = 2
        if length == 126 {
            guard pending.count >= 4 else { return nil }
            length = Int(pending[2]) << 8 | Int(pending[3])
            offset = 4
        } else if length == 127 {
            guard pending.count >= 10 else { return nil }
            length = pending[2..<10].reduce(0) { $0 << 8 | Int($1) }
            offset = 10
        }
        guard pending.count >= offset + length else { return nil }
        let payload = Array(pending[offset..<offset + length])
        pending.removeFirst(offset + length)
        return (opcode, payload)
    }

    /// Sends `{"op":"ping","id":id}` and waits for its pong, skipping (and answering) anything
    /// else; returns the round trip in seconds, nil when no pong came within `timeout`.
    public func pingRoundTrip(id: Int, timeout: Double = 10) -> Double? {
        let start = Date()
        send(#"{"op":"ping","id":\#(id)}"#)
        while true {
            let left = timeout - Date().timeIntervalSince(start)
            guard left > 0, let m = readJSON(timeout: left) else { return nil }
            if m["type"] as? String == "pong", (m["id"] as? NSNumber)?.intValue == id { return Date().timeIntervalSince(start) }
            if m["_close"] != nil { return nil }
        }
    }

    /// Reads until a close frame; returns its code, nil on timeout or end of stream without one.
    public func readCloseCode(timeout: Double = 10) -> Int? {
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0, let f = readFrame(timeout: deadline.timeIntervalSinceNow) {
            if f.opcode == 0x8 { return f.payload.count >= 2 ? Int(f.payload[0]) << 8 | Int(f.payload[1]) : 1005 }
        }
        return nil
    }

    /// Whether the server has closed the connection (end of stream or reset), reading and
    /// discarding anything still in flight; waits at most `timeout`.
    public func isClosedByPeer(timeout: Double) -> Bool {
        RawWebSocket.waitForClose(fd: fd, timeout: timeout)
    }

    /// Reads and discards until end of stream (true) or `timeout` (false).
    public static func waitForClose(fd: Int32, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(min(left, 1) * 1000)) >= 0 else { return true }
            if p.revents == 0 { continue }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return true }
        }
    }

    /// The next text frame as a JSON object, answering pings on the way.
    public func readJSON(timeout: Double = 10) -> [String: Any]? {
        while let f = readFrame(timeout: timeout) {
            switch f.opcode {
            case 0x1:
                return (try? JSONSerialization.jsonObject(with: Data(f.payload))) as? [String: Any]
            case 0x9:
                sendFrame(opcode: 0xA, payload: f.payload)
            case 0x8:
                return ["_close": f.payload.count >= 2 ? Int(f.payload[0]) << 8 | Int(f.payload[1]) : 1005]
            default:
                continue
            }
        }
        return nil
    }

    private var closed = false
    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }
    deinit { close() }
}
