import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/1.1 exchange on a raw socket, for requests no HTTP library sends (a 4 MB header, a
/// body announced but not sent, a slow trickle). Shares no code with the server.
public enum RawHTTP {
    public struct Response: Sendable {
        public let status: Int
        public let headers: [String: String]
        public let body: String
    }

    /// Sends `request` (stopping quietly if the server closes first) and reads one response.
    /// Nil when the server closed or `timeout` passed without a complete response head.
    public static func exchange(port: Int, request: [UInt8], source: String? = nil, timeout: Double = 10) throws -> Response? {
        let fd = try RawWebSocket.connectTCP(port: port, source: source)
        defer { close(fd) }
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, min($0.count, 65536), Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
        return read(fd: fd, timeout: timeout)
    }

    /// Reads one response from `fd`: the head and, with Content-Length, the body.
    public static func read(fd: Int32, timeout: Double) -> Response? {
        let deadline = Date().addingTimeInterval(timeout)
        var data: [UInt8] = []
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let r = data.firstRange(of: end) {
                let head = String(decoding: data[..<r.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
                let parts = head[0].split(separator: " ")
                guard parts.count >= 2, let status = Int(parts[1]) else { return nil }
                var headers: [String: String] = [:]
                for line in head.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                let length = headers["content-length"].flatMap(Int.init) ?? 0
                if data.count - r.upperBound >= length {
                    return Response(
                        status: status, headers: headers,
                        body: String(decoding: data[r.upperBound..<r.upperBound + length], as: UTF8.self))
                }
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, Int32(min(left, 1) * 1000)) >= 0 else { return nil }
            if p.revents == 0 { continue }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return nil }
            data += chunk[0..<n]
        }
    }

    /// `GET path` with `headers`, as bytes.
    public static func get(_ path: String, headers: [(String, String)] = []) -> [UInt8] {
        Array(("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n").utf8)
    }
}
