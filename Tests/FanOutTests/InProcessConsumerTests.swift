import Bus
import Feeds
import FanOut
import Foundation
import MarketCore
import Testing
import _TestSupport

@Suite("In-process consumers")
struct InProcessConsumerTests {
    @Test func consumerSeesExactlyWhatAWebsocketClientSees() async throws {
        // Real events: a Binance capture replayed (trades, candles, books, statuses).
        let events = try ReplayedEvents(
            paths: [Fixtures.path("binance/spot-btcusdt-2024-08-08.jsonl.gz")], emit: [.trades, .candles, .books, .status]
        ).events.prefix(3000)
        let patterns = ["trades.*.*", "book.binance.*", "candles.*.*.*", "status.*"]
        try await withFanOut { bus, _, port in
            let client = try RawWebSocket(port: port)
            let list = patterns.map { "\"\($0)\"" }.joined(separator: ",")
            client.send(#"{"op":"subscribe","id":1,"channels":[\#(list)]}"#)
            #expect(client.readJSON()?.type == "ack")
            let sub = bus.subscribe(try patterns.map { try ChannelName(parsing: $0) }, capacity: 100_000)
            let reader = BackgroundReader(client)
            for e in events { bus.publish(e) }
            sub.cancel()
            var inProcess: [String] = []
            for try await m in sub {
                let line = try JSONSerialization.jsonObject(with: Data((m.event?.jsonLine ?? "{}").utf8))
                let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
                inProcess.append("\(m.channel) \(m.seq) \(m.type) \(String(decoding: data, as: UTF8.self))")
            }
            let expected = inProcess.count
            try await eventually("the websocket client has every frame") { reader.count >= expected }
            await reader.stop()
            #expect(inProcess.count >= events.count)
            let overWire = reader.all.map { "\($0.ch) \($0.seq) \($0.type) \($0.data)" }
            #expect(overWire.count == inProcess.count)
            #expect(overWire == inProcess)
        }
    }
}
