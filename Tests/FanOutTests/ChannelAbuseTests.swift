import Bus
import FanOut
import Foundation
import MarketCore
import Synchronization
import Testing
import _TestSupport

/// Issue 16, defect 3: made-up channels, huge acks, and a client that asks for much and reads
/// nothing. Each test failed on the code before the fix (noted per test).
@Suite("Fan-out channel abuse", .serialized, .timeLimit(.minutes(1)))
struct ChannelAbuseTests {
    /// Old code: every subscribe created a permanent bus channel (1,000 here; 40,000 in 17 s in
    /// the attack) and answered with an ack.
    static var unthrottled: FanOutOptions {
        var o = FanOutOptions()
        o.messagesPerSecond = 10_000
        o.messageBurst = 10_000
        return o
    }

    @Test func madeUpSymbolsAreRefusedAndCreateNoChannels() async throws {
        try await withFanOut(options: Self.unthrottled, instruments: ["binance": ["BTC-USDT"], "okx": ["ETH-USDT"]]) { bus, hub, port in
            let c = try RawWebSocket(port: port)
            for i in 0..<200 {
                c.send(#"{"op":"subscribe","id":\#(i),"channels":["trades.binance.PH\#(i)Z"]}"#)
                let r = try #require(c.readJSON())
                #expect(r.type == "error" && r["code"] as? String == "bad_channel", "\(r)")
                #expect((r["message"] as? String)?.contains("unknown symbol 'PH\(i)Z'") == true)
            }
            // A symbol another venue carries is still unknown on this one; a wildcard venue needs
            // some venue to carry it.
            c.send(#"{"op":"subscribe","id":"x","channels":["book.binance.ETH-USDT"]}"#)
            #expect(c.readJSON()?["message"] as? String == "unknown symbol 'ETH-USDT' in book.binance.ETH-USDT (binance carries: BTC-USDT)")
            c.send(#"{"op":"subscribe","id":"y","channels":["candles.1m.*.NOPE-USDT"]}"#)
            #expect(c.readJSON()?["code"] as? String == "bad_channel")
            c.send(#"{"op":"subscribe","id":"z","channels":["signals.rsi.NOPE-USDT"]}"#)
            #expect(c.readJSON()?["code"] as? String == "bad_channel")
            #expect(bus.stats.channels == 0)
            #expect(hub.stats.clientErrors["bad_channel"] == 203)

            // Carried instruments and wildcards still work, on any venue that carries them.
            c.send(#"{"op":"subscribe","id":1,"channels":["trades.binance.BTC-USDT","trades.*.ETH-USDT","trades.okx.*"]}"#)
            let ack = try #require(c.readJSON())
            #expect(ack.type == "ack")
            bus.publish(Sample.trade(1))
            #expect(c.readJSON()?.ch == "trades.binance.BTC-USDT")

            // The update hook: a symbol added to the configuration can be subscribed at once.
            hub.setInstruments(["binance": ["BTC-USDT", "SOL-USDT"]])
            c.send(#"{"op":"subscribe","id":2,"channels":["trades.binance.SOL-USDT"]}"#)
            #expect(c.readJSON()?.type == "ack")
            c.send(#"{"op":"subscribe","id":3,"channels":["trades.okx.ETH-USDT"]}"#)
            #expect(c.readJSON()?["code"] as? String == "bad_channel")
        }
    }

    /// Old code: `attach` created the channel, so even names a configuration allows cost a
    /// channel each before any event; private and signal channels had no other check.
    @Test func subscribingCreatesNoBusChannelsOnlyPublishingDoes() async throws {
        try await withFanOut(options: Self.unthrottled) { bus, _, port in
            let c = try RawWebSocket(port: port)
            for i in 0..<100 {
                c.send(#"{"op":"subscribe","id":\#(i),"channels":["trades.binance.X\#(i)-USDT","signals.s\#(i).X-USDT"]}"#)
                let ack = try #require(c.readJSON())
                #expect(ack.type == "ack")
                let entries = try #require(ack["channels"] as? [[String: Any]])
                #expect(entries.map { ($0["seq"] as? NSNumber)?.intValue } == [0, 0])
                #expect(entries.map { $0["epoch"] as? String } == ["test", "test"])
                #expect(entries.allSatisfy { $0["recovered"] as? Bool == true })
                c.send(#"{"op":"unsubscribe","id":\#(i),"channels":["trades.binance.X\#(i)-USDT","signals.s\#(i).X-USDT"]}"#)
                _ = c.readJSON()
            }
            #expect(bus.stats.channels == 0)
            // A subscriber placed before the first event gets that event as seq 1 of the boot epoch.
            c.send(#"{"op":"subscribe","id":"t","channels":["trades.binance.BTC-USDT"],"since":{"trades.binance.BTC-USDT":{"seq":0,"epoch":"test"}}}"#)
            #expect((c.readJSON()?["channels"] as? [[String: Any]])?.first?["recovered"] as? Bool == true)
            bus.publish(Sample.trade(7))
            let f = try #require(c.readJSON())
            #expect(f.ch == "trades.binance.BTC-USDT" && f.seq == 1 && f["epoch"] as? String == "test")
            #expect(bus.stats.channels == 1)
        }
    }

    /// Old code: a wildcard subscribe answered with one ack entry per matching channel (3.2 MB
    /// for 40,000 channels from a 60-byte request); here 120 match and the cap is 50.
    @Test func aSubscribeMatchingMoreChannelsThanTheCapIsRefusedAndChangesNothing() async throws {
        var options = FanOutOptions()
        options.maxChannelsPerSubscribe = 50
        try await withFanOut(options: options) { bus, hub, port in
            for i in 0..<120 { bus.publish(Sample.trade(1, base: "S\(i)")) }
            let c = try RawWebSocket(port: port)
            c.send(#"{"op":"subscribe","id":9,"channels":["trades.binance.*"]}"#)
            let r = try #require(c.readJSON())
            #expect(r.type == "error" && r["code"] as? String == "too_many_channels" && r.int("id") == 9)
            #expect(r["message"] as? String == "subscription refused: trades.binance.* match more than 50 channels (at most 50 per subscribe); subscribe to narrower patterns")
            #expect(await hub.subscriberCount(ChannelName(kind: .trades, scope: "binance", symbol: "S1-USDT")) == 0)
            #expect(hub.stats.subscriptions == 0)
            #expect(hub.stats.limitRefusals["channels_per_subscribe"] == 1)
            // Across the patterns of one subscribe, channels are counted once each.
            let fifty = (0..<50).map { #""trades.binance.S\#($0)-USDT""# }.joined(separator: ",")
            c.send(#"{"op":"subscribe","id":10,"channels":[\#(fifty),"trades.*.S0-USDT"]}"#)
            let ack = try #require(c.readJSON())
            #expect(ack.type == "ack" && (ack["channels"] as? [Any])?.count == 50)
        }
    }

    /// The attack's last step: a client that never reads loops wildcard subscribe / unsubscribe
    /// over channels with large snapshots. Old code wrote every ack and snapshot to the socket
    /// unbounded (RSS 504 MB); now its queue is bounded in bytes and it is closed with 4008,
    /// while another client keeps its round trip and HTTP keeps answering.
    @Test func aNonReadingClientLoopingWildcardSubscribesIsClosedAndOthersKeepTheirLatency() async throws {
        var options = FanOutOptions()
        options.messagesPerSecond = 5000
        options.messageBurst = 5000
        options.maxOutstandingBytes = 1 << 20
        options.writeBufferHighWater = 64 * 1024
        options.socketSendBuffer = 16 * 1024
        try await withFanOut(options: options) { bus, hub, port in
            for i in 0..<40 { bus.publish(Sample.book(base: "B\(i)", levels: 200)) }
            let bystander = try Bystander(port: port)
            let attacker = try RawWebSocket(port: port, receiveBuffer: 4096)
            let sent = await onThread { () -> Int in
                var n = 0
                let deadline = Date().addingTimeInterval(20)
                // Until the server drops the connection (a send fails) or the time is up.
                while Date() < deadline,
                    attacker.send(#"{"op":"subscribe","id":\#(n),"channels":["book.binance.*"]}"#),
                    attacker.send(#"{"op":"unsubscribe","id":\#(n),"channels":["book.binance.*"]}"#)
                {
                    n += 1
                }
                return n
            }
            _ = await bystander.stopAndCheck()
            #expect(sent > 0)
            #expect(hub.stats.limitRefusals["outstanding_bytes"] == 1)
            #expect(hub.stats.slowDisconnects == 1)
            try await eventually("the attacker's queue is released") { hub.stats.queuedFrames == 0 && hub.stats.connections == 0 }
        }
    }
}
