import Bus
import MarketCore
import NIOCore
import Testing

/// Service events on the bus (issue 18 §2): in-process subscribers get the typed value, and the
/// websocket bytes are the protocol's, written out here by hand from docs/trading.md's event shapes.
@Suite("Service events on the bus")
struct ServiceEventTests {
    static func d(_ s: String) -> WideDecimal { WideDecimal.parse(s)! }

    /// 2026-03-10T08:30:00Z (1773131400 s; UTC day 20522).
    static let t0: Int64 = 1_773_131_400_000_000_000

    static let fill = PaperFill(
        time: UnixNanos(t0 + 123_456_000), user: "alice", orderID: "ord-7", fillID: "ord-7-1",
        instrument: InstrumentKey(venue: "binance", symbol: "BTC-USDT"), side: .buy, orderType: .market, qty: d("0.5"),
        notional: d("50.005"), price: d("100.01"), fee: d("0.050005"), feeAsset: "USDC", slippageBps: d("1.25"), realizedPnL: nil,
        liquidity: "taker", remaining: d("0"), levels: 2, source: "agent:a1")
    static let fillJSON = #"""
        {"ch":"executions.alice","seq":1,"epoch":"boot1","type":"execution","data":{"type":"execution","user":"alice",\#
        "order_id":"ord-7","fill_id":"ord-7-1","venue":"binance","symbol":"BTC-USDT","side":"buy","order_type":"market",\#
        "qty":"0.5","price":"100.01","notional":"50.005","fee":"0.050005","fee_asset":"USDC","slippage_bps":"1.25",\#
        "realized_pnl":null,"liquidity":"taker","remaining":"0","levels":2,"source":"agent:a1","ts":"2026-03-10T08:30:00.123456Z"}}
        """#

    static let breaker = RiskEvent(
        kind: .tripped, user: "alice", time: UnixNanos(t0 + 5_400_000_000_000), day: 20522, loss: d("512.5"), limit: d("500"),
        by: "daily_loss", reason: "day loss reached the limit")
    static let breakerJSON = #"""
        {"ch":"executions.alice","seq":2,"epoch":"boot1","type":"circuit_breaker","data":{"type":"circuit_breaker",\#
        "user":"alice","ts":"2026-03-10T10:00:00.000Z","state":"tripped","by":"daily_loss","loss":"512.5","limit":"500",\#
        "day":"2026-03-10","reason":"day loss reached the limit"}}
        """#

    static let mood = MoodUpdate(
        user: "ann", time: UnixNanos(t0),
        reading: MoodReading(
            score: d("72.50"), state: .confident,
            factors: MoodFactors(pnl: d("10.00"), winRate: d("-3.00"), overtrading: d("0.00"), market: d("15.50")), reason: "steady"))
    static let moodJSON = #"""
        {"ch":"mood.ann","seq":1,"epoch":"boot1","type":"mood_update","data":{"type":"mood_update","user":"ann",\#
        "ts":"2026-03-10T08:30:00.000Z","score":"72.50","state":"confident","factors":{"pnl":"10.00","win_rate":"-3.00",\#
        "overtrading":"0.00","market":"15.50"},"reason":"steady"}}
        """#

    static let signal = TradeSignal(
        strategy: "ema_cross", venue: "okx", symbol: "ETH-USDT", interval: "1m", side: .sell, price: d("2500.5"),
        time: UnixNanos(t0 + 60_000_000_000), values: ["slow": d("2499.75"), "fast": d("2501.25")], reason: "fast crossed below slow")
    static let signalJSON = #"""
        {"ch":"signals.ema_cross.ETH-USDT","seq":1,"epoch":"boot1","type":"signal","data":{"type":"signal",\#
        "strategy":"ema_cross","venue":"okx","symbol":"ETH-USDT","interval":"1m","side":"sell","price":"2500.5",\#
        "ts":"2026-03-10T08:31:00.000Z","values":{"fast":"2501.25","slow":"2499.75"},"reason":"fast crossed below slow"}}
        """#

    static let alice = ChannelName(kind: .executions, scope: "alice")
    static let ann = ChannelName(kind: .mood, scope: "ann")
    static let ethSignals = ChannelName(kind: .signals, scope: "ema_cross", symbol: "ETH-USDT")

    /// Publishes the four events on a fresh bus; returns the frames its sinks saw.
    static func publishAll(on bus: MarketBus) -> [BusFrame] {
        let log = FrameLog()
        bus.addSink(log)
        bus.publish(.execution(fill), channel: alice)
        bus.publish(.circuitBreaker(breaker), channel: alice)
        bus.publish(.mood(mood), channel: ann)
        bus.publish(.signal(signal), channel: ethSignals)
        bus.removeSink(log)
        return log.all
    }

    @Test func theWireBytesAreTheProtocolsJSON() {
        let frames = Self.publishAll(on: MarketBus(bootID: "boot1"))
        let texts = frames.map { String(decoding: $0.json.readableBytesView, as: UTF8.self) }
        #expect(texts == [Self.fillJSON, Self.breakerJSON, Self.moodJSON, Self.signalJSON])
        #expect(frames.map(\.type) == ["execution", "circuit_breaker", "mood_update", "signal"])
        // Private and signal frames are never conflated, and never a subscribe-first snapshot.
        #expect(frames.allSatisfy { $0.conflationKey == nil && !$0.setsSnapshot })
        // The websocket frame is that JSON behind a text-frame header.
        for (f, text) in zip(frames, texts) {
            #expect(Array(f.wire.readableBytesView) == Array(WebSocketWire.frame(payload: Array(text.utf8)).readableBytesView))
        }
    }

    @Test(.timeLimit(.minutes(1))) func aSubscriberReceivesTheValuesNotBytes() async throws {
        let bus = MarketBus(bootID: "boot1")
        let sub = bus.subscribe([ChannelName(kind: .executions, scope: "*"), ChannelName(kind: .mood, scope: "*"),
                                 ChannelName(kind: .signals, scope: "*", symbol: "*")])
        _ = Self.publishAll(on: bus)
        var it = sub.makeAsyncIterator()
        var got: [BusMessage] = []
        for _ in 0..<4 { got.append(try #require(try await it.next())) }
        sub.cancel()
        #expect(got.map(\.service) == [.execution(Self.fill), .circuitBreaker(Self.breaker), .mood(Self.mood), .signal(Self.signal)])
        #expect(got.allSatisfy { $0.json == nil && $0.event == nil })
        #expect(got.map(\.type) == ["execution", "circuit_breaker", "mood_update", "signal"])
        #expect(got.map(\.seq) == [1, 2, 1, 1])
    }

    /// Every frame holds its payload inline, market frames on the hot path included: a service
    /// event (a fill is ~350 bytes) is boxed so it does not make them bigger.
    @Test func serviceEventsDoNotEnlargeMarketFrames() {
        #expect(MemoryLayout<BusPayload>.size == MemoryLayout<MarketEvent>.size)
    }

    /// A cluster edge relays the publisher's bytes and decodes nothing: its subscribers see `.raw`
    /// frames whose JSON is exactly what the publishing node wrote.
    @Test(.timeLimit(.minutes(1))) func aRelayedServiceFrameStaysTheSameBytes() async throws {
        let frames = Self.publishAll(on: MarketBus(bootID: "boot1"))
        let edge = MarketBus(bootID: "edge")
        let sub = edge.subscribe([ChannelName(kind: .mood, scope: "ann")])
        for f in frames {
            edge.relay(channel: f.channel, seq: f.seq, epoch: f.epoch, type: f.type, json: f.json, conflationBucket: nil, snapshotData: nil)
        }
        var it = sub.makeAsyncIterator()
        let m = try #require(try await it.next())
        sub.cancel()
        #expect(m.payload == .raw && m.service == nil)
        #expect(m.json.map { String(decoding: $0.readableBytesView, as: UTF8.self) } == Self.moodJSON)
    }
}
