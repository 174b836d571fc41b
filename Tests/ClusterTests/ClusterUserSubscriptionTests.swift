import Bus
import Cluster
import FanOut
import Foundation
import Logging
import MarketCore
import NATS
import Testing
import _TestSupport

/// Authenticates `ws` with `token-<user>`; true when acked.
func auth(_ ws: RawWebSocket, _ user: String, id: Int = 9) async -> Bool {
    await onThread { () -> Bool in
        guard ws.send(#"{"op":"auth","id":\#(id),"token":"token-\#(user)"}"#) else { return false }
        while let o = ws.readJSON(timeout: 10) { if o["id"] as? Int == id { return o["type"] as? String != "error" } }
        return false
    }
}

@Suite("Cluster: per-user private subscriptions on edges", .serialized)
struct ClusterUserSubscriptionTests {
    var logger: Logger {
        var l = Logger(label: "cluster-users-test")
        l.logLevel = .critical
        return l
    }

    /// Alice on edge A, Bob on edge B: each edge subscribes only its user's subject, receives
    /// exactly that user's executions and none of the other's, and unsubscribes when the user's
    /// last socket leaves, is revoked or re-authenticates as someone else.
    @Test(.timeLimit(.minutes(2)))
    func eachEdgeReceivesOnlyItsUsersPrivateEvents() async throws {
        let logger = self.logger
        try await withNATSServer { server in
            let servicesClient = try await NATSClient.connect(to: [server.url], logger: logger)
            let services = MarketBus(bootID: "services-u")
            services.addSink(ClusterPublisher(client: servicesClient, kinds: ClusterRole.publishedKinds([.services])))
            let a = try await EdgeNode.start(nats: server.url, name: "a", logger: logger)
            let b = try await EdgeNode.start(nats: server.url, name: "b", logger: logger)
            #expect(a.edge.stats.userSubscriptions == 0 && b.edge.stats.userSubscriptions == 0)

            func execution(_ user: String, _ n: Int) -> [UInt8] { Array(#"{"user":"\#(user)","order_id":"\#(user)-\#(n)","qty":"0.01"}"#.utf8) }
            func publish(_ user: String, _ n: Int) {
                services.publish(channel: ChannelName(kind: .executions, scope: user), type: "execution", data: execution(user, n))
            }

            let alice = try RawWebSocket(port: a.port)
            #expect(await auth(alice, "alice"))
            // In place before the ack: an execution published right after it reaches edge A.
            #expect(a.edge.users.users == ["alice"] && a.edge.stats.userSubscriptions == 1)
            publish("alice", 0)
            try await servicesClient.flush()
            #expect(await waitUntil(seconds: 5) { a.edge.stats.privateReceived == 1 })
            let bob = try RawWebSocket(port: b.port)
            #expect(await auth(bob, "bob"))
            // A second socket of Alice's on A shares the subscription.
            let alice2 = try RawWebSocket(port: a.port)
            #expect(await auth(alice2, "alice"))
            #expect(a.edge.stats.userSubscriptions == 1 && b.edge.stats.userSubscriptions == 1)
            #expect(await subscribe(alice, ["executions.alice"]) == ["executions.alice": true])
            #expect(await subscribe(bob, ["executions.bob"]) == ["executions.bob": true])

            let total = 60
            var aliceSent = 0
            var bobSent = 0
            for n in 1...total {
                if n % 3 == 0 {
                    publish("bob", n)
                    bobSent += 1
                } else {
                    publish("alice", n)
                    aliceSent += 1
                }
            }
            try await servicesClient.flush()
            let (aliceTotal, bobTotal) = (aliceSent, bobSent)
            let gotAlice = await readData(alice, count: aliceSent)
            let gotBob = await readData(bob, count: bobSent)
            #expect(gotAlice.count == aliceSent && gotAlice.allSatisfy { $0.ch == "executions.alice" && $0.text.contains(#""user":"alice""#) })
            #expect(gotBob.count == bobSent && gotBob.allSatisfy { $0.ch == "executions.bob" && !$0.text.contains("alice") })
            // What each edge took from NATS: its own user's messages only, counted independently.
            #expect(await waitUntil(seconds: 5) { a.edge.stats.privateReceived == aliceTotal + 1 && b.edge.stats.privateReceived == bobTotal })
            #expect(a.bus.channels(matching: ChannelName(kind: .executions, scope: "*")) == [ChannelName(kind: .executions, scope: "alice")])
            #expect(b.bus.channels(matching: ChannelName(kind: .executions, scope: "*")) == [ChannelName(kind: .executions, scope: "bob")])
            #expect(!a.edge.users.readsHistory && a.edge.stats.privateForeign == 0 && b.edge.stats.privateForeign == 0)
            #expect(a.edge.stats.slowPrivateHistory == 0 && b.edge.stats.slowPrivateHistory == 0)

            // Alice's first socket leaves: the second keeps the subscription; when it leaves too, A unsubscribes.
            alice.close()
            try await Task.sleep(for: .milliseconds(300))
            #expect(a.edge.stats.userSubscriptions == 1)
            alice2.close()
            #expect(await waitUntil(seconds: 5) { a.edge.stats.userSubscriptions == 0 && a.edge.users.users.isEmpty })
            let receivedA = a.edge.stats.privateReceived
            for n in 100..<110 { publish("alice", n) }
            try await servicesClient.flush()
            try await Task.sleep(for: .milliseconds(500))
            #expect(a.edge.stats.privateReceived == receivedA, "edge A still receives Alice's events after she left")
            #expect(b.edge.stats.privateReceived == bobSent, "edge B receives Alice's events")

            // Bob re-authenticates as Carol: B drops Bob's subject, takes Carol's.
            #expect(await auth(bob, "carol", id: 11))
            #expect(await waitUntil(seconds: 5) { b.edge.users.users == ["carol"] && b.edge.stats.userSubscriptions == 1 })
            publish("bob", 200)
            publish("carol", 201)
            try await servicesClient.flush()
            #expect(await waitUntil(seconds: 5) { b.edge.stats.privateReceived == bobTotal + 1 })
            try await Task.sleep(for: .milliseconds(300))
            #expect(b.edge.stats.privateReceived == bobSent + 1, "only Carol's event after the re-auth")

            // Carol's session is revoked: unsubscribed.
            #expect(await b.hub.revokeSessions(of: "carol") == 1)
            #expect(await waitUntil(seconds: 5) { b.edge.stats.userSubscriptions == 0 && b.edge.users.users.isEmpty })
            bob.close()
            await a.stop()
            await b.stop()
            await servicesClient.close()
        }
    }
}
