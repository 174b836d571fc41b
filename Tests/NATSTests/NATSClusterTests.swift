import Foundation
import NIOCore
import Synchronization
import Testing

@testable import NATS
import class _TestSupport.NATSTestCluster

/// A three-server cluster (routes on loopback, JetStream with three replicas); one server is
/// SIGKILLed mid-stream.
@Suite(.timeLimit(.minutes(3))) struct NATSClusterTests {
    @Test func killingAServerLosesNoAcknowledgedMessage() async throws {
        let cluster = try NATSTestCluster(size: 3)
        defer { cluster.stop() }

        // Create the replicated stream once JetStream's meta group has a leader.
        let admin = try await connectClient(cluster.urls, name: "admin")
        let adminJS = JetStream(client: admin)
        var config = StreamConfig(name: "MD", subjects: ["md.>"])
        config.replicas = 3
        config.maxAge = .seconds(600)
        var info: StreamInfo?
        let ready = await waitUntil(seconds: 60) {
            info = try? await adminJS.createOrUpdateStream(config)
            return info?.cluster?.leader != nil
        }
        #expect(ready, "JetStream cluster never created the R3 stream:\n\(cluster.servers.map { $0.logTail(10) }.joined(separator: "\n---\n"))")
        let leaderName = try #require(info?.cluster?.leader)
        let victim = try #require(cluster.server(named: leaderName))
        await admin.close()

        // Publisher and subscriber know only the stream leader's URL; the rest comes from INFO connect_urls.
        let publisher = try await connectClient([victim.url], name: "publisher")
        let subscriber = try await connectClient([victim.url], name: "subscriber")
        #expect(await waitUntil { publisher.knownServers.count == 3 && subscriber.knownServers.count == 3 })
        #expect(Set(publisher.knownServers.map(\.port)) == Set(cluster.servers.map(\.clientPort)))
        let js = JetStream(client: publisher, timeout: .seconds(2))
        // The server places the (one-replica) consumer; keep the one that landed on the victim too, so
        // that its loss is part of the test rather than luck.
        var consumer = try await JetStream(client: subscriber).orderedConsumer(stream: "MD", deliverFrom: .all, heartbeat: .seconds(1), logger: testLogger)
        for _ in 0..<30 where try await consumerLeader(consumer, subscriber) != leaderName {
            consumer.close()
            consumer = try await JetStream(client: subscriber).orderedConsumer(stream: "MD", deliverFrom: .all, heartbeat: .seconds(1), logger: testLogger)
        }
        #expect(try await consumerLeader(consumer, subscriber) == leaderName)
        let core = try await subscriber.subscribe(subject: "core.>")
        let publisherEvents = publisher.connectionEvents()

        let total = 300
        let consumed = Task { [consumer] in
            var messages: [JetStreamMessage] = []
            for try await message in consumer {
                messages.append(message)
                if messages.count == total { break }
            }
            return messages
        }

        var acked: [String: UInt64] = [:]
        var retries = 0
        for i in 1...total {
            if i == 100 { victim.kill(SIGKILL) }
            let id = "m-\(i)"
            while true {
                do {
                    let ack = try await js.publish(subject: "md.trades.binance.BTC-USDT", payload: ByteBuffer(string: id), messageID: id)
                    acked[id] = ack.sequence
                    break
                } catch {
                    // Leader election or reconnect in progress: retry with the same id; the stream deduplicates.
                    retries += 1
                    try #require(retries < 500, "publish \(id) kept failing: \(error)")
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
        #expect(acked.count == total)
        // Every acknowledged message has its own sequence, 1…300: no loss, no duplicate.
        #expect(Set(acked.values) == Set((1...total).map(UInt64.init)))

        let messages = try await consumed.value
        #expect(messages.map(\.payload.text) == (1...total).map { "m-\($0)" })
        #expect(messages.map(\.streamSequence) == (1...total).map(UInt64.init))

        let survivorInfo = try await js.streamInfo("MD")
        #expect(survivorInfo.state.messages == UInt64(total))
        #expect(survivorInfo.state.lastSequence == UInt64(total))

        // Both clients moved to a survivor, and core subscriptions were replayed there.
        let moved = await waitForEvent(publisherEvents) { if case .reconnected = $0 { true } else { false } }
        #expect(moved != nil)
        #expect(publisher.connectedServer.map { $0.port != victim.clientPort } == true)
        #expect(await waitUntil { subscriber.connectedServer.map { $0.port != victim.clientPort } == true })
        try await subscriber.flush()
        try publisher.publish(subject: "core.after-failover", payload: ByteBuffer(string: "still here"))
        #expect(try await collect(core, count: 1).map(\.payload.text) == ["still here"])
        #expect(publisher.statistics.reconnects >= 1 && subscriber.statistics.reconnects >= 1)

        // The consumer died with its server and was re-created from the last sequence it delivered.
        #expect(consumer.shared.withLock { $0.generation } > 1)
        consumer.close()
        await publisher.close()
        await subscriber.close()
    }
}

/// The server that hosts an ordered consumer (`$JS.API.CONSUMER.INFO`).
func consumerLeader(_ consumer: OrderedConsumer, _ client: NATSClient) async throws -> String? {
    struct Info: Decodable {
        struct Cluster: Decodable { var leader: String? }
        var cluster: Cluster?
    }
    guard let name = consumer.shared.withLock({ $0.consumerName }) else { return nil }
    return try await JetStream(client: client).call("CONSUMER.INFO.\(consumer.stream).\(name)", as: Info.self).cluster?.leader
}
