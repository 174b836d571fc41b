import Bus
import Cluster
import Foundation
import Logging
import MarketCore
import NATS
import NIOCore
import Synchronization
import Testing
import _TestSupport

/// Acked ingest publishes (docs/nats.md "Acked ingest publishes") against a real 3-server NATS
/// cluster with the history streams at three replicas: a server dies mid-stream, and the stream,
/// a history edge and a live edge on another server still hold every frame exactly once, in order.
@Suite(.serialized)
struct ClusterAckedPublishTests {
    var logger: Logger {
        var l = Logger(label: "cluster-acked-test")
        l.logLevel = .warning
        return l
    }

    enum Victim { case ingestServer, streamLeader }

    /// What one run saw, each as `channel|epoch|seq|json` lines in arrival order.
    struct Outcome {
        var expected: [String] = []
        var historyEdge: [String] = []
        var liveEdge: [String] = []
        var stream: [String] = []
        var storedMessages: UInt64 = 0
        var streamReaderRestarts: UInt64 = 0
        var historyStats: ClusterEdge.Stats?
        var liveStats: ClusterEdge.Stats?
        var publisher = ClusterPublisher.Stats()
    }

    static func line(_ f: BusFrame) -> String { "\(f.channel)|\(f.epoch)|\(f.seq)|\(String(decoding: f.json.readableBytesView, as: UTF8.self))" }

    /// The ingest node knows one server (not the stream leader); both edges another. `victim` is
    /// SIGKILLed a third of the way through publishing the capture's events.
    func killMidStream(_ victim: Victim, acked: Bool = true) async throws -> Outcome {
        let events = try capturedEvents(ClusterRelayTests.capture)
        let cluster = try NATSTestCluster(size: 3)
        defer { cluster.stop() }
        let leaderName = try await ensureReplicatedHistory(cluster, logger: logger)
        let followers = cluster.servers.filter { $0.name != leaderName }
        let ingestServer = followers[0]
        let edgeServer = followers[1]
        let doomed = victim == .ingestServer ? ingestServer : try #require(cluster.server(named: leaderName))

        var options = NATSOptions()
        options.discardBufferOnDisconnect = acked
        let ingestClient = try await NATSClient.connect(to: [ingestServer.url], options: options, logger: logger)
        #expect(await waitUntil { ingestClient.knownServers.count == 3 })
        let ingest = MarketBus(bootID: "ingest-acked")
        let truth = Frames()
        ingest.addSink(truth)
        let publisher =
            acked
            ? try await ClusterPublisher.acked(
                client: ingestClient, window: ClusterPublishWindow(capacity: 65_536, ackTimeout: .seconds(1)), logger: logger)
            : ClusterPublisher(client: ingestClient)
        defer { publisher.stop() }
        ingest.addSink(publisher)
        let history = try await EdgeNode.start(nats: edgeServer.url, name: "history", history: true, logger: logger)
        let live = try await EdgeNode.start(nats: edgeServer.url, name: "live", logger: logger)
        let viaHistory = Frames()
        history.bus.addSink(viaHistory)
        let viaLive = Frames()
        live.bus.addSink(viaLive)

        let cut = events.count / 3
        for (i, e) in events.enumerated() {
            if i == cut { doomed.kill(SIGKILL) }
            ingest.publish(e)
        }
        let expectedCount = truth.all.count
        let killedAt = ContinuousClock.now
        _ = await waitUntil(seconds: 45) { publisher.stats.unacked == 0 }
        let ackedAfter = ContinuousClock.now - killedAt
        _ = await waitUntil(seconds: 45) { viaHistory.all.count >= expectedCount }
        print("acked-publish test \(victim): all acked \(ackedAfter) after the last publish, history edge complete after \(ContinuousClock.now - killedAt) (its stream reader re-created \(history.edge.stats.streamRestarts) times); \(publisher.stats)")
        _ = await waitUntil(seconds: 3) { viaLive.all.count >= expectedCount }
        var out = Outcome()
        out.expected = truth.all.map(Self.line)
        out.historyEdge = viaHistory.all.map(Self.line)
        out.liveEdge = viaLive.all.map(Self.line)
        out.historyStats = history.edge.stats
        out.liveStats = live.edge.stats
        out.publisher = publisher.stats

        // The stream itself, read from its start by a new reader.
        let reader = try await NATSClient.connect(to: [edgeServer.url], logger: logger)
        let js = JetStream(client: reader)
        // The killed server may have been JetStream's meta leader: API calls wait for the next one.
        var consumer: OrderedConsumer?
        let deadline = ContinuousClock.now + .seconds(30)
        while consumer == nil, ContinuousClock.now < deadline {
            if let info = try? await js.streamInfo(ClusterHistory.streamName) { out.storedMessages = info.state.messages }
            // A 1 s heartbeat: a consumer placed on a server the cluster has not yet noticed is
            // dead resumes in 3–4 s, well inside the read limit below.
            consumer = try? await js.orderedConsumer(stream: ClusterHistory.streamName, deliverFrom: .all, heartbeat: .seconds(1), logger: logger)
        }
        guard let consumer else { throw TestFailure("no ordered consumer on \(ClusterHistory.streamName) within 30 s") }
        let read = Task {
            var lines: [String] = []
            for try await m in consumer {
                let h = m.headers
                let ch = String(m.subject.dropFirst(ClusterEnvelope.marketPrefix.count))
                lines.append("\(ch)|\(h?[ClusterEnvelope.epochHeader] ?? "")|\(h?[ClusterEnvelope.seqHeader] ?? "")|\(String(decoding: m.payload.readableBytesView, as: UTF8.self))")
                if m.pending == 0 { break }
            }
            return lines
        }
        let reading = Task {
            try? await Task.sleep(for: .seconds(40))
            read.cancel()
        }
        out.stream = (try? await read.value) ?? []
        reading.cancel()
        out.streamReaderRestarts = consumer.restarts
        await reader.close()
        await history.stop()
        await live.stop()
        await ingestClient.close()
        return out
    }

    func check(_ o: Outcome, _ name: String) {
        let n = o.expected.count
        #expect(n >= 3000, "\(name): only \(n) frames")
        #expect(o.publisher.failed == 0 && o.publisher.unacked == 0, "\(name): publisher \(o.publisher)")
        #expect(o.storedMessages == UInt64(n), "\(name): stream holds \(o.storedMessages) of \(n)")
        let streamSame = o.stream == o.expected
        #expect(streamSame, "\(name): stream read \(o.stream.count) of \(n), first difference at \(firstDifference(o.stream, o.expected)); reader restarts \(o.streamReaderRestarts)")
        let historySame = o.historyEdge == o.expected
        #expect(historySame, "\(name): history edge \(o.historyEdge.count) of \(n), at \(firstDifference(o.historyEdge, o.expected)); \(String(describing: o.historyStats))")
        #expect(o.historyStats?.gaps == 0 && o.historyStats?.duplicates == 0)
        // The live (core) edge forwards no frame twice: the resends it gets a second time are
        // dropped and counted as duplicates. It may miss frames and count a gap (frames the dying
        // server sent to the stream leader, acked, but not yet to the edge's server): that is why
        // an edge reads the stream when the history streams exist.
        let expectedSet = Set(o.expected)
        let forwarded = perChannel(o.liveEdge)
        let increasing = forwarded.values.allSatisfy { lines in
            let seqs = lines.compactMap { UInt64($0.split(separator: "|")[2]) }
            return zip(seqs, seqs.dropFirst()).allSatisfy { $0 < $1 }
        }
        #expect(increasing, "\(name): the live edge forwarded a frame twice or out of order")
        #expect(o.liveEdge.allSatisfy { expectedSet.contains($0) }, "\(name): the live edge forwarded a frame the ingest bus never made")
    }

    @Test(.timeLimit(.minutes(3)))
    func killingTheIngestNodesServerLosesNoFrame() async throws {
        let o = try await killMidStream(.ingestServer)
        check(o, "ingest server killed")
        #expect(o.publisher.resent > 0, "nothing was resent: the kill did not land mid-stream? \(o.publisher)")
    }

    @Test(.timeLimit(.minutes(3)))
    func killingTheStreamLeaderLosesNoFrame() async throws {
        let o = try await killMidStream(.streamLeader)
        check(o, "stream leader killed")
    }
}

/// Frames grouped by channel, each channel's in arrival order.
func perChannel(_ lines: [String]) -> [String: [String]] {
    Dictionary(grouping: lines) { String($0.prefix { $0 != "|" }) }
}

func firstDifference(_ a: [String], _ b: [String]) -> String {
    for i in 0..<min(a.count, b.count) where a[i] != b[i] { return "\(i): \(a[i].prefix(80)) vs \(b[i].prefix(80))" }
    return a.count == b.count ? "none" : "length \(a.count) vs \(b.count)"
}
