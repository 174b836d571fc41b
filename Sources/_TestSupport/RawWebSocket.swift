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
    /// client that does not read falls behind quickly.
    public init(port: Int, path: String = "/ws", receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
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
        let status = try Self.handshake(fd: fd, path: path, leftover: &pending)
        guard status.contains(" 101 ") else {
            Glibc.close(fd)
            throw Failure(description: "upgrade refused: \(status)")
        }
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
    public static func statusLine(port: Int, path: String = "/ws") throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var leftover: [UInt8] = []
        return try handshake(fd: fd, path: path, leftover: &leftover)
    }

    public func send(_ text: String) { sendFrame(opcode: 0x1, payload: Array(text.utf8)) }

    /// A masked client frame (RFC 6455 5.3).
    public func sendFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true) {
        var f: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            f.append(0x80 | UInt8(payload.count))
        } else if payload.count <= 65535 {
            f.append(0x80 | 126)
            f += [UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            f.append(0x80 | 127)
            f += (0..<8).reversed().map { UInt8((payload.count >> ($0 * 8)) & 0xff) }
        }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        f += mask
        f += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        var sent = 0
        while sent < f.count {
            let n = f[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
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
