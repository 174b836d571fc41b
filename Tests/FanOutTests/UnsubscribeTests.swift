import Bus
import FanOut
import Foundation
import MarketCore
import Testing
import _TestSupport

@Suite("Fan-out unsubscribe", .timeLimit(.minutes(1)))
struct UnsubscribeTests {
    /// Like a subscribe, an unsubscribe is all or nothing (docs/protocol.md "Server → client").
    @Test func anUnsubscribeWithABadNameChangesNothing() async throws {
        try await withFanOut { bus, hub, port in
            let trades = ChannelName(kind: .trades, scope: "binance", symbol: "BTC-USDT")
            let c = try RawWebSocket(port: port)
            c.send(#"{"op":"subscribe","id":1,"channels":["trades.binance.BTC-USDT","status.binance"]}"#)
            #expect(c.readJSON()?.type == "ack")
            bus.publish(Sample.trade(1))
            #expect(c.readJSON()?.seq == 1)

            c.send(#"{"op":"unsubscribe","id":2,"channels":["trades.binance.BTC-USDT","nope.x"]}"#)
            let refused = try #require(c.readJSON())
            #expect(refused.type == "error" && refused["code"] as? String == "bad_channel" && refused.int("id") == 2, "\(refused)")
            #expect(hub.stats.subscriptions == 2)
            #expect(await hub.subscriberCount(trades) == 1)
            bus.publish(Sample.trade(2))
            #expect(c.readJSON()?.seq == 2)

            c.send(#"{"op":"unsubscribe","id":3,"channels":["trades.binance.BTC-USDT"]}"#)
            let ack = try #require(c.readJSON())
            #expect(ack.type == "ack" && (ack["channels"] as? [[String: Any]])?.first?["ch"] as? String == "trades.binance.BTC-USDT")
            #expect(hub.stats.subscriptions == 1)
            #expect(await hub.subscriberCount(trades) == 0)
        }
    }
}
