import ArgumentParser

/// Command-line options. Parsing only; `Runner` does the work.
struct LoadGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Websocket fan-out load generator: N clients subscribe, count and time every data frame.")

    @Option(help: "Server websocket URL (ws:// only).")
    var url: String = "ws://127.0.0.1:8080/ws"

    @Option(help: "Number of websocket connections.")
    var clients: Int = 100

    @Option(help: "Channel to subscribe to (repeatable).")
    var channel: [String] = []

    @Option(name: .customLong("event-loops"), help: "Event loop threads (1 = the generator uses at most one core).")
    var eventLoops: Int = 1

    @Option(help: "Seconds to run after all clients are connected, unless every client got 'end' earlier.")
    var duration: Double = 60

    @Option(name: .customLong("ts-key"), help: "Key in the data frame holding the sender's CLOCK_REALTIME ns.")
    var tsKey: String = "pub_ns"

    @Option(name: .customLong("server-pid"), help: "Sample this process's VmRSS before, after subscribing, and at the end.")
    var serverPid: Int32?

    @Option(name: .customLong("connect-batch"), help: "Connections opened at a time (handshakes in flight).")
    var connectBatch: Int = 128

    @Option(name: .customLong("connect-timeout"), help: "Seconds allowed for one connection's TCP connect and upgrade.")
    var connectTimeout: Double = 10

    @Flag(help: "Also print the results as one JSON object on stdout (the table goes to stderr).")
    var json = false

    mutating func validate() throws {
        if channel.isEmpty { throw ValidationError("give at least one --channel") }
        if clients < 1 { throw ValidationError("--clients must be >= 1") }
        if eventLoops < 1 { throw ValidationError("--event-loops must be >= 1") }
        if connectBatch < 1 { throw ValidationError("--connect-batch must be >= 1") }
        if (try? Target(url: url)) == nil { throw ValidationError("--url must look like ws://host:port/path") }
    }

    func run() throws {
        let report = try Runner(options: self).run()
        report.printTable()
        if json { print(report.json()) }
    }
}

/// The parts of a ws:// URL the client needs.
struct Target: Sendable {
    let host: String
    let port: Int
    let path: String

    struct Invalid: Error {}

    init(url: String) throws {
        guard url.hasPrefix("ws://") else { throw Invalid() }
        let rest = url.dropFirst("ws://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        self.path = path.isEmpty ? "/" : String(path)
        if let colon = authority.lastIndex(of: ":") {
            guard let port = Int(authority[authority.index(after: colon)...]) else { throw Invalid() }
            self.host = String(authority[..<colon])
            self.port = port
        } else {
            self.host = String(authority)
            self.port = 80
        }
        if host.isEmpty { throw Invalid() }
    }
}
