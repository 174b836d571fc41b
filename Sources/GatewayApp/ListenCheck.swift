#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Start-up check that the HTTP port can be bound, before feeds, simulator and store start, so a
/// busy port is one clear line and a non-zero exit instead of a half-started gateway.
/// The server binds again for real a moment later (with `SO_REUSEADDR`, as here).
public struct ListenCheckError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

public func checkCanListen(host: String, port: Int) throws(ListenCheckError) {
    guard (0...65_535).contains(port) else {
        throw ListenCheckError(description: "port \(port) is out of range (0...65535)")
    }
    if port == 0 { return }
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    hints.ai_flags = AI_PASSIVE
    var list: UnsafeMutablePointer<addrinfo>?
    let rc = getaddrinfo(host, String(port), &hints, &list)
    guard rc == 0, let first = list else {
        throw ListenCheckError(description: "cannot listen on \(host):\(port): unknown address (\(String(cString: gai_strerror(rc))))")
    }
    defer { freeaddrinfo(list) }
    let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
    guard fd >= 0 else {
        throw ListenCheckError(description: "cannot listen on \(host):\(port): \(String(cString: strerror(errno)))")
    }
    defer { close(fd) }
    var one: Int32 = 1
    _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0, listen(fd, 1) == 0 else {
        let reason = errno == EADDRINUSE ? "the port is already in use" : String(cString: strerror(errno))
        throw ListenCheckError(description: "cannot listen on \(host):\(port): \(reason)")
    }
}
