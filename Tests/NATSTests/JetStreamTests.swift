import Foundation
import NIOCore
import Synchronization
import Testing

@testable import NATS
import func _TestSupport.withNATSServer

/// JetStream over the client, against a real nats-server with JetStream on.
@Suite(.timeLimit(.minutes(1))) struct JetStreamTests {
    @Test func streamCreateUpdateInfoDelete() async throws {
        try await withNATSServer(jetStream: true) { server in
            let client = try await connectClient([server.url], name: "js-admin")
            let js = JetStream(client: client)
            var config = StreamConfig(name: "MD", subjects: ["md.>"])
            config.maxAge = .seconds(3600)
            config.maxBytes = 10 << 20
            config.storage = .memory
            config.duplicateWindow = .seconds(30)
            let created = try await js.createStream(config)
            #expect(created.config.name == "MD")
            #expect(created.config.subjects == ["md.>"])
            #expect(created.config.maxAge == .seconds(3600))
            #expect(created.config.maxBytes == 10 << 20)
            #expect(created.config.storage == .memory)
            #expect(created.config.replicas == 1)
            #expect(created.config.duplicateWindow == .seconds(30))
            #expect(created.state.messages == 0)

            // Same configuration again: accepted as it is.
            #expect(try await js.createStream(config).config.subjects == ["md.>"])
            config.subjects = ["md.>", "user.>"]
            await #expect(throws: JetStreamError.self) {
                do { _ = try await js.createStream(config) } catch let error as JetStreamError {
                    #expect(error.errorCode == JetStreamError.streamNameInUse)
                    throw error
                }
            }
            let updated = try await js.createOrUpdateStream(config)
            #expect(updated.config.subjects == ["md.>", "user.>"])
            #expect(try await js.streamInfo("MD").config.subjects == ["md.>", "user.>"])

            try await js.deleteStream("MD")
            await #expect(throws: JetStreamError.self) {
                do { _ = try await js.streamInfo("MD") } catch let error as JetStreamError {
                    #expect(error.errorCode == JetStreamError.streamNotFound)
                    throw error
                }
            }
            await client.close()
        }
    }

    @Test func publishIsAcknowledgedAndDeduplicatedByMessageID() async throws {
        try await withNATSServer(jetStream: true) { server in
            let client = try await connectClient([server.url], name: "js-pub")
            let js = JetStream(client: client)
            _ = try await js.createStream(StreamConfig(name: "EV", subjects: ["ev.>"]))
            for i in 1...5 {
                let ack = try await js.publish(subject: "ev.\(i)", payload: ByteBuffer(string: "e\(i)"), messageID: "id-\(i)")
                #expect(ack.stream == "EV" && ack.sequence == UInt64(i) && !ack.duplicate)
            }
            let again = try await js.publish(subject: "ev.3", payload: ByteBuffer(string: "e3 retried"), messageID: "id-3")
            #expect(again.sequence == 3 && again.duplicate)
            #expect(try await js.streamInfo("EV").state.messages == 5)

            let stored = try #require(try await js.getMessage(stream: "EV", sequence: 3))
            #expect(stored.subject == "ev.3" && stored.payload.text == "e3" && stored.headers?[NATSHeaders.messageID] == "id-3")
            #expect(try await js.getLastMessage(stream: "EV", subject: "ev.5")?.sequence == 5)
            #expect(try await js.getMessage(stream: "EV", sequence: 99) == nil)

            await #expect(throws: NATSError.self) {
                do { _ = try await js.publish(subject: "not.captured", payload: ByteBuffer()) } catch let error as NATSError {
                    #expect(error.code == .noResponders)
                    throw error
                }
            }
            await client.close()
        }
    }

    /// `PubAck(answer:)` reads the server's own answers to publishes sent with a reply inbox (the
    /// pipelined acked publisher's path): a stored frame, a duplicate, and the refusal of a broken
    /// `Nats-Expected-Last-Msg-Id` chain as `JetStreamError.wrongLastMessageID`.
    @Test func pipelinedPublishAnswersAreRead() async throws {
        try await withNATSServer(jetStream: true) { server in
            let client = try await connectClient([server.url], name: "js-answers")
            let js = JetStream(client: client)
            _ = try await js.createStream(StreamConfig(name: "CH", subjects: ["ch.>"]))
            func answer(_ headers: NATSHeaders) async throws -> ByteBuffer {
                try await client.request(subject: "ch.a", payload: ByteBuffer(string: "x"), headers: headers).payload
            }
            let first = try PubAck(answer: try await answer([NATSHeaders.messageID: "m1"]))
            #expect(first.stream == "CH" && first.sequence == 1 && !first.duplicate)
            let chained = try PubAck(answer: try await answer([NATSHeaders.messageID: "m2", NATSHeaders.expectedLastMessageID: "m1"]))
            #expect(chained.sequence == 2 && !chained.duplicate)
            let duplicate = try PubAck(answer: try await answer([NATSHeaders.messageID: "m2", NATSHeaders.expectedLastMessageID: "m1"]))
            #expect(duplicate.sequence == 2 && duplicate.duplicate)
            let broken = try await answer([NATSHeaders.messageID: "m4", NATSHeaders.expectedLastMessageID: "m3"])
            #expect(throws: JetStreamError.self) {
                do { _ = try PubAck(answer: broken) } catch let e as JetStreamError {
                    #expect(e.errorCode == JetStreamError.wrongLastMessageID, "\(e)")
                    throw e
                }
            }
            #expect(throws: NATSError.self) { _ = try PubAck(answer: ByteBuffer(string: "not json")) }
            #expect(try await js.streamInfo("CH").state.messages == 2)
            await client.close()
        }
    }

    @Test func orderedConsumerReadsFromASequenceThenFollowsLive() async throws {
        try await withNATSServer(jetStream: true) { server in
            let client = try await connectClient([server.url], name: "js-consume")
            let js = JetStream(client: client)
            _ = try await js.createStream(StreamConfig(name: "MD", subjects: ["md.>"]))
            for i in 1...20 { _ = try await js.publish(subject: i % 2 == 0 ? "md.b.x" : "md.a.x", payload: ByteBuffer(string: "m\(i)")) }

            let consumer = try await js.orderedConsumer(stream: "MD", deliverFrom: .sequence(8), heartbeat: .seconds(1), logger: testLogger)
            var iterator = consumer.makeAsyncIterator()
            var history: [JetStreamMessage] = []
            for _ in 8...20 { history.append(try #require(try await iterator.next())) }
            #expect(history.map(\.streamSequence) == Array(8...20))
            #expect(history.map(\.payload.text) == (8...20).map { "m\($0)" })
            #expect(history.map(\.pending) == (8...20).map { UInt64(20 - $0) })
            #expect(history.map(\.subject) == (8...20).map { $0 % 2 == 0 ? "md.b.x" : "md.a.x" })

            for i in 21...25 { _ = try await js.publish(subject: "md.a.x", payload: ByteBuffer(string: "m\(i)")) }
            var live: [UInt64] = []
            for _ in 21...25 { live.append(try #require(try await iterator.next()).streamSequence) }
            #expect(live == Array(21...25))
            consumer.close()

            let filtered = try await js.orderedConsumer(stream: "MD", filterSubject: "md.b.>", deliverFrom: .all, heartbeat: .seconds(1), logger: testLogger)
            var seen: [UInt64] = []
            for try await message in filtered {
                seen.append(message.streamSequence)
                if message.pending == 0 { break }
            }
            #expect(seen == Array(stride(from: 2, through: 20, by: 2)))
            await client.close()
        }
    }

    /// `initialPending` is the filtered count at creation (10 of the 20 match); `delete()` removes
    /// the consumer on the server at once, not after its inactivity timer.
    @Test func orderedConsumerKnowsItsInitialPendingAndDeletesItself() async throws {
        try await withNATSServer(jetStream: true) { server in
            let client = try await connectClient([server.url], name: "js-delete")
            let js = JetStream(client: client)
            _ = try await js.createStream(StreamConfig(name: "U", subjects: ["user.>"]))
            for i in 1...20 { _ = try await js.publish(subject: i % 2 == 0 ? "user.bob.x" : "user.alice.x", payload: ByteBuffer(string: "m\(i)")) }
            let consumer = try await js.orderedConsumer(stream: "U", filterSubject: "user.alice.>", deliverFrom: .all, heartbeat: .seconds(1), logger: testLogger)
            #expect(consumer.initialPending == 10)
            let empty = try await js.orderedConsumer(stream: "U", filterSubject: "user.carol.>", deliverFrom: .all, heartbeat: .seconds(1), logger: testLogger)
            #expect(empty.initialPending == 0)
            #expect(try await js.streamInfo("U").state.consumerCount == 2)
            var seen: [String] = []
            for try await m in consumer {
                seen.append(m.subject)
                if seen.count == 10 { break }
            }
            #expect(seen == Array(repeating: "user.alice.x", count: 10))
            await consumer.delete()
            #expect(try await js.streamInfo("U").state.consumerCount == 1)
            await empty.delete()
            await empty.delete()  // already gone: no error
            #expect(try await js.streamInfo("U").state.consumerCount == 0)
            await client.close()
        }
    }

    @Test func orderedConsumerStartsAtATime() async throws {
        try await withNATSServer(jetStream: true) { server in
            let client = try await connectClient([server.url], name: "js-time")
            let js = JetStream(client: client)
            _ = try await js.createStream(StreamConfig(name: "T", subjects: ["t"]))
            for i in 1...10 { _ = try await js.publish(subject: "t", payload: ByteBuffer(string: "\(i)")) }
            // Message 10 was stored before its ack came back; message 11 is published after `cut`.
            let cut = Int64(Date().timeIntervalSince1970 * 1e9)
            try await Task.sleep(for: .milliseconds(20))
            for i in 11...15 { _ = try await js.publish(subject: "t", payload: ByteBuffer(string: "\(i)")) }
            let consumer = try await js.orderedConsumer(stream: "T", deliverFrom: .time(unixNanoseconds: cut), logger: testLogger)
            var seen: [UInt64] = []
            for try await message in consumer {
                #expect(message.timestamp >= cut)
                seen.append(message.streamSequence)
                if message.pending == 0 { break }
            }
            #expect(seen == Array(11...15))
            await client.close()
        }
    }

    @Test func orderedConsumerRecoversWhenItsServerSideConsumerDisappears() async throws {
        try await withNATSServer(jetStream: true) { server in
            let client = try await connectClient([server.url], name: "js-recover")
            let js = JetStream(client: client)
            _ = try await js.createStream(StreamConfig(name: "R", subjects: ["r"]))
            for i in 1...10 { _ = try await js.publish(subject: "r", payload: ByteBuffer(string: "\(i)")) }
            let consumer = try await js.orderedConsumer(stream: "R", deliverFrom: .all, heartbeat: .milliseconds(300), logger: testLogger)
            var iterator = consumer.makeAsyncIterator()
            var seen: [UInt64] = []
            for _ in 1...10 { seen.append(try #require(try await iterator.next()).streamSequence) }

            // Delete the server-side consumer behind the client's back: heartbeats stop, the watchdog re-creates it.
            let name = try #require(consumer.shared.withLock { $0.consumerName })
            struct Deleted: Decodable { var success: Bool }
            #expect(try await js.call("CONSUMER.DELETE.R.\(name)", as: Deleted.self).success)
            for i in 11...20 { _ = try await js.publish(subject: "r", payload: ByteBuffer(string: "\(i)")) }
            for _ in 11...20 { seen.append(try #require(try await iterator.next()).streamSequence) }
            #expect(seen == Array(1...20))
            #expect(consumer.shared.withLock { $0.consumerName } != name)
            consumer.close()
            await client.close()
        }
    }

    @Test func keyValueCompareAndSet() async throws {
        try await withNATSServer(jetStream: true) { server in
            let client = try await connectClient([server.url], name: "kv")
            let kv = try await JetStream(client: client).createKeyValue(KeyValueConfig(bucket: "cfg"))
            #expect(try await kv.get("k") == nil)
            let r1 = try await kv.create("k", value: ByteBuffer(string: "one"))
            await #expect(throws: KeyValueError.self) {
                do { _ = try await kv.create("k", value: ByteBuffer(string: "again")) } catch let error as KeyValueError {
                    #expect(error.code == .keyExists)
                    throw error
                }
            }
            await #expect(throws: KeyValueError.self) {
                do { _ = try await kv.update("k", value: ByteBuffer(string: "stale"), expectedRevision: r1 + 100) } catch let error as KeyValueError {
                    #expect(error.code == .wrongRevision)
                    throw error
                }
            }
            let r2 = try await kv.update("k", value: ByteBuffer(string: "two"), expectedRevision: r1)
            #expect(r2 > r1)
            #expect(try await kv.get("k") == KeyValueEntry(key: "k", value: ByteBuffer(string: "two"), revision: r2, operation: .put))
            let r3 = try await kv.put("k", value: ByteBuffer(string: "three"))
            try await kv.delete("k", expectedRevision: r3)
            #expect(try await kv.get("k") == nil)
            #expect(try await kv.entry("k")?.operation == .delete)
            // A delete marker does not block create.
            let r5 = try await kv.create("k", value: ByteBuffer(string: "reborn"))
            #expect(try await kv.get("k")?.revision == r5)
            #expect(throws: KeyValueError.self) { try KeyValue.validate("bad key") }
            #expect(try await JetStream(client: client).keyValue("cfg").bucket == "cfg")
            await client.close()
        }
    }

    @Test func leaseHasOneHolderAndPassesOnAfterTheTTL() async throws {
        try await withNATSServer(jetStream: true) { server in
            let ttl = Duration.seconds(2)
            let first = try await connectClient([server.url], name: "contender-a")
            let second = try await connectClient([server.url], name: "contender-b")
            _ = try await JetStream(client: first).createKeyValue(KeyValueConfig(bucket: "leases", ttl: ttl))
            var a = KeyValueLease(keyValue: try await JetStream(client: first).keyValue("leases"), key: "ingest", holder: "node-a-1")
            var b = KeyValueLease(keyValue: try await JetStream(client: second).keyValue("leases"), key: "ingest", holder: "node-b-7")

            #expect(try await a.acquireOrRenew())
            #expect(try await !b.acquireOrRenew())
            #expect(try await b.currentHolder() == "node-a-1")
            var lastRenewal = ContinuousClock.now
            for _ in 0..<3 {
                try await Task.sleep(for: .milliseconds(500))
                #expect(try await a.acquireOrRenew())
                lastRenewal = ContinuousClock.now
                #expect(try await !b.acquireOrRenew())
            }
            // A dies: it stops renewing. B polls until the key expires.
            await first.close()
            var tookOver: ContinuousClock.Instant?
            while tookOver == nil, ContinuousClock.now - lastRenewal < .seconds(10) {
                if try await b.acquireOrRenew() { tookOver = .now } else { try await Task.sleep(for: .milliseconds(100)) }
            }
            let at = try #require(tookOver)
            #expect(at - lastRenewal >= ttl - .milliseconds(200), "took over \(at - lastRenewal) after the last renewal, before the TTL")
            #expect(try await b.currentHolder() == "node-b-7")

            // A comes back with its old revision: its renewal fails, it learns it lost.
            let revived = try await connectClient([server.url], name: "contender-a-again")
            a = KeyValueLease(keyValue: try await JetStream(client: revived).keyValue("leases"), key: "ingest", holder: "node-a-1")
            #expect(try await !a.acquireOrRenew())
            // B releases: A gets it at once, without waiting for the TTL.
            try await b.release()
            #expect(try await a.acquireOrRenew())
            #expect(try await a.currentHolder() == "node-a-1")
            await revived.close()
            await second.close()
        }
    }
}
