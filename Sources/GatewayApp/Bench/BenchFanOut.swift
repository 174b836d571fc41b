import Bus
import Cluster
import FanOut
import Foundation
import Hummingbird
public import Logging
import MarketCore
import NATS
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `gateway bench-fanout`: the publisher side of a fan-out load test, on the real bus and server.
///
/// Serves `/ws` on 127.0.0.1, waits until `clients` connections are subscribed to `channel`, waits
/// 0.5 s, publishes `count` synthetic ~150-byte trades at `rate`/s (0 = as fast as it can), each
/// carrying `"pub_ns"` (CLOCK_REALTIME just before publishing), then sends every client
/// `{"type":"end","sent":count}` and exits, printing its memory and CPU figures.
public struct BenchFanOutRun: Sendable {
    public var port: Int
    public var clients: Int
    public var count: Int
    public var rate: Int
    public var channel: String
    /// Server event loops (0 = one per core).
    public var eventLoops: Int
    /// The same test split over NATS (load-tests/FANOUT.md "Across edges"): a publisher process
    /// (the ingest node's bus with a ``ClusterPublisher``; no `/ws`) waits until `edges` edge
    /// processes said `bench.ready`, then publishes; each edge (a ``ClusterEdge`` relaying into its
    /// bus, `/ws` on it) says `bench.ready` once its `clients` are subscribed and ends them once it
    /// has written all `count` frames to each.
    public enum ClusterPart: Sendable, Equatable {
        case publisher(edges: Int)
        case edge
    }
    public var cluster: (nats: [String], part: ClusterPart)?
    /// The publisher part publishes acked into the history stream (`MG_MARKET`, as `gateway serve`
    /// with `history_max_age`) on its own connection; its report adds when the last ack came.
    public var acked = false
    static let readySubject = "bench.ready"

    public init(port: Int, clients: Int, count: Int, rate: Int, channel: String, eventLoops: Int = 0) {
        self.eventLoops = eventLoops
        self.port = port
        self.clients = clients
        self.count = count
        self.rate = rate
        self.channel = channel
    }

    public struct Report: Sendable {
        public var rssBeforeClients = 0
        public var rssSubscribed = 0
        public var publishSeconds = 0.0
        public var publishCPUSeconds = 0.0
        public var deliverySeconds = 0.0
        public var cpuSecondsUntilDelivered = 0.0
        public var framesSent = 0
        public var clients = 0
        /// Acked publisher: seconds from the first publish until every frame was acked, and resends.
        public var ackedSeconds: Double?
        public var resent = 0

        public var json: String {
            let perConnection = rssSubscribed > rssBeforeClients ? (rssSubscribed - rssBeforeClients) / max(1, clients) : 0
            return """
                {"rss_before_clients_bytes":\(rssBeforeClients),"rss_subscribed_bytes":\(rssSubscribed),\
                "rss_per_connection_bytes":\(perConnection),"publish_s":\(fmt(publishSeconds)),\
                "publish_cpu_s":\(fmt(publishCPUSeconds)),"delivery_s":\(fmt(deliverySeconds)),\
                "cpu_s_until_delivered":\(fmt(cpuSecondsUntilDelivered)),"frames_sent":\(framesSent)\
                \(ackedSeconds.map { ",\"acked_s\":\(fmt($0)),\"resent\":\(resent)" } ?? "")}
                """
        }

        func fmt(_ d: Double) -> String { String(format: "%.3f", d) }
    }

    public func run(logger: Logger, say: @escaping @Sendable (String) -> Void) async throws -> Report {
        let target = try ChannelName(parsing: channel)
        guard !target.hasWildcard else { throw BenchError("the bench channel must be concrete: \(channel)") }
        raiseFileLimit()
        let bus = MarketBus()
        var nats: NATSClient?
        if let cluster {
            var o = NATSOptions()
            o.name = "bench-fanout-\(ProcessInfo.processInfo.processIdentifier)"
            o.subscriptionBufferSize = max(262_144, count + 1024)
            nats = try await NATSClient.connect(to: cluster.nats, options: o, logger: logger)
        }
        if case .publisher(let edges) = cluster?.part, let nats {
            defer { Task { await nats.close() } }
            return try await publishToEdges(edges: edges, nats: nats, bus: bus, target: target, say: say)
        }
        var relay: Task<Void, any Error>?
        defer { relay?.cancel() }
        if let nats {
            let edge = try await ClusterEdge(client: nats, bus: bus, logger: logger, bufferSize: max(262_144, count + 1024))
            relay = Task.detached { try await edge.run() }
        }
        var options = FanOutOptions()
        options.maxConnections = max(options.maxConnections, clients + 100)
        // Every client comes from 127.0.0.1 and connects at once: no per-address or handshake limit.
        options.maxConnectionsPerAddress = max(options.maxConnectionsPerAddress, clients + 100)
        options.handshakesPerSecond = 1e9
        // Load tests measure delivery, not protection: a generous lossless queue per client.
        options.maxQueuedFrames = max(options.maxQueuedFrames, count + 10)
        let hub = FanOutHub(
            bus: bus, options: options, venues: Set(GatewayConfiguration.VenueID.allCases.map(\.rawValue)).union([target.scope]),
            intervals: ["1m", "5m"], logger: logger)
        let bound = Mutex<Int?>(nil)
        let app = FanOutServer.makeApplication(
            hub: hub, router: Router(), host: "127.0.0.1", port: port, logger: logger,
            onListening: { p in bound.withLock { $0 = p } }, eventLoops: eventLoops)
        let server = Task { try await app.run() }
        defer { server.cancel() }
        while bound.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        var report = Report()
        report.clients = clients
        report.rssBeforeClients = residentBytes()
        say("bench-fanout: listening on ws://127.0.0.1:\(bound.withLock { $0 } ?? port)/ws; waiting for \(clients) clients on \(channel)")
        while await hub.subscriberCount(target) < clients {
            try await Task.sleep(for: .milliseconds(50))
        }
        report.rssSubscribed = residentBytes()
        say("bench-fanout: \(clients) clients subscribed; publishing \(count) events at \(rate == 0 ? "full speed" : "\(rate)/s")")
        try await Task.sleep(for: .milliseconds(500))

        let sentBefore = hub.stats.framesSent
        let cpu0 = cpuSeconds()
        let start = ContinuousClock.now
        if let nats {
            // An edge: the publisher starts once every edge said so.
            try nats.publish(subject: Self.readySubject, payload: Array("\(clients)".utf8))
            try await nats.flush()
        } else {
            try await publish(on: bus, target: target, start: start)
            report.publishSeconds = (ContinuousClock.now - start).seconds
            report.publishCPUSeconds = cpuSeconds() - cpu0
        }
        // Delivered = written to every client's socket (bounded wait: a stalled client must not hang the run).
        let expected = count * clients
        let pacing: Duration = rate > 0 ? .seconds(count / rate) : .zero
        let deadline = ContinuousClock.now + .seconds(60) + pacing
        while hub.stats.framesSent - sentBefore < expected && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        report.deliverySeconds = (ContinuousClock.now - start).seconds
        report.cpuSecondsUntilDelivered = cpuSeconds() - cpu0
        report.framesSent = hub.stats.framesSent - sentBefore
        await hub.broadcast(#"{"type":"end","sent":\#(count)}"#)
        try await Task.sleep(for: .milliseconds(500))
        await hub.shutdown()
        if let nats { await nats.close() }
        return report
    }

    /// `count` trades on `target`, paced at `rate` from `start` (0: as fast as it can).
    func publish(on bus: MarketBus, target: ChannelName, start: ContinuousClock.Instant) async throws {
        for i in 0..<count {
            if rate > 0 {
                let due = start + .nanoseconds(Int64(i) * 1_000_000_000 / Int64(rate))
                if due > .now + .microseconds(500) { try await Task.sleep(until: due) }
            }
            bus.publish(channel: target, type: "trade", data: Self.tradeData(i, target: target))
        }
    }

    /// The publisher process of a split run: waits for `edges` ready messages, publishes through
    /// NATS, flushes. Its report has the publish figures only (delivery is the edges').
    func publishToEdges(edges: Int, nats: NATSClient, bus: MarketBus, target: ChannelName, say: @escaping @Sendable (String) -> Void) async throws -> Report {
        var own: NATSClient?
        let publisher: ClusterPublisher
        if acked {
            try await ClusterHistory.ensure(
                JetStream(client: nats), ClusterHistory.Limits(maxAge: .seconds(300), maxBytes: 512 << 20))
            var o = NATSOptions()
            o.name = "bench-fanout-publisher-\(ProcessInfo.processInfo.processIdentifier)"
            o.discardBufferOnDisconnect = true
            let c = try await NATSClient.connect(to: cluster?.nats ?? [], options: o, logger: Logger(label: "bench-fanout"))
            own = c
            publisher = try await ClusterPublisher.acked(client: c, logger: Logger(label: "bench-fanout"))
        } else {
            publisher = ClusterPublisher(client: nats)
        }
        defer {
            publisher.stop()
            if let own { Task { await own.close() } }
        }
        bus.addSink(publisher)
        let ready = try await nats.subscribe(subject: Self.readySubject)
        say("bench-fanout: publisher waiting for \(edges) edge(s) on \(Self.readySubject)")
        var heard = 0
        for try await _ in ready {
            heard += 1
            if heard >= edges { break }
        }
        say("bench-fanout: \(edges) edge(s) ready; publishing \(count) events at \(rate == 0 ? "full speed" : "\(rate)/s")")
        try await Task.sleep(for: .milliseconds(500))
        var report = Report()
        let cpu0 = cpuSeconds()
        let start = ContinuousClock.now
        try await publish(on: bus, target: target, start: start)
        try await (own ?? nats).flush()
        report.publishSeconds = (ContinuousClock.now - start).seconds
        if acked {
            // Bounded: a stream that stops acking must not hang the run (the report then says so).
            let deadline = ContinuousClock.now + .seconds(60)
            while publisher.stats.acked < count && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(2))
            }
            report.ackedSeconds = (ContinuousClock.now - start).seconds
            report.resent = publisher.stats.resent
            if publisher.stats.acked < count { say("bench-fanout: only \(publisher.stats.acked) of \(count) acked after 60 s") }
        }
        report.publishCPUSeconds = cpuSeconds() - cpu0
        report.framesSent = publisher.stats.published
        return report
    }

    /// `{"venue":…,"symbol":…,"ts":…,"id":…,"price":…,"qty":…,"side":…,"pub_ns":…}`, ~150 bytes.
    static func tradeData(_ i: Int, target: ChannelName) -> [UInt8] {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        let ns = Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
        var w = JSONWriter(capacity: 192)
        w.beginObject()
        w.key("venue")
        w.string(target.scope)
        w.key("symbol")
        w.string(target.symbol ?? "")
        w.key("ts")
        w.time(UnixNanos(ns), fractionDigits: 3)
        w.key("id")
        w.string(String(i + 1))
        w.key("price")
        w.string("\(60_000 + i % 9000).\(10 + i % 90)")
        w.key("qty")
        w.string("0.0\(1 + i % 9)")
        w.key("side")
        w.string(i % 2 == 0 ? "buy" : "sell")
        w.key("pub_ns")
        w.int(ns)
        w.endObject()
        return w.bytes
    }

    func raiseFileLimit() {
        var l = rlimit()
        if getrlimit(RLIMIT_NOFILE_ID, &l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max
            _ = setrlimit(RLIMIT_NOFILE_ID, &l)
        }
    }
}

#if canImport(Glibc)
let RLIMIT_NOFILE_ID = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
#endif

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// VmRSS of this process, in bytes.
func residentBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kb * 1024
    }
    return 0
}

/// User + system CPU time of this process.
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}

extension Duration {
    var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }
}
