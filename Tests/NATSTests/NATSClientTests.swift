import Foundation
import NIOCore
import Synchronization
import Testing

@testable import NATS
import func _TestSupport.withNATSServer
import func _TestSupport.freePorts

/// The client against a real nats-server on a loopback port of its own.
@Suite(.timeLimit(.minutes(1))) struct NATSClientTests {
    @Test func publishSubscribeInOrder() async throws {
        try await withNATSServer { server in
            let subscriber = try await connectClient([server.url], name: "sub")
            let publisher = try await connectClient([server.url], name: "pub")
            let subscription = try await subscriber.subscribe(subject: "md.trades.>")
            for i in 0..<1000 {
                try publisher.publish(subject: i == 500 ? "other.subject" : "md.trades.binance.BTC-USDT", payload: ByteBuffer(string: "m-\(i)"))
            }
            try await publisher.flush()
            let messages = try await collect(subscription, count: 999)
            #expect(messages.map(\.payload.text) == (0..<1000).filter { $0 != 500 }.map { "m-\($0)" })
            #expect(messages.allSatisfy { $0.subject == "md.trades.binance.BTC-USDT" && $0.headers == nil && $0.replyTo == nil })
            #expect(publisher.statistics.messagesOut == 1000)
            #expect(subscriber.statistics.messagesIn == 999)
            await publisher.close()
            await subscriber.close()
        }
    }

    @Test func queueGroupGivesEachMessageToOneMember() async throws {
        try await withNATSServer { server in
            let publisher = try await connectClient([server.url], name: "pub")
            var members: [(NATSClient, NATSSubscription)] = []
            for i in 0..<3 {
                let client = try await connectClient([server.url], name: "worker-\(i)")
                members.append((client, try await client.subscribe(subject: "jobs.*", queue: "workers")))
            }
            let watcher = try await connectClient([server.url], name: "watcher")
            let all = try await watcher.subscribe(subject: "jobs.*")
            for i in 0..<300 { try publisher.publish(subject: "jobs.run", payload: ByteBuffer(string: "\(i)")) }
            try await publisher.flush()
            #expect(try await collect(all, count: 300).map(\.payload.text) == (0..<300).map(String.init))

            var perMember: [[String]] = []
            for (client, subscription) in members {
                // After a PING round trip, everything the server routed to this member has arrived.
                try await client.flush()
                subscription.unsubscribe()
                var got: [String] = []
                for try await message in subscription { got.append(message.payload.text) }
                perMember.append(got)
            }
            #expect(perMember.allSatisfy { !$0.isEmpty })
            let union = perMember.flatMap { $0 }
            #expect(union.count == 300)
            #expect(Set(union) == Set((0..<300).map(String.init)))
            for (client, _) in members { await client.close() }
            await watcher.close()
            await publisher.close()
        }
    }

    @Test func requestReplyCorrelatesConcurrentRequests() async throws {
        try await withNATSServer { server in
            let responder = try await connectClient([server.url], name: "responder")
            let requester = try await connectClient([server.url], name: "requester")
            let service = try await responder.subscribe(subject: "svc.upper")
            let silent = try await responder.subscribe(subject: "svc.silent")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await request in service {
                        try responder.publish(subject: request.replyTo!, payload: ByteBuffer(string: request.payload.text.uppercased()))
                    }
                }
                let replies = try await withThrowingTaskGroup(of: (Int, String).self) { requests in
                    for i in 0..<50 {
                        requests.addTask {
                            let reply = try await requester.request(subject: "svc.upper", payload: ByteBuffer(string: "req-\(i)-abc"))
                            return (i, reply.payload.text)
                        }
                    }
                    return try await requests.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
                }
                #expect(replies.count == 50)
                #expect(replies.allSatisfy { $0.value == "REQ-\($0.key)-ABC" })

                await #expect(throws: NATSError.self) {
                    do {
                        _ = try await requester.request(subject: "nobody.listens", payload: ByteBuffer(), timeout: .seconds(5))
                    } catch let error as NATSError {
                        #expect(error.code == .noResponders)
                        throw error
                    }
                }
                let started = ContinuousClock.now
                await #expect(throws: NATSError.self) {
                    do {
                        _ = try await requester.request(subject: "svc.silent", payload: ByteBuffer(), timeout: .milliseconds(300))
                    } catch let error as NATSError {
                        #expect(error.code == .timeout)
                        throw error
                    }
                }
                #expect(ContinuousClock.now - started >= .milliseconds(300))
                group.cancelAll()
            }
            _ = silent
            await responder.close()
            await requester.close()
        }
    }

    @Test func headersAndBinaryPayloadsArriveIntact() async throws {
        try await withNATSServer { server in
            let client = try await connectClient([server.url], name: "headers")
            let subscription = try await client.subscribe(subject: "h.>")
            var headers = NATSHeaders()
            headers[NATSHeaders.messageID] = "evt-42"
            headers.append(name: "X-Venue", value: "binance")
            headers.append(name: "X-Venue", value: "okx")
            headers["X-Empty"] = ""
            let binary = (0...255).map { UInt8($0) }
            try client.publish(subject: "h.with", payload: binary, headers: headers)
            try client.publish(subject: "h.without", payload: binary)
            let messages = try await collect(subscription, count: 2)
            #expect(messages[0].headers == headers)
            #expect(messages[0].headers?.values(for: "X-Venue") == ["binance", "okx"])
            #expect(messages[0].payload == ByteBuffer(bytes: binary))
            #expect(messages[1].headers == nil)
            #expect(messages[1].payload == ByteBuffer(bytes: binary))
            await client.close()
        }
    }

    @Test func reconnectResubscribesAndSendsWhatWasBufferedWhileDown() async throws {
        try await withNATSServer { server in
            let client = try await connectClient([server.url], name: "resilient")
            let responder = try await connectClient([server.url], name: "responder")
            let echo = try await responder.subscribe(subject: "svc.echo")
            let responding = Task {
                for try await request in echo { try responder.publish(subject: request.replyTo!, payload: request.payload) }
            }
            defer { responding.cancel() }
            let events = client.connectionEvents()
            let subscription = try await client.subscribe(subject: "r.>")
            try client.publish(subject: "r.x", payload: ByteBuffer(string: "before"))
            #expect(try await collect(subscription, count: 1).map(\.payload.text) == ["before"])
            #expect(try await client.request(subject: "svc.echo", payload: ByteBuffer(string: "ping-1")).payload.text == "ping-1")

            server.kill()
            _ = await waitForEvent(events) { if case .disconnected = $0 { true } else { false } }
            try client.publish(subject: "r.x", payload: ByteBuffer(string: "during-1"))
            try client.publish(subject: "r.y", payload: ByteBuffer(string: "during-2"))
            #expect(client.connectedServer == nil)

            try server.start()
            let reconnected = await waitForEvent(events) { if case .reconnected = $0 { true } else { false } }
            #expect(reconnected == .reconnected(NATSServerAddress(host: "127.0.0.1", port: server.clientPort)))
            // The SUB was replayed before the buffered PUBs, so our own subscription sees them.
            #expect(try await collect(subscription, count: 2).map(\.payload.text) == ["during-1", "during-2"])
            try client.publish(subject: "r.z", payload: ByteBuffer(string: "after"))
            #expect(try await collect(subscription, count: 1).map(\.payload.text) == ["after"])
            // The request inbox came back too (the responder reconnected on its own).
            #expect(await waitUntil { responder.connectedServer != nil })
            try await responder.flush()
            #expect(try await client.request(subject: "svc.echo", payload: ByteBuffer(string: "ping-2")).payload.text == "ping-2")
            #expect(client.statistics.reconnects == 1)
            await client.close()
            await responder.close()
        }
    }

    @Test func drainDeliversWhatWasInFlightThenEnds() async throws {
        try await withNATSServer { server in
            let consumer = try await connectClient([server.url], name: "drained")
            let producer = try await connectClient([server.url], name: "producer")
            let subscription = try await consumer.subscribe(subject: "d.>")
            for i in 0..<500 { try producer.publish(subject: "d.x", payload: ByteBuffer(string: "\(i)")) }
            try await producer.flush()
            try await consumer.drain()
            var received: [String] = []
            for try await message in subscription { received.append(message.payload.text) }
            #expect(received == (0..<500).map(String.init))
            #expect(consumer.isClosed)
            #expect(throws: NATSError.self) { try consumer.publish(subject: "d.x", payload: ByteBuffer()) }
            await producer.close()
        }
    }

    @Test func slowReaderLosesNewMessagesAndTheyAreCounted() async throws {
        try await withNATSServer { server in
            let client = try await connectClient([server.url], name: "slow")
            let subscription = try await client.subscribe(subject: "s", bufferSize: 10)
            for i in 0..<100 { try client.publish(subject: "s", payload: ByteBuffer(string: "\(i)")) }
            try await client.flush()
            #expect(subscription.droppedMessages == 90)
            #expect(client.statistics.droppedMessages == 90)
            #expect(try await collect(subscription, count: 10).map(\.payload.text) == (0..<10).map(String.init))
            await client.close()
        }
    }

    @Test func connectFailsClearlyWhenNoServerListens() async throws {
        let port = try freePorts(1)[0]
        await #expect(throws: NATSError.self) {
            do {
                _ = try await connectClient(["nats://127.0.0.1:\(port)"], name: "nobody")
            } catch let error as NATSError {
                #expect(error.code == .noServers)
                throw error
            }
        }
    }

    @Test func closeEndsSubscriptionsAndFailsWaitingRequests() async throws {
        try await withNATSServer { server in
            let client = try await connectClient([server.url], name: "closing")
            let subscription = try await client.subscribe(subject: "c")
            let silent = try await client.subscribe(subject: "svc.silent")
            let pending = Task { try await client.request(subject: "svc.silent", payload: ByteBuffer(), timeout: .seconds(30)) }
            #expect(await waitUntil { client.state.withLock { !$0.requests.isEmpty } })
            await client.close()
            await #expect(throws: NATSError.self) { _ = try await pending.value }
            var count = 0
            for try await _ in subscription { count += 1 }
            #expect(count == 0)
            _ = silent
        }
    }
}
