import Bus
import Cluster
import FanOut
import Feeds
import Foundation
import Hummingbird
import Logging
import MarketCore
import NATS
import Synchronization
import Testing
import _TestSupport

/// One edge node in the test process: its own NATS connection, bus and fan-out server on 127.0.0.1.
struct EdgeNode {
    let bus: MarketBus
    let hub: FanOutHub
    let edge: ClusterEdge
    let client: NATSClient
    let port: Int
    let server: TestHTTPServer
    let tasks: [Task<Void, any Error>]

    static func start(
        nats: String, name: String, history: Bool = false, privateCatchUpLimit: Duration = .seconds(5), logger: Logger
    ) async throws -> EdgeNode {
        var options = MarketBus.Options()
        options.historyPerChannel = 100_000
        let bus = MarketBus(options: options, bootID: "edge-\(name)")
        var natsOptions = NATSOptions()
        natsOptions.name = "edge-\(name)"
        let client = try await NATSClient.connect(to: [nats], options: natsOptions, logger: logger)
        let edge =
            history
            ? try await ClusterEdge(jetStream: JetStream(client: client), privateCatchUpLimit: privateCatchUpLimit, bus: bus, logger: logger)
            : try await ClusterEdge(client: client, bus: bus, logger: logger)
        // Tokens `token-<user>` authenticate as `<user>` (private channels).
        let hub = FanOutHub(
            bus: bus, venues: ["binance"], intervals: ["1m", "5m"],
            authenticate: { t in t.hasPrefix("token-") ? .success(String(t.dropFirst(6))) : .failure(TokenRefusal("bad token")) },
            presence: edge.users, logger: logger)
        let bound = Mutex<Int?>(nil)
        // Hummingbird logs its own cancellation at shutdown as errors: quiet here.
        var serverLogger = logger
        serverLogger.logLevel = .critical
        let app = FanOutServer.makeApplication(
            hub: hub, router: Router(), host: "127.0.0.1", port: 0, logger: serverLogger, onListening: { p in bound.withLock { $0 = p } })
        let server = TestHTTPServer(app, logger: serverLogger)
        let relay = Task { try await edge.run() }
        guard await waitUntil(seconds: 20, { bound.withLock { $0 } != nil }), let port = bound.withLock({ $0 }) else {
            await server.stopAndWait()
            relay.cancel()
            throw TestFailure("edge \(name) did not listen")
        }
        return EdgeNode(bus: bus, hub: hub, edge: edge, client: client, port: port, server: server, tasks: [relay])
    }

    func stop() async {
        await hub.shutdown()
        await server.stopAndWait()
        for t in tasks { t.cancel() }
        await client.close()
    }
}

/// Creates the history streams with three replicas on `cluster` once JetStream's meta group has a
/// leader, and returns the market stream leader's server name.
func ensureReplicatedHistory(_ cluster: NATSTestCluster, logger: Logger) async throws -> String {
    var admin: NATSClient?
    var leader: String?
    let deadline = ContinuousClock.now + .seconds(60)
    while leader == nil, ContinuousClock.now < deadline {
        if admin == nil { admin = try? await NATSClient.connect(to: cluster.urls, logger: logger) }
        if let admin {
            leader = (try? await ClusterHistory.ensure(JetStream(client: admin), .init(maxAge: .seconds(600), maxBytes: 256 << 20, replicas: 3)))?
                .cluster?.leader
        }
        if leader == nil { try await Task.sleep(for: .milliseconds(200)) }
    }
    await admin?.close()
    return try #require(leader, "no R3 stream:\n\(cluster.servers.map { $0.logTail(8) }.joined(separator: "\n---\n"))")
}

/// A frame as a client compares it: the channel, position and the exact JSON text.
struct Seen: Equatable, CustomStringConvertible {
    let ch: String
    let seq: Int
    let epoch: String
    let text: String
    var description: String { "\(ch)#\(seq)@\(epoch)" }
}

/// Reads data frames (skipping acks, errors, pongs) until `count` arrived or `seconds` passed.
func readData(_ ws: RawWebSocket, count: Int, seconds: Double = 30) async -> [Seen] {
    await onThread {
        var out: [Seen] = []
        let deadline = Date().addingTimeInterval(seconds)
        while out.count < count, Date() < deadline {
            guard let f = ws.readFrame(timeout: max(0.1, deadline.timeIntervalSinceNow)) else { break }
            if f.opcode == 0x9 {
                _ = ws.sendFrame(opcode: 0xA, payload: f.payload)
                continue
            }
            guard f.opcode == 0x1, let o = (try? JSONSerialization.jsonObject(with: Data(f.payload))) as? [String: Any],
                let ch = o["ch"] as? String, let seq = (o["seq"] as? NSNumber)?.intValue, let epoch = o["epoch"] as? String
            else { continue }
            out.append(Seen(ch: ch, seq: seq, epoch: epoch, text: String(decoding: f.payload, as: UTF8.self)))
        }
        return out
    }
}

/// Sends a subscribe and returns the ack's `recovered` per channel.
func subscribe(_ ws: RawWebSocket, _ channels: [String], since: [String: (Int, String)] = [:]) async -> [String: Bool]? {
    var request: [String: Any] = ["op": "subscribe", "id": 1, "channels": channels]
    if !since.isEmpty { request["since"] = since.mapValues { ["seq": $0.0, "epoch": $0.1] } }
    let text = String(decoding: try! JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    return await onThread {
        guard ws.send(text) else { return nil }
        while let o = ws.readJSON(timeout: 10) {
            if o["type"] as? String == "ack" {
                var out: [String: Bool] = [:]
                for e in o["channels"] as? [[String: Any]] ?? [] {
                    if let ch = e["ch"] as? String { out[ch] = e["recovered"] as? Bool }
                }
                return out
            }
        }
        return nil
    }
}

/// The first `limit` events of a replayed capture, all types the gateway publishes on market channels.
func capturedEvents(_ file: String, limit: Int = 3000) throws -> [MarketEvent] {
    var options = PipelineOptions()
    options.emit = [.trades, .candles, .candleUpdates, .books, .status]
    var replayer = FeedPipeline(options: options)
    let reader = try CaptureReader(path: Fixtures.path(file))
    var events: [MarketEvent] = []
    while events.count < limit, let r = try reader.next() {
        replayer.process(r) { events.append($0) }
    }
    return events
}

@Suite("Cluster: one ingest, two edges over a real nats-server", .serialized)
struct ClusterRelayTests {
    static let capture = "binance/spot-btcusdt-2024-08-08.jsonl.gz"
    static let patterns = ["trades.binance.*", "book.binance.*", "candles.*.binance.*", "ticker.binance.*", "status.binance"]

    var logger: Logger {
        var l = Logger(label: "cluster-test")
        l.logLevel = .warning
        return l
    }

    /// The ingest node's bus numbers the events; its own sink records what a one-process gateway
    /// would send (the expectation). Each edge's client must receive exactly that, byte for byte.
    @Test(.timeLimit(.minutes(2)))
    func everyEdgeSendsTheSameFramesAsTheIngestBus() async throws {
        let events = try capturedEvents(Self.capture)
        #expect(events.count >= 3000)
        try await withNATSServer { server in
            let ingestClient = try await NATSClient.connect(to: [server.url], logger: logger)
            let ingest = MarketBus(bootID: "ingest-1")
            let truth = Frames()
            ingest.addSink(truth)
            let publisher = ClusterPublisher(client: ingestClient)
            ingest.addSink(publisher)
            let a = try await EdgeNode.start(nats: server.url, name: "a", logger: logger)
            let b = try await EdgeNode.start(nats: server.url, name: "b", logger: logger)
            let wa = try RawWebSocket(port: a.port)
            let wb = try RawWebSocket(port: b.port)
            #expect(await subscribe(wa, Self.patterns) != nil)
            #expect(await subscribe(wb, Self.patterns) != nil)

            for e in events { ingest.publish(e) }
            try await ingestClient.flush()
            let expected = truth.all.filter { ClusterEnvelope.ingestKinds.contains($0.channel.kind) }.map {
                Seen(ch: $0.channel.description, seq: Int($0.seq), epoch: $0.epoch, text: String(decoding: $0.json.readableBytesView, as: UTF8.self))
            }
            #expect(Set(expected.map { $0.ch.split(separator: ".")[0] }).isSuperset(of: ["trades", "book", "candles"]))
            async let gotA = readData(wa, count: expected.count)
            async let gotB = readData(wb, count: expected.count)
            let (ra, rb) = await (gotA, gotB)
            #expect(ra.count == expected.count, "edge a: \(ra.count) of \(expected.count); \(a.edge.stats)")
            #expect(rb.count == expected.count, "edge b: \(rb.count) of \(expected.count); \(b.edge.stats)")
            #expect(ra == expected)
            #expect(rb == expected)
            #expect(publisher.stats == .init(published: expected.count, failed: 0))
            #expect(a.edge.stats.gaps == 0 && a.edge.stats.malformed == 0 && a.edge.stats.dropped == 0)
            wa.close()
            wb.close()
            await a.stop()
            await b.stop()
            await ingestClient.close()
        }
    }

    /// A client reads part of a trades channel on edge A, goes away, and resumes on edge B with
    /// `since` while the feed goes on: it gets every later trade once, in order.
    @Test(.timeLimit(.minutes(2)))
    func aClientResumesOnTheOtherEdgeWithoutGapOrDuplicate() async throws {
        let events = try capturedEvents(Self.capture)
        try await withNATSServer { server in
            let ingestClient = try await NATSClient.connect(to: [server.url], logger: logger)
            let ingest = MarketBus(bootID: "ingest-2")
            let truth = Frames()
            ingest.addSink(truth)
            ingest.addSink(ClusterPublisher(client: ingestClient))
            let a = try await EdgeNode.start(nats: server.url, name: "a", logger: logger)
            let b = try await EdgeNode.start(nats: server.url, name: "b", logger: logger)

            // The busiest trades channel of the capture.
            var counts: [String: Int] = [:]
            for e in events { if case .trade(let t) = e { counts["trades.binance.\(t.instrument.symbol)", default: 0] += 1 } }
            let channel = try #require(counts.max { $0.value < $1.value }).key
            let total = try #require(counts[channel])
            #expect(total >= 300)
            // Three parts by that channel's trades: read live on A, published while the client is
            // away, published after it resumed on B.
            var cut: [Int] = []
            var n = 0
            for (i, e) in events.enumerated() {
                if case .trade(let t) = e, "trades.binance.\(t.instrument.symbol)" == channel {
                    n += 1
                    if n == total / 3 || n == 2 * total / 3 { cut.append(i + 1) }
                }
            }
            let wa = try RawWebSocket(port: a.port)
            #expect(await subscribe(wa, [channel]) != nil)
            for e in events[..<cut[0]] { ingest.publish(e) }
            try await ingestClient.flush()
            let first = await readData(wa, count: total / 3)
            #expect(first.count == total / 3)
            let last = try #require(first.last)
            wa.close()

            for e in events[cut[0]..<cut[1]] { ingest.publish(e) }
            try await ingestClient.flush()
            let wb = try RawWebSocket(port: b.port)
            let ack = try #require(await subscribe(wb, [channel], since: [channel: (last.seq, last.epoch)]))
            for e in events[cut[1]...] { ingest.publish(e) }
            try await ingestClient.flush()

            let expected = truth.all.filter { $0.channel.description == channel && Int($0.seq) > last.seq }.map {
                Seen(ch: channel, seq: Int($0.seq), epoch: $0.epoch, text: String(decoding: $0.json.readableBytesView, as: UTF8.self))
            }
            #expect(expected.count == total - total / 3)
            let rest = await readData(wb, count: expected.count)
            #expect(ack == [channel: true], "\(ack)")
            #expect(rest == expected)
            #expect(first + rest == truth.all.filter { $0.channel.description == channel }.map {
                Seen(ch: channel, seq: Int($0.seq), epoch: $0.epoch, text: String(decoding: $0.json.readableBytesView, as: UTF8.self))
            })
            // Nothing after the last one: no duplicate arrives late.
            #expect(await readData(wb, count: 1, seconds: 0.5).isEmpty)
            wb.close()
            await a.stop()
            await b.stop()
            await ingestClient.close()
        }
    }

    /// An edge started after the ingest node published most of the capture: its history comes
    /// from the JetStream stream, so a client resumes there from a position the edge never saw live.
    @Test(.timeLimit(.minutes(2)))
    func aJustStartedEdgeServesResumesFromTheHistoryStream() async throws {
        let events = try capturedEvents(Self.capture)
        try await withNATSServer(jetStream: true) { server in
            let ingestClient = try await NATSClient.connect(to: [server.url], logger: logger)
            let js = JetStream(client: ingestClient)
            try await ClusterHistory.ensure(js, .init(maxAge: .seconds(600), maxBytes: 256 << 20))
            let ingest = MarketBus(bootID: "ingest-3")
            let truth = Frames()
            ingest.addSink(truth)
            let publisher = ClusterPublisher(client: ingestClient)
            ingest.addSink(publisher)

            let cut = events.count * 2 / 3
            for e in events[..<cut] { ingest.publish(e) }
            try await ingestClient.flush()
            let stored = publisher.stats.published
            #expect(await waitUntil(seconds: 30) {
                ((try? await js.streamInfo(ClusterHistory.streamName))?.state.messages).map { Int($0) == stored } ?? false
            })

            // The busiest trades channel; the client last saw its frame a third of the way in.
            var counts: [String: Int] = [:]
            for f in truth.all where f.channel.kind == .trades { counts[f.channel.description, default: 0] += 1 }
            let channel = try #require(counts.max { $0.value < $1.value }).key
            let frames = truth.all.filter { $0.channel.description == channel }
            let last = frames[frames.count / 3]

            let c = try await EdgeNode.start(nats: server.url, name: "c", history: true, logger: logger)
            await c.edge.waitUntilCaughtUp(limit: .seconds(30))
            #expect(c.edge.caughtUp)
            let ws = try RawWebSocket(port: c.port)
            let ack = try #require(await subscribe(ws, [channel], since: [channel: (Int(last.seq), last.epoch)]))
            #expect(ack == [channel: true], "\(ack)")
            for e in events[cut...] { ingest.publish(e) }
            try await ingestClient.flush()
            let all = truth.all.filter { $0.channel.description == channel }
            let expected = all.filter { $0.seq > last.seq }.map {
                Seen(ch: channel, seq: Int($0.seq), epoch: $0.epoch, text: String(decoding: $0.json.readableBytesView, as: UTF8.self))
            }
            #expect(expected.count > frames.count - frames.count / 3 - 1)
            let got = await readData(ws, count: expected.count)
            #expect(got == expected)
            #expect(await readData(ws, count: 1, seconds: 0.5).isEmpty)
            #expect(c.edge.stats.gaps == 0 && c.edge.stats.malformed == 0)
            ws.close()
            await c.stop()
            await ingestClient.close()
        }
    }

    /// Private channels across edges (with the private history stream): each user's executions
    /// reach that user's socket on whichever edge holds it, never another user's; another user's
    /// channel is refused; a user whose socket on edge A closed resumes their own channel on edge B,
    /// where they never had a socket; each edge deletes a user's consumer when their last socket leaves.
    @Test(.timeLimit(.minutes(2)))
    func privateExecutionsReachOnlyTheirUserOnAnyEdge() async throws {
        try await withNATSServer(jetStream: true) { server in
            let ingestClient = try await NATSClient.connect(to: [server.url], logger: logger)
            let js = JetStream(client: ingestClient)
            try await ClusterHistory.ensure(js, .init(maxAge: .seconds(600), maxBytes: 64 << 20))
            let ingest = MarketBus(bootID: "ingest-4")
            let truth = Frames()
            ingest.addSink(truth)
            let publisher = ClusterPublisher(client: ingestClient, kinds: ClusterEnvelope.ingestKinds.union(ClusterEnvelope.servicesKinds))
            ingest.addSink(publisher)
            let a = try await EdgeNode.start(nats: server.url, name: "a", history: true, logger: logger)
            let b = try await EdgeNode.start(nats: server.url, name: "b", history: true, logger: logger)
            @Sendable func consumers() async -> Int? { (try? await js.streamInfo(ClusterHistory.privateStreamName)).map { $0.state.consumerCount } }

            let alice = try await login(a.port, "alice")
            let bob = try await login(b.port, "bob")
            #expect(await consumers() == 2)
            #expect(await subscribe(alice, ["executions.alice"]) == ["executions.alice": true])
            #expect(await subscribe(bob, ["executions.bob"]) == ["executions.bob": true])
            // Bob asks for Alice's channel on his edge: refused.
            #expect(await refusal(bob, "executions.alice") == "forbidden")

            let aliceChannel = ChannelName(kind: .executions, scope: "alice")
            let bobChannel = ChannelName(kind: .executions, scope: "bob")
            var aliceIDs: [String] = []
            var bobIDs: [String] = []
            func publish(_ n: Int) {
                let user = n % 3 == 0 ? "bob" : "alice"
                if user == "bob" { bobIDs.append("bob-\(n)") } else { aliceIDs.append("alice-\(n)") }
                ingest.publish(channel: user == "bob" ? bobChannel : aliceChannel, type: "execution", data: privateExecution(user, n))
            }
            for n in 1...40 { publish(n) }
            try await ingestClient.flush()
            let aliceCount = aliceIDs.count
            let bobCount = bobIDs.count
            let gotAlice = await readData(alice, count: aliceCount)
            let gotBob = await readData(bob, count: bobCount)
            #expect(gotAlice.map(\.seq) == Array(1...aliceCount) && gotAlice.map(orderID) == aliceIDs)
            #expect(gotBob.map(\.seq) == Array(1...bobCount) && gotBob.map(orderID) == bobIDs && gotBob.allSatisfy { !$0.text.contains("alice") })
            // Nothing else arrives for either; neither edge holds the other user's channel.
            #expect(await readData(alice, count: 1, seconds: 0.5).isEmpty)
            #expect(await readData(bob, count: 1, seconds: 0.5).isEmpty)
            #expect(a.bus.channels(matching: ChannelName(kind: .executions, scope: "*")) == [aliceChannel])
            #expect(b.bus.channels(matching: ChannelName(kind: .executions, scope: "*")) == [bobChannel])

            // Alice's socket on A closes after she read 10: A deletes her consumer.
            let mark = gotAlice[9]
            alice.close()
            #expect(await waitUntil(seconds: 10) { a.edge.users.users.isEmpty })
            #expect(await waitUntil(seconds: 10) { await consumers() == 1 })
            // She resumes on Bob's edge, where she never had a socket.
            let again = try await login(b.port, "alice")
            #expect(await subscribe(again, ["executions.alice"], since: ["executions.alice": (mark.seq, mark.epoch)]) == ["executions.alice": true])
            // What the publishing bus sent on her channel after her mark.
            let expected = truth.all.filter { $0.channel == aliceChannel && Int($0.seq) > mark.seq }.map {
                Seen(ch: "executions.alice", seq: Int($0.seq), epoch: $0.epoch, text: String(decoding: $0.json.readableBytesView, as: UTF8.self))
            }
            #expect(expected.count == aliceCount - 10)
            let rest = await readData(again, count: expected.count)
            #expect(rest == expected)
            #expect(rest.map(orderID) == Array(aliceIDs[10...]))
            #expect(await readData(again, count: 1, seconds: 0.5).isEmpty)
            #expect(await readData(bob, count: 1, seconds: 0.3).isEmpty)
            #expect(b.edge.stats.privateForeign == 0 && a.edge.stats.privateForeign == 0 && b.edge.stats.slowPrivateHistory == 0)
            // Alice's last socket on B leaves: B deletes her consumer, keeps Bob's.
            again.close()
            #expect(await waitUntil(seconds: 10) { b.edge.users.users == ["bob"] })
            #expect(await waitUntil(seconds: 10) { await consumers() == 1 })
            bob.close()
            await a.stop()
            await b.stop()
            await ingestClient.close()
        }
    }

    @Test func privateSubjectsMapBothWays() throws {
        let c = ChannelName(kind: .executions, scope: "alice")
        #expect(ClusterEnvelope.subject(for: c) == "user.alice.executions")
        #expect(ClusterEnvelope.channel(ofSubject: "user.alice.executions") == c)
        #expect(ClusterEnvelope.channel(ofSubject: "user.bob.mood") == ChannelName(kind: .mood, scope: "bob"))
        #expect(ClusterEnvelope.channel(ofSubject: "user.alice.trades") == nil)
        #expect(ClusterEnvelope.channel(ofSubject: "user.*.executions") == nil)
        #expect(ClusterEnvelope.channel(ofSubject: "md.executions.alice") == nil)
        #expect(ClusterEnvelope.channel(ofSubject: "md.trades.binance.BTC-USDT") == ChannelName(kind: .trades, scope: "binance", symbol: "BTC-USDT"))
        #expect(ClusterEnvelope.channel(ofSubject: "md.trades.binance.*") == nil)
    }

    /// Three NATS servers, the history stream with three replicas. The edge knows only one server,
    /// which is SIGKILLed mid-stream (not the stream leader, not the ingest node's): the edge moves
    /// to a survivor, its ordered consumer continues from its last position, and its client gets
    /// every frame once, in order, byte for byte.
    @Test(.timeLimit(.minutes(3)))
    func anEdgeRidesOutTheLossOfItsNATSServer() async throws {
        let events = try capturedEvents(Self.capture)
        let cluster = try NATSTestCluster(size: 3)
        defer { cluster.stop() }
        let leaderName = try await ensureReplicatedHistory(cluster, logger: logger)
        let leaderServer = try #require(cluster.server(named: leaderName))
        let victim = try #require(cluster.servers.first { $0.name != leaderName })

        let ingestClient = try await NATSClient.connect(to: [leaderServer.url], logger: logger)
        let ingest = MarketBus(bootID: "ingest-5")
        let truth = Frames()
        ingest.addSink(truth)
        ingest.addSink(ClusterPublisher(client: ingestClient))
        let edge = try await EdgeNode.start(nats: victim.url, name: "v", history: true, logger: logger)
        #expect(await waitUntil { edge.client.knownServers.count == 3 })
        let ws = try RawWebSocket(port: edge.port)
        #expect(await subscribe(ws, Self.patterns) != nil)

        let half = events.count / 2
        for e in events[..<half] { ingest.publish(e) }
        try await ingestClient.flush()
        let firstCount = truth.all.count
        let first = await readData(ws, count: firstCount)
        #expect(first.count == firstCount)
        victim.kill(SIGKILL)
        for e in events[half...] { ingest.publish(e) }
        try await ingestClient.flush()
        let expected = truth.all.map {
            Seen(ch: $0.channel.description, seq: Int($0.seq), epoch: $0.epoch, text: String(decoding: $0.json.readableBytesView, as: UTF8.self))
        }
        let rest = await readData(ws, count: expected.count - firstCount, seconds: 60)
        #expect(first + rest == expected, "got \(first.count + rest.count) of \(expected.count); edge \(edge.edge.stats)")
        #expect(edge.edge.stats.gaps == 0 && edge.edge.stats.duplicates == 0)
        #expect(edge.client.connectedServer.map { $0.port != victim.clientPort } == true)
        ws.close()
        await edge.stop()
        await ingestClient.close()
    }

    /// Two ingest nodes fed the same events; a KV lease lets one publish. The leader dies (its lease
    /// loop and NATS connection stop): the standby leads within the TTL plus one renewal, and the
    /// edge's client sees exactly one epoch change on its channel, then the new leader's frames.
    @Test(.timeLimit(.minutes(2)))
    func theStandbyIngestTakesOverWithOneNewEpoch() async throws {
        let events = try capturedEvents(Self.capture)
        try await withNATSServer(jetStream: true) { server in
            struct Ingest {
                let bus: MarketBus
                let truth: Frames
                let client: NATSClient
                let leadership: ClusterLeadership
                let publisher: ClusterPublisher
                let lease: Task<Void, any Error>
            }
            func ingest(_ name: String) async throws -> Ingest {
                let client = try await NATSClient.connect(to: [server.url], logger: logger)
                let leadership = ClusterLeadership(jetStream: JetStream(client: client), holder: "\(name)-\(UInt32.random(in: 0...UInt32.max))", ttl: .seconds(2), logger: logger)
                let bus = MarketBus(bootID: name)
                let truth = Frames()
                bus.addSink(truth)
                let publisher = ClusterPublisher(client: client, leadership: leadership)
                bus.addSink(publisher)
                return Ingest(bus: bus, truth: truth, client: client, leadership: leadership, publisher: publisher, lease: Task { try await leadership.run() })
            }
            let a = try await ingest("lead")
            #expect(await waitUntil(seconds: 20) { a.leadership.isLeading })
            let b = try await ingest("standby")
            let edge = try await EdgeNode.start(nats: server.url, name: "e", logger: logger)

            var counts: [String: Int] = [:]
            for e in events { if case .trade(let t) = e { counts["trades.binance.\(t.instrument.symbol)", default: 0] += 1 } }
            let channel = try #require(counts.max { $0.value < $1.value }).key
            let ws = try RawWebSocket(port: edge.port)
            #expect(await subscribe(ws, [channel]) != nil)

            let half = events.count / 2
            for e in events[..<half] {
                a.bus.publish(e)
                b.bus.publish(e)
            }
            try await a.client.flush()
            #expect(!b.leadership.isLeading && b.publisher.stats.published == 0 && b.publisher.stats.standby > 0)
            let fromA = a.truth.all.filter { $0.channel.description == channel }.map {
                Seen(ch: channel, seq: Int($0.seq), epoch: $0.epoch, text: String(decoding: $0.json.readableBytesView, as: UTF8.self))
            }
            let first = await readData(ws, count: fromA.count)
            #expect(first == fromA)

            // The leader dies: its connection goes first (so it cannot hand the lease over), then its lease loop.
            let died = ContinuousClock.now
            await a.client.close()
            a.lease.cancel()
            #expect(await waitUntil(seconds: 20) { b.leadership.isLeading })
            let takeover = ContinuousClock.now - died
            #expect(takeover < .seconds(2) + .seconds(2) / 3 + .seconds(2), "takeover after \(takeover)")
            let mark = b.truth.all.count
            for e in events[half...] { b.bus.publish(e) }
            try await b.client.flush()
            let fromB = b.truth.all[mark...].filter { $0.channel.description == channel }.map {
                Seen(ch: channel, seq: Int($0.seq), epoch: $0.epoch, text: String(decoding: $0.json.readableBytesView, as: UTF8.self))
            }
            #expect(!fromB.isEmpty)
            let second = await readData(ws, count: fromB.count)
            #expect(second == fromB)
            // One epoch change on the channel, from the old leader's to the new one's.
            let epochs = (first + second).map(\.epoch)
            #expect(zip(epochs, epochs.dropFirst()).filter { $0 != $1 }.count == 1 && epochs.first == "lead" && epochs.last == "standby")
            // A client that resumes with the old epoch is told it cannot (and would resync).
            let late = try RawWebSocket(port: edge.port)
            let ack = await subscribe(late, [channel], since: [channel: (first.last!.seq, "lead")])
            #expect(ack == [channel: false])
            print("ingest takeover after \(takeover) (TTL 2 s, renewals every 0.67 s)")
            late.close()
            ws.close()
            b.lease.cancel()
            await edge.stop()
            await b.client.close()
        }
    }
}

