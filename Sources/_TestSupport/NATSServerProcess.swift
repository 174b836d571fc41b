import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real `nats-server` process on 127.0.0.1, started by a test with its own config and data
/// directory; `stop()` kills it and deletes the directory.
public final class NATSServerProcess: @unchecked Sendable {
    public struct ClusterSpec: Sendable {
        public var name = "test-cluster"
        public var port: Int
        public var routes: [Int]
        public init(name: String = "test-cluster", port: Int, routes: [Int]) {
            self.name = name
            self.port = port
            self.routes = routes
        }
    }

    public let name: String
    public let clientPort: Int
    public let cluster: ClusterSpec?
    public let jetStream: Bool
    public let directory: String
    /// More `nats-server` config lines (limits such as `write_deadline`, a monitoring `http` port).
    public let extraConfig: [String]
    public private(set) var pid: pid_t = 0

    public var url: String { "nats://127.0.0.1:\(clientPort)" }
    public var logPath: String { "\(directory)/server.log" }

    /// The nats-server binary; tests fail (they never skip) when it is missing.
    public static func binary() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] + path.split(separator: ":").map(String.init)
        for dir in candidates where FileManager.default.isExecutableFile(atPath: "\(dir)/nats-server") { return "\(dir)/nats-server" }
        throw TestFailure(
            "nats-server not found. Install Debian's package: `bash scripts/ensure-apt-packages.sh nats-server` (scripts/test.sh does this)")
    }

    public init(
        name: String = "n1", clientPort: Int? = nil, jetStream: Bool = false, cluster: ClusterSpec? = nil, extraConfig: [String] = []
    ) throws {
        self.name = name
        self.extraConfig = extraConfig
        self.clientPort = try clientPort ?? freePorts(1)[0]
        self.jetStream = jetStream
        self.cluster = cluster
        var template = Array("\(NSTemporaryDirectory())/nats-test-\(name).XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp failed") }
        directory = String(cString: made)
        try config().write(toFile: "\(directory)/server.conf", atomically: true, encoding: .utf8)
    }

    private func config() -> String {
        var lines = ["server_name: \(name)", "listen: 127.0.0.1:\(clientPort)"]
        if jetStream {
            // 4 GiB of file store: the gateway's two history streams reserve 1 GiB each by default
            // (`gateway demo` cannot lower that); a limit, not space taken.
            lines.append("jetstream { store_dir: \"\(directory)/js\", max_memory_store: 268435456, max_file_store: 4294967296 }")
        }
        if let cluster {
            let routes = cluster.routes.map { "nats-route://127.0.0.1:\($0)" }.joined(separator: ", ")
            lines.append("cluster { name: \(cluster.name), listen: 127.0.0.1:\(cluster.port), routes: [\(routes)] }")
        }
        return (lines + extraConfig).joined(separator: "\n") + "\n"
    }

    /// Starts the process and waits until it accepts client connections.
    public func start() throws {
        let binary = try Self.binary()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let arguments = [binary, "-c", "\(directory)/server.conf"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, binary, &actions, nil, &argv, environ)
        guard rc == 0 else { throw TestFailure("posix_spawn nats-server: \(String(cString: strerror(rc)))") }
        pid = child
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                pid = 0
                throw TestFailure("nats-server \(name) exited at start:\n\(logTail())")
            }
            if canConnect(port: clientPort) { return }
            usleep(20_000)
        }
        throw TestFailure("nats-server \(name) did not listen on \(clientPort) within 15 s:\n\(logTail())")
    }

    /// Sends `signal` and, for SIGKILL/SIGTERM, waits for the process to end.
    public func kill(_ signal: Int32 = SIGKILL) {
        guard pid > 0 else { return }
        Glibc.kill(pid, signal)
        if signal == SIGKILL || signal == SIGTERM {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            pid = 0
        }
    }

    /// Kills the process and removes its directory.
    public func stop() {
        kill(SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }

    public func logTail(_ lines: Int = 30) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "(no log)"
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    deinit { if pid > 0 { stop() } }
}

/// Three (or `size`) routed servers with JetStream, each listing the others as routes.
public final class NATSTestCluster: @unchecked Sendable {
    public let servers: [NATSServerProcess]

    public init(size: Int = 3, jetStream: Bool = true) throws {
        let ports = try freePorts(2 * size)
        let clusterPorts = Array(ports[size...])
        servers = try (0..<size).map { i in
            try NATSServerProcess(
                name: "n\(i + 1)", clientPort: ports[i], jetStream: jetStream,
                cluster: .init(port: clusterPorts[i], routes: clusterPorts.enumerated().filter { $0.offset != i }.map(\.element)))
        }
        do {
            for server in servers { try server.start() }
        } catch {
            stop()
            throw error
        }
    }

    public var urls: [String] { servers.map(\.url) }

    public func server(named name: String) -> NATSServerProcess? { servers.first { $0.name == name } }

    public func stop() { for server in servers { server.stop() } }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Ports the kernel hands out for 127.0.0.1:0, all distinct (the sockets stay open until all are chosen).
public func freePorts(_ count: Int) throws -> [Int] {
    var fds: [Int32] = []
    defer { for fd in fds { close(fd) } }
    var ports: [Int] = []
    for _ in 0..<count {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        fds.append(fd)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { throw TestFailure("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        ports.append(Int(UInt16(bigEndian: address.sin_port)))
    }
    return ports
}

public func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// Starts one server for the body and always kills it afterwards.
public func withNATSServer<T>(jetStream: Bool = false, _ body: (NATSServerProcess) async throws -> T) async throws -> T {
    let server = try NATSServerProcess(jetStream: jetStream)
    defer { server.stop() }
    try server.start()
    return try await body(server)
}
