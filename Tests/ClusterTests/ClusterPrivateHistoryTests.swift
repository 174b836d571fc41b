import Bus
import Cluster
import FanOut
import Foundation
import Logging
import MarketCore
import NATS
import NIOCore
import Testing
import _TestSupport

/// A websocket on `port` authenticated as `user` (`token-<user>`).
func login(_ port: Int, _ user: String) async throws -> RawWebSocket {
    let ws = try RawWebSocket(port: port)
    #expect(await auth(ws, user), "auth as \(user)")
    return ws
}

/// The error code a subscribe to `channel` gets, or nil when it was not refused.
func refusal(_ ws: RawWebSocket, _ channel: String) async -> String? {
    await onThread { () -> String? in
        _ = ws.send(#"{"op":"subscribe","id":5,"channels":["\#(channel)"]}"#)
        while let o = ws.readJSON(timeout: 10) { if o["id"] as? Int == 5 { return o["code"] as? String } }
        return nil
    }
}

/// An execution's `data` as the services node would publish it (the order id names user and number).
func privateExecution(_ user: String, _ n: Int) -> [UInt8] { Array(#"{"user":"\#(user)","order_id":"\#(user)-\#(n)","qty":"0.01"}"#.utf8) }

/// The `data.order_id` of a received frame.
func orderID(_ s: Seen) -> String? {
    guard let o = (try? JSONSerialization.jsonObject(with: Data(s.text.utf8))) as? [String: Any], let d = o["data"] as? [String: Any] else { return nil }
    return d["order_id"] as? String
}

@Suite("Cluster: private events resumable on any edge (JetStream)", .serialized)
struct ClusterPrivateHistoryTests {
    var logger: Logger {
        var l = Logger(label: "cluster-private-test")
        l.logLevel = .warning
        return l
    }

    /// Alice has a socket only on edge A and reads part of her executions; edge A stops. She
    /// authenticates on edge B, where she never had a socket, and resumes with `since`: every
    /// execution after her mark (published before, while she was away, and after) once, in order,
    /// nothing of Bob's. Bob, on B all along, gets nothing of hers, and B took no user's subject
    /// but its own users'.
    @Test(.timeLimit(.minutes(2)))
    func aUserResumesPrivateEventsOnAnEdgeWhereSheNeverHadASocket() async throws {
        let logger = self.logger
        try await withNATSServer(jetStream: true) { server in
            let servicesClient = try await NATSClient.connect(to: [server.url], logger: logger)
            try await ClusterHistory.ensure(JetStream(client: servicesClient), .init(maxAge: .seconds(600), maxBytes: 64 << 20))
            let services = MarketBus(bootID: "services-p")
            let truth = Frames()
            services.addSink(truth)
            services.addSink(ClusterPublisher(client: servicesClient, kinds: ClusterRole.publishedKinds([.services])))
            let a = try await EdgeNode.start(nats: server.url, name: "a", history: true, logger: logger)
            let b = try await EdgeNode.start(nats: server.url, name: "b", history: true, logger: logger)

            // Counted here, as published: each user's order ids in publish order.
            var published: [String: [String]] = [:]
            var n = 0
            func publish(_ count: Int) {
                for _ in 0..<count {
                    n += 1
                    let user = n % 3 == 0 ? "bob" : "alice"
                    published[user, default: []].append("\(user)-\(n)")
                    services.publish(channel: ChannelName(kind: .executions, scope: user), type: "execution", data: privateExecution(user, n))
                }
            }

            let alice = try await login(a.port, "alice")
            let bob = try await login(b.port, "bob")
            #expect(await subscribe(alice, ["executions.alice"]) == ["executions.alice": true])
            #expect(await subscribe(bob, ["executions.bob"]) == ["executions.bob": true])

            // Part 1: Alice reads hers on A; she has processed 12 when A goes away.
            publish(30)
            try await servicesClient.flush()
            let aliceFirst = published["alice"]!.count
            let bobFirst = published["bob"]!.count
            let seenA = await readData(alice, count: aliceFirst)
            #expect(seenA.map(orderID) == published["alice"]!.map { Optional($0) })
            #expect(seenA.map(\.seq) == Array(1...aliceFirst))
            let gotBob1 = await readData(bob, count: bobFirst)
            #expect(gotBob1.map(orderID) == published["bob"]!.map { Optional($0) })
            // Until Alice comes, edge B holds and received Bob's events only.
            #expect(b.bus.channels(matching: ChannelName(kind: .executions, scope: "*")) == [ChannelName(kind: .executions, scope: "bob")])
            #expect(await waitUntil(seconds: 5) { b.edge.stats.privateReceived == bobFirst })
            let mark = seenA[11]
            await a.stop()

            // Part 2: published while Alice has no socket anywhere.
            publish(30)
            try await servicesClient.flush()
            #expect(await readData(bob, count: published["bob"]!.count - bobFirst).map(orderID) == published["bob"]![bobFirst...].map { Optional($0) })

            // She authenticates on B (the ack waits for her history there) and resumes.
            let again = try await login(b.port, "alice")
            let ack = await subscribe(again, ["executions.alice"], since: ["executions.alice": (mark.seq, mark.epoch)])
            #expect(ack == ["executions.alice": true], "\(String(describing: ack)); edge B \(b.edge.stats)")
            // Part 3: published after she resumed.
            publish(30)
            try await servicesClient.flush()

            let aliceIDs = published["alice"]!
            let expected = truth.all.filter { $0.channel == ChannelName(kind: .executions, scope: "alice") && $0.seq > mark.seq }.map {
                Seen(ch: "executions.alice", seq: Int($0.seq), epoch: $0.epoch, text: String(decoding: $0.json.readableBytesView, as: UTF8.self))
            }
            // Independently: 60 of the 90 are Alice's, numbered 1…60 at the publisher; she saw 12.
            #expect(aliceIDs.count == 60 && expected.count == 48 && expected.map(\.seq) == Array(13...60))
            let rest = await readData(again, count: expected.count)
            #expect(rest.count == expected.count, "got \(rest.count) of \(expected.count); edge B \(b.edge.stats)")
            #expect(rest == expected)
            #expect(rest.map(orderID) == aliceIDs[12...].map { Optional($0) })
            #expect(rest.allSatisfy { $0.epoch == mark.epoch && !$0.text.contains("bob") })
            #expect(await readData(again, count: 1, seconds: 0.5).isEmpty)

            // Bob: his own part-3 events, nothing of Alice's, and still refused her channel.
            let bobIDs = published["bob"]!
            let bobRest = await readData(bob, count: 10)
            #expect(bobRest.map(orderID) == bobIDs[20...].map { Optional($0) })
            #expect(await readData(bob, count: 1, seconds: 0.5).isEmpty)
            #expect(await refusal(bob, "executions.alice") == "forbidden")
            // B received exactly its users' events: Bob's 30, and Alice's from the stream (all 60
            // stored; she was there for the last 20 live).
            #expect(b.edge.stats.privateForeign == 0 && b.edge.stats.slowPrivateHistory == 0)
            #expect(await waitUntil(seconds: 5) { b.edge.stats.privateReceived == bobIDs.count + aliceIDs.count }, "\(b.edge.stats)")
            #expect(Set(b.bus.channels(matching: ChannelName(kind: .executions, scope: "*")))
                == [ChannelName(kind: .executions, scope: "alice"), ChannelName(kind: .executions, scope: "bob")])

            // She leaves B and comes back: B re-reads her stored events (its ring already has them:
            // duplicates, not sent again); her resume from the last one she saw gets only what follows.
            let last = try #require(rest.last)
            again.close()
            #expect(await waitUntil(seconds: 10) { b.edge.users.users == ["bob"] })
            let back = try await login(b.port, "alice")
            #expect(await subscribe(back, ["executions.alice"], since: ["executions.alice": (last.seq, last.epoch)]) == ["executions.alice": true])
            #expect(await readData(back, count: 1, seconds: 0.5).isEmpty)
            publish(3)
            try await servicesClient.flush()
            let after = await readData(back, count: 2)
            #expect(after.map(\.seq) == [61, 62] && after.map(orderID) == published["alice"]![60...].map { Optional($0) })
            #expect(await readData(back, count: 1, seconds: 0.5).isEmpty)
            #expect(b.edge.stats.gaps == 0 && b.edge.stats.privateForeign == 0)
            back.close()
            bob.close()
            await b.stop()
            await servicesClient.close()
        }
    }

    /// A long private history (3,000 executions stored while Alice had no socket anywhere) is in
    /// the edge's ring when her auth ack arrives: the channel's position there is the publisher's
    /// last seq before any other request, and a resume from seq 100 is `recovered:true` with every
    /// later frame once, in order, as the publishing bus sent it.
    @Test(.timeLimit(.minutes(2)))
    func aUsersHistoryIsRelayedBeforeHerAuthAck() async throws {
        let logger = self.logger
        try await withNATSServer(jetStream: true) { server in
            let servicesClient = try await NATSClient.connect(to: [server.url], logger: logger)
            let js = JetStream(client: servicesClient)
            try await ClusterHistory.ensure(js, .init(maxAge: .seconds(600), maxBytes: 64 << 20))
            let services = MarketBus(bootID: "services-q")
            let truth = Frames()
            services.addSink(truth)
            services.addSink(ClusterPublisher(client: servicesClient, kinds: ClusterRole.publishedKinds([.services])))
            let channel = ChannelName(kind: .executions, scope: "alice")
            let total = 3000
            for n in 1...total { services.publish(channel: channel, type: "execution", data: privateExecution("alice", n)) }
            services.publish(channel: ChannelName(kind: .executions, scope: "bob"), type: "execution", data: privateExecution("bob", 0))
            try await servicesClient.flush()
            #expect(await waitUntil(seconds: 30) {
                ((try? await js.streamInfo(ClusterHistory.privateStreamName))?.state.messages).map { Int($0) == total + 1 } ?? false
            })
            let b = try await EdgeNode.start(nats: server.url, name: "b", history: true, logger: logger)
            #expect(b.bus.attach(channel).seq == 0)
            let alice = try await login(b.port, "alice")
            // Right after the ack: no waiting here.
            #expect(b.bus.attach(channel).seq == UInt64(total))
            let mark = try #require(truth.all.first { $0.channel == channel && $0.seq == 100 })
            #expect(await subscribe(alice, ["executions.alice"], since: ["executions.alice": (100, mark.epoch)]) == ["executions.alice": true])
            let expected = truth.all.filter { $0.channel == channel && $0.seq > 100 }.map {
                Seen(ch: "executions.alice", seq: Int($0.seq), epoch: $0.epoch, text: String(decoding: $0.json.readableBytesView, as: UTF8.self))
            }
            #expect(expected.count == total - 100)
            let got = await readData(alice, count: expected.count)
            #expect(got == expected)
            #expect(got.map(orderID) == (101...total).map { "alice-\($0)" })
            #expect(await readData(alice, count: 1, seconds: 0.5).isEmpty)
            // Bob's event is in the stream, but B never took it: Bob has no socket there.
            #expect(b.bus.channels(matching: ChannelName(kind: .executions, scope: "*")) == [channel])
            #expect(b.edge.stats.privateReceived == total && b.edge.stats.privateForeign == 0 && b.edge.stats.slowPrivateHistory == 0)
            alice.close()
            await b.stop()
            await servicesClient.close()
        }
    }

    /// The wait for a user's history is bounded: with no time allowed (the limit is zero) the
    /// auth ack goes out before a 3,000-event history is relayed, the edge counts it, and the
    /// history still arrives afterwards.
    @Test(.timeLimit(.minutes(1)))
    func theAuthAckDoesNotWaitPastTheLimit() async throws {
        let logger = self.logger
        try await withNATSServer(jetStream: true) { server in
            let servicesClient = try await NATSClient.connect(to: [server.url], logger: logger)
            let js = JetStream(client: servicesClient)
            try await ClusterHistory.ensure(js, .init(maxAge: .seconds(600), maxBytes: 64 << 20))
            let services = MarketBus(bootID: "services-r")
            services.addSink(ClusterPublisher(client: servicesClient, kinds: ClusterRole.publishedKinds([.services])))
            let channel = ChannelName(kind: .executions, scope: "alice")
            let total = 3000
            for n in 1...total { services.publish(channel: channel, type: "execution", data: privateExecution("alice", n)) }
            try await servicesClient.flush()
            #expect(await waitUntil(seconds: 30) {
                ((try? await js.streamInfo(ClusterHistory.privateStreamName))?.state.messages).map { Int($0) == total } ?? false
            })
            let b = try await EdgeNode.start(nats: server.url, name: "b", history: true, privateCatchUpLimit: .zero, logger: logger)
            let alice = try await login(b.port, "alice")
            #expect(b.edge.stats.slowPrivateHistory == 1)
            #expect(await waitUntil(seconds: 20) { b.bus.attach(channel).seq == UInt64(total) })
            #expect(b.edge.stats.privateReceived == total)
            alice.close()
            await b.stop()
            await servicesClient.close()
        }
    }

    /// `private_history_max_age` gives `MG_PRIVATE` its own age: with 1 s there against 600 s for
    /// `MG_MARKET`, users' events expire from the private stream while the market frames stay.
    @Test(.timeLimit(.minutes(1)))
    func thePrivateStreamKeepsItsOwnAge() async throws {
        let logger = self.logger
        try await withNATSServer(jetStream: true) { server in
            let client = try await NATSClient.connect(to: [server.url], logger: logger)
            let js = JetStream(client: client)
            try await ClusterHistory.ensure(
                js, .init(maxAge: .seconds(600), maxBytes: 64 << 20), privateLimits: .init(maxAge: .seconds(1), maxBytes: 1 << 20))
            let market = try await js.streamInfo(ClusterHistory.streamName)
            let user = try await js.streamInfo(ClusterHistory.privateStreamName)
            #expect(market.config.maxAge == .seconds(600) && market.config.maxBytes == 64 << 20)
            #expect(user.config.maxAge == .seconds(1) && user.config.maxBytes == 1 << 20)
            let bus = MarketBus(bootID: "ages")
            bus.addSink(ClusterPublisher(client: client, kinds: ClusterRole.publishedKinds([.ingest, .services])))
            for n in 1...10 {
                bus.publish(channel: ChannelName(kind: .executions, scope: "alice"), type: "execution", data: privateExecution("alice", n))
                bus.publish(channel: try ChannelName(parsing: "trades.binance.BTC-USDT"), type: "trade", data: Array(#"{"id":"\#(n)"}"#.utf8))
            }
            try await client.flush()
            #expect(await waitUntil(seconds: 10) {
                ((try? await js.streamInfo(ClusterHistory.streamName))?.state.messages) == 10
            })
            // Expired within the private stream's age (the server checks ages about once a second).
            #expect(await waitUntil(seconds: 15) {
                ((try? await js.streamInfo(ClusterHistory.privateStreamName))?.state.messages) == 0
            })
            #expect((try await js.streamInfo(ClusterHistory.streamName)).state.messages == 10)
            await client.close()
        }
    }
}
