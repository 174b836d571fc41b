#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A loopback TCP proxy that a test owns: forwards both ways between its clients and `upstream`,
/// and can black-hole them (`blackHole()`): both sockets stay open but nothing is read or written,
/// so the client's process stays alive and its TCP connection just stalls (its writes pile up in
/// the kernel, then in its own buffers), as behind a dead link. `heal()` forwards again. A
/// connection whose client reset it meanwhile (RST) is dropped on heal with what it had written:
/// on a real link those bytes would still be in the sender's kernel, discarded by the reset.
/// New connections made while black-holed are held the same way.
public final class TCPProxy: @unchecked Sendable {
    public let port: Int
    let upstream: Int
    private let listener: Int32
    private let holed = Atomic<Bool>(false)
    private let closed = Atomic<Bool>(false)
    private let counters = Mutex(Counters())

    public struct Counters: Sendable {
        /// Connections accepted, and those dropped on heal because their client had reset them.
        public var connections = 0
        public var resetWhileHoled = 0
        /// Bytes forwarded client → upstream and back, and client bytes dropped with a reset connection.
        public var up = 0
        public var down = 0
        public var droppedOnHeal = 0
    }

    public init(upstream: Int) throws {
        self.upstream = upstream
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw TestFailure("bind/listen: \(errno)")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        listener = fd
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    public var url: String { "nats://127.0.0.1:\(port)" }
    public var stats: Counters { counters.withLock { $0 } }
    public var isBlackHoled: Bool { holed.load(ordering: .relaxed) }

    /// Stops forwarding (both ways, every connection); sockets stay open.
    public func blackHole() { holed.store(true, ordering: .relaxed) }
    /// Forwards again.
    public func heal() { holed.store(false, ordering: .relaxed) }

    /// Closes the listener and every connection.
    public func stop() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { stop() }

    static func loopback(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    private func acceptLoop() {
        while !closed.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let up = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = Self.loopback(port: upstream)
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(up, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            if ok != 0 {
                close(client)
                close(up)
                continue
            }
            counters.withLock { $0.connections += 1 }
            Thread.detachNewThread { [self] in pump(client: client, upstream: up) }
        }
    }

    /// Linux `tcp_info.tcpi_state` (its first byte): 7 = TCP_CLOSE, what a socket is in after a reset.
    static func tcpState(_ fd: Int32) -> UInt8 {
        var info = [UInt8](repeating: 0, count: 256)
        var len = socklen_t(info.count)
        guard getsockopt(fd, Int32(IPPROTO_TCP), 11 /* TCP_INFO */, &info, &len) == 0 else { return 0 }
        return info[0]
    }

    static func pendingBytes(_ fd: Int32) -> Int {
        var n: Int32 = 0
        _ = ioctl(fd, UInt(FIONREAD), &n)
        return Int(n)
    }

    private func pump(client: Int32, upstream up: Int32) {
        var fds = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: up, events: Int16(POLLIN), revents: 0)]
        var open = [true, true]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var wasHoled = false
        defer {
            close(client)
            close(up)
        }
        while !closed.load(ordering: .relaxed) {
            if holed.load(ordering: .relaxed) {
                wasHoled = true
                usleep(20_000)
                continue
            }
            if wasHoled {
                wasHoled = false
                if Self.tcpState(client) == 7 {
                    let dropped = Self.pendingBytes(client)
                    counters.withLock {
                        $0.resetWhileHoled += 1
                        $0.droppedOnHeal += dropped
                    }
                    // The deferred close resets the upstream side too (nats-server sees the client gone).
                    var l = linger(l_onoff: 1, l_linger: 0)
                    setsockopt(up, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
                    return
                }
            }
            for i in 0..<2 { fds[i].events = open[i] ? Int16(POLLIN) : 0 }
            let ready = poll(&fds, 2, 50)
            if ready <= 0 { continue }
            for i in 0..<2 where open[i] && fds[i].revents != 0 {
                let from = fds[i].fd
                let to = fds[1 - i].fd
                let n = recv(from, &buffer, buffer.count, 0)
                if n <= 0 {
                    if n < 0, errno == EINTR || errno == EAGAIN { continue }
                    // EOF or reset: pass the end on and stop.
                    if n < 0 { return }
                    open[i] = false
                    shutdown(to, Int32(SHUT_WR))
                    continue
                }
                var sent = 0
                while sent < n {
                    let w = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                    if w <= 0 {
                        if w < 0, errno == EINTR { continue }
                        return
                    }
                    sent += w
                }
                counters.withLock { if i == 0 { $0.up += n } else { $0.down += n } }
            }
            if !open[0] && !open[1] { return }
        }
    }
}
