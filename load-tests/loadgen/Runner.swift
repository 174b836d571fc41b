#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// Opens the connections in batches, waits for the run to end, and collects the figures.
struct Runner {
    let options: LoadGen
    let target: Target
    let progress = Progress()
    let tsKey: Pattern

    init(options: LoadGen) throws {
        self.options = options
        self.target = try Target(url: options.url)
        self.tsKey = Pattern("\"\(options.tsKey)\":")
    }

    func run() throws -> Report {
        let fdLimit = System.raiseFileLimit()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: options.eventLoops)
        defer { try? group.syncShutdownGracefully() }
        let loops = Array(group.makeIterator())
        let stats = try loops.map { loop in
            try loop.submit { NIOLoopBound(LoopStats(), eventLoop: loop) }.wait()
        }
        var rss = RSSSampler(pid: options.serverPid)
        rss.before = rss.sample()

        let t0 = System.monotonic()
        let subscribe = subscribeMessage()
        var next = 0
        while next < options.clients {
            // A batch at a time: thousands of simultaneous handshakes would overflow the server's
            // accept backlog and time out.
            let batch = (next..<min(next + options.connectBatch, options.clients)).map { i in
                connect(loop: loops[i % loops.count], stats: stats[i % loops.count], subscribe: subscribe)
            }
            _ = try EventLoopFuture.whenAllComplete(batch, on: loops[0]).wait()
            next += batch.count
            rss.samplePeak()
        }
        let tConnected = System.monotonic()

        // Subscribed: every connection acked, failed or closed (bounded by the connect timeout).
        let subscribeDeadline = tConnected + options.connectTimeout
        waitUntil(deadline: subscribeDeadline, rss: &rss) { c in
            c.acked + c.failed >= options.clients || finished(c) != nil
        }
        let tSubscribed = System.monotonic()
        rss.subscribed = rss.sample()
        let cpuSubscribed = System.cpuSeconds()

        // Run: until every client got `end`, every connection closed, or --duration.
        let deadline = tSubscribed + options.duration
        waitUntil(deadline: deadline, rss: &rss) { finished($0) != nil }
        let tEnd = System.monotonic()
        rss.end = rss.sample()
        let cpuEnd = System.cpuSeconds()
        let counts = progress.counts

        var snapshot: Snapshot?
        for (loop, bound) in zip(loops, stats) {
            let s = try loop.submit { bound.value.snapshot() }.wait()
            if snapshot == nil { snapshot = s } else { snapshot!.merge(s) }
        }
        return Report(
            options: options, counts: counts, stats: snapshot!, endedBy: finished(counts) ?? "duration",
            connectSeconds: tConnected - t0, wallSeconds: tEnd - t0, runSeconds: tEnd - tSubscribed,
            cpuSubscribed: cpuSubscribed, cpuEnd: cpuEnd, rss: rss, fdLimit: fdLimit)
    }

    /// Why the run is over, or nil while it is not.
    private func finished(_ c: Progress.Counts) -> String? {
        if c.upgraded + c.failed < options.clients { return nil }
        if c.ended + c.failed >= options.clients { return "all_ended" }
        if c.closed + c.failed >= options.clients { return "all_closed" }
        return nil
    }

    /// Polls the shared counters; the event loops never wait for the main thread.
    private func waitUntil(deadline: Double, rss: inout RSSSampler, _ done: (Progress.Counts) -> Bool) {
        var lastRSS = 0.0
        while !done(progress.counts) {
            let now = System.monotonic()
            if now >= deadline { return }
            if now - lastRSS >= 0.1 {
                rss.samplePeak()
                lastRSS = now
            }
            usleep(5_000)
        }
    }

    private func subscribeMessage() -> String {
        let channels = options.channel.map { "\"\(jsonEscaped($0))\"" }.joined(separator: ",")
        return #"{"op":"subscribe","id":1,"channels":["# + channels + "]}"
    }

    /// Opens one connection; the future completes when the websocket upgrade finished (or failed).
    private func connect(loop: any EventLoop, stats: NIOLoopBound<LoopStats>, subscribe: String) -> EventLoopFuture<Void> {
        let upgraded = loop.makePromise(of: Void.self)
        let (target, progress) = (self.target, self.progress)
        let tsKey = self.tsKey
        let timeout = TimeAmount.nanoseconds(Int64(options.connectTimeout * 1e9))

        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let record = ConnRecord()
                    stats.value.conns.append(record)
                    // First in the pipeline, so it stays in front of the websocket decoder after the upgrade.
                    try channel.pipeline.syncOperations.addHandler(ReadStamper(record: record))
                    let boundRecord = NIOLoopBound(record, eventLoop: channel.eventLoop)
                    // No WebSocketProtocolErrorHandler: one pipeline hop less per frame; ClientHandler
                    // closes on a protocol error itself.
                    let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: 1 << 20, automaticErrorHandling: false) { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            let handler = ClientHandler(
                                record: boundRecord.value, stats: stats.value, progress: progress,
                                subscribe: subscribe, tsKey: tsKey)
                            try channel.pipeline.syncOperations.addHandler(handler)
                            upgraded.succeed()
                        }
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(
                        leftOverBytesStrategy: .forwardBytes,
                        withClientUpgrade: (upgraders: [upgrader], completionHandler: { context in
                            _ = context.pipeline.syncOperations.removeHandler(name: UpgradeRequestHandler.name)
                        }))
                    try channel.pipeline.syncOperations.addHandler(
                        UpgradeRequestHandler(target: target, upgraded: upgraded), name: UpgradeRequestHandler.name)
                    // Bound the whole handshake, not only the TCP connect.
                    let watchdog = channel.eventLoop.scheduleTask(in: timeout) {
                        upgraded.fail(HandshakeError("handshake timeout"))
                        channel.close(promise: nil)
                    }
                    upgraded.futureResult.whenComplete { _ in watchdog.cancel() }
                }
            }
        bootstrap.connect(host: target.host, port: target.port).whenFailure { upgraded.fail($0) }
        upgraded.futureResult.whenComplete { result in
            switch result {
            case .success: progress.update { $0.upgraded += 1 }
            case .failure(let error): progress.fail("\(error)")
            }
        }
        return upgraded.futureResult
    }
}

/// Server RSS samples (bytes) from /proc/PID/status.
struct RSSSampler {
    let pid: Int32?
    var before: Int?
    var subscribed: Int?
    var end: Int?
    var peak: Int?

    init(pid: Int32?) { self.pid = pid }

    mutating func sample() -> Int? {
        guard let pid, let v = System.residentBytes(pid: pid) else { return nil }
        peak = max(peak ?? 0, v)
        return v
    }

    mutating func samplePeak() { _ = sample() }
}
