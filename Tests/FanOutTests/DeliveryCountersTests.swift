import Bus
import FanOut
import Foundation
import MarketCore
import Testing
import _TestSupport

/// The fan-out's delivery counters behind the ops page (`gateway_ws_bytes_sent_total`,
/// `gateway_ws_closes_total{code}`, `gateway_ws_frames_dropped_total`), checked against what a
/// client really receives on the wire.
@Suite("Fan-out delivery counters")
struct DeliveryCountersTests {
    static let subscribe = #"{"op":"subscribe","id":1,"channels":["trades.binance.BTC-USDT"]}"#

    /// RFC 6455 5.2: a server frame's header (unmasked) for a payload of `n` bytes.
    static func headerBytes(_ n: Int) -> Int { n < 126 ? 2 : n <= 65535 ? 4 : 10 }

    @Test(.timeLimit(.minutes(1)))
    func bytesAreTheDataFramesOnTheWireAndClosesCountByCode() async throws {
        try await withFanOut { bus, hub, port in
            let client = try RawWebSocket(port: port)
            client.send(Self.subscribe)
            #expect(client.readJSON()?.type == "ack")
            for i in 1...60 { bus.publish(Sample.trade(Int64(i))) }
            var frames = 0
            var wire = 0
            while frames < 60, let f = client.readFrame(timeout: 10) {
                guard f.opcode == 0x1 else { continue }  // server pings are not data
                frames += 1
                wire += Self.headerBytes(f.payload.count) + f.payload.count
            }
            #expect(frames == 60)
            let onTheWire = wire
            try await eventually("bytes counted") { hub.stats.bytesSent == onTheWire }
            #expect(hub.stats.framesSent == 60)

            // A client that closes: its code is echoed and counted.
            client.sendFrame(opcode: 0x8, payload: [0x03, 0xE8])  // 1000
            try await eventually("close 1000 counted") { hub.stats.closes[1000] == 1 }
            // A client that vanishes without a close handshake: 1006.
            let gone = try RawWebSocket(port: port)
            gone.send(Self.subscribe)
            #expect(gone.readJSON()?.type == "ack")
            gone.close()
            try await eventually("1006 counted") { hub.stats.closes[1006] == 1 }
            #expect(hub.stats.closes.values.reduce(0, +) == 2)
            #expect(hub.stats.framesDropped == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aSlowConsumerClosedWith4008CountsItsQueuedFramesAsDropped() async throws {
        var options = FanOutOptions()
        options.maxQueuedFrames = 300  // the queue discarded at the close holds more than this
        options.writeBufferHighWater = 16 * 1024
        options.socketSendBuffer = 16 * 1024
        options.closeTimeout = .seconds(30)
        try await withFanOut(options: options) { bus, hub, port in
            let slow = try RawWebSocket(port: port, receiveBuffer: 4096)
            slow.send(Self.subscribe)
            #expect(slow.readJSON()?.type == "ack")
            var n: Int64 = 0
            while hub.stats.slowDisconnects == 0 && n < 200_000 {
                for _ in 0..<100 {
                    n += 1
                    bus.publish(Sample.trade(n))
                }
                try await Task.sleep(for: .milliseconds(1))
            }
            #expect(hub.stats.slowDisconnects == 1)
            try await eventually("close 4008 counted") { hub.stats.closes[4008] == 1 }
            // The queue held more than the limit when it was discarded, and never more than was published.
            let dropped = hub.stats.framesDropped
            let published = Int(n)
            #expect(dropped > 300 && dropped <= published, "dropped \(dropped) of \(published)")
            slow.close()
        }
    }
}
