@testable import Feeds
import Foundation
import MarketCore
import Normalizer
import Testing
import Venues

/// FeedSession's decisions as a value: time is a number passed in, nothing sleeps, nothing
/// connects. Expectations come from the venues' documents and the configured timers
/// (`FeedSettings.defaults`: reconnect 1 s doubling to 60 s, stale after 30 s, OKX ping every 25 s,
/// Kraken 30 s, Bybit 20 s, Binance rotation at 23 h 30 min before its 24 h forced disconnect).
@Suite("FeedSessionMachine")
struct FeedSessionMachineTests {
    static let s: Int64 = 1_000_000_000
    static let t0: Int64 = 1_733_000_000 * s

    static func machine(
        _ venue: Venue, symbols: [String] = ["BTC-USDT"], bookResync: BookResync? = nil, _ tweak: (inout FeedSettings) -> Void = { _ in }
    ) throws -> FeedSessionMachine {
        var settings = FeedSettings.defaults(for: venue, symbols: symbols)
        tweak(&settings)
        return FeedSessionMachine(plan: try VenueFeedPlan(settings), bookResync: bookResync)
    }

    static func text(_ s: String) -> [UInt8] { Array(s.utf8) }

    // MARK: Backoff

    @Test func backoffDoublesFromOneSecondUpToSixtyAndResetsAfterData() throws {
        var m = try Self.machine(.binance)
        // Connections that never delivered a frame: 1, 2, 4, … capped at 60 s.
        let waits = (0..<8).map { _ in m.reconnectDelay(frames: 0, refused: false, jitter: 1) }
        #expect(waits == [1, 2, 4, 8, 16, 32, 60, 60].map { Duration.seconds($0) })
        // A connection that delivered data resets the backoff.
        #expect(m.reconnectDelay(frames: 5, refused: false, jitter: 1) == .seconds(1))
        #expect(m.reconnectDelay(frames: 0, refused: false, jitter: 1) == .seconds(2))
    }

    @Test func jitterScalesTheWaitByAtMostAQuarter() throws {
        var low = try Self.machine(.okx)
        var high = try Self.machine(.okx)
        #expect(low.reconnectDelay(frames: 0, refused: false, jitter: 0.75) == .milliseconds(750))
        #expect(high.reconnectDelay(frames: 0, refused: false, jitter: 1.25) == .milliseconds(1250))
    }

    @Test func aRefusalDoesNotResetTheBackoff() throws {
        var m = try Self.machine(.binance)
        _ = m.reconnectDelay(frames: 0, refused: false, jitter: 1)  // 1 s
        _ = m.reconnectDelay(frames: 0, refused: false, jitter: 1)  // 2 s
        // Frames came (the refusal answer itself), but the venue refused: keep backing off.
        #expect(m.reconnectDelay(frames: 3, refused: true, jitter: 1) == .seconds(4))
    }

    // MARK: Staleness

    @Test func aStreamWithNoFrameForThirtySecondsIsClosedAsStale() throws {
        var m = try Self.machine(.binance)
        let id = m.connecting(now: Self.t0)
        #expect(m.tick(id, now: Self.t0 + 30 * Self.s) == [], "30 s exactly is not yet stale")
        _ = m.received(Self.text(#"{"e":"trade"}"#), on: id, now: Self.t0 + 20 * Self.s, stamp: Self.t0 + 20 * Self.s)
        #expect(m.tick(id, now: Self.t0 + 45 * Self.s) == [], "a frame at 20 s moves the deadline to 50 s")
        let verdict = m.tick(id, now: Self.t0 + 50 * Self.s + 1)
        guard case .close(let reason, stale: true)? = verdict.first, verdict.count == 1 else {
            Issue.record("expected a stale close, got \(verdict)")
            return
        }
        #expect(reason.hasPrefix("stale"))
        // The close stays requested until the connection has ended.
        #expect(m.tick(id, now: Self.t0 + 51 * Self.s) == [.close(reason: reason, stale: false)])
        let ended = m.ended(id)
        #expect(ended.closeRequest == reason && ended.frames == 1 && ended.disconnected && !ended.handedOver)
        #expect(m.connections.isEmpty)
    }

    @Test func pollingIsAQuarterOfTheStaleTimeAtMostAQuarterSecond() throws {
        #expect(try Self.machine(.binance).pollInterval == .milliseconds(250))
        #expect(try Self.machine(.binance) { $0.staleAfter = .milliseconds(600) }.pollInterval == .milliseconds(150))
    }

    // MARK: Heartbeats

    /// Ticks every 250 ms for `seconds` with a frame every second (so nothing goes stale); the pings sent.
    static func pings(_ m: inout FeedSessionMachine, seconds: Int64) -> [(at: Int64, text: String)] {
        let id = m.connecting(now: t0)
        var out: [(Int64, String)] = []
        var t = t0
        while t <= t0 + seconds * s {
            t += s / 4
            if (t - t0) % s == 0 { _ = m.received(text("{}"), on: id, now: t, stamp: t) }
            for case .ping(let p) in m.tick(id, now: t) { out.append(((t - t0) / (s / 4), p)) }
        }
        return out
    }

    @Test func okxIsPingedEveryTwentyFiveSeconds() throws {
        var m = try Self.machine(.okx)
        let pings = Self.pings(&m, seconds: 80)
        // OKX: send the string "ping" if nothing was sent for < 30 s.
        #expect(pings.map(\.at) == [100, 200, 300], "quarter-seconds since open")
        #expect(pings.allSatisfy { $0.text == "ping" })
    }

    @Test func krakenPingsEveryThirtySecondsWithIncreasingRequestIDs() throws {
        var m = try Self.machine(.kraken)
        let pings = Self.pings(&m, seconds: 70)
        #expect(pings.map(\.at) == [120, 240])
        #expect(pings.map(\.text) == [#"{"event":"ping","reqid":1}"#, #"{"event":"ping","reqid":2}"#])
    }

    @Test func bybitPingsEveryTwentySeconds() throws {
        var m = try Self.machine(.bybit)
        let pings = Self.pings(&m, seconds: 45)
        #expect(pings.map(\.at) == [80, 160])
        // Bybit v5: {"req_id": "...", "op": "ping"}.
        let json = try pings.map { try JSONSerialization.jsonObject(with: Data($0.text.utf8)) as? [String: String] }
        #expect(json.allSatisfy { $0?["op"] == "ping" && $0?["req_id"] != nil })
    }

    @Test func binanceIsNeverPingedByUs() throws {
        // Binance pings the client (answered by the websocket layer); no application heartbeat.
        var m = try Self.machine(.binance)
        #expect(Self.pings(&m, seconds: 120).isEmpty)
    }

    // MARK: Subscribing

    @Test func everyConnectSubscribesEverythingAgainAndBinanceFetchesSnapshots() throws {
        var m = try Self.machine(.binance)
        let first = m.connecting(now: Self.t0)
        let steps = m.opened(first)
        guard case .send(let message)? = steps.first else { Issue.record("\(steps)"); return }
        let json = try JSONSerialization.jsonObject(with: Data(message.utf8)) as? [String: Any]
        #expect(json?["method"] as? String == "SUBSCRIBE")
        #expect((json?["params"] as? [String])?.contains("btcusdt@trade") == true)
        // REST-synced books: depth snapshots after the configured 300 ms, once diffs are buffered.
        #expect(steps.last == .fetchSnapshots(after: .milliseconds(300)))
        #expect(m.isCurrent(first))

        _ = m.ended(first)
        let second = m.connecting(now: Self.t0 + 5 * Self.s)
        #expect(second != first)
        #expect(m.opened(second) == steps, "a reconnect resubscribes the same streams")
        #expect(m.isCurrent(second) && !m.isCurrent(first))
        #expect(m.opened == 2)
    }

    @Test func subscribeMessagesArePacedForBinancesFiveMessagesASecond() throws {
        // 100 symbols × 3 streams, 200 streams a message: two messages, 250 ms apart.
        let symbols = (0..<100).map { "C\($0)-USDT" }
        let m = try Self.machine(.binance, symbols: symbols)
        let steps = m.opened(1)
        #expect(steps.count == 4)
        #expect(steps[1] == .pause(.milliseconds(250)))
        if case .send = steps[0], case .send = steps[2] {} else { Issue.record("\(steps)") }
    }

    @Test func streamSnapshotVenuesFetchNoRESTSnapshot() throws {
        var m = try Self.machine(.coinbase, symbols: ["BTC-USD"])
        let id = m.connecting(now: Self.t0)
        #expect(!m.opened(id).contains { if case .fetchSnapshots = $0 { true } else { false } })
    }

    // MARK: Refusals

    @Test func aRefusedSubscriptionClosesTheConnectionAndIsReported() throws {
        var m = try Self.machine(.binance)
        let id = m.connecting(now: Self.t0)
        // Binance's answer to a bad request.
        let r = m.received(Self.text(#"{"error":{"code":2,"msg":"Invalid request"},"id":1}"#), on: id, now: Self.t0 + Self.s, stamp: Self.t0 + Self.s)
        #expect(r.refused)
        guard case .close(let reason, stale: false)? = m.tick(id, now: Self.t0 + Self.s).first else { Issue.record("no close"); return }
        #expect(reason.hasPrefix("subscription refused"))
        let ended = m.ended(id)
        #expect(ended.refused && ended.frames == 1)
    }

    @Test func anOrdinaryFrameIsNotARefusal() throws {
        var m = try Self.machine(.okx, symbols: ["BTC-USDT"])
        let id = m.connecting(now: Self.t0)
        let r = m.received(Self.text(#"{"event":"subscribe","arg":{"channel":"trades","instId":"BTC-USDT"}}"#), on: id, now: Self.t0, stamp: Self.t0)
        #expect(!r.refused && !r.rotate)
        #expect(r.forward.count == 1 && r.connection == id)
    }

    /// Each venue's documented refusal closes the connection (the adapter reads it, not a substring).
    @Test(arguments: [
        (Venue.coinbase, "BTC-USD", #"{"type":"error","message":"Failed to subscribe","reason":"BTC-XYZ is not a valid product"}"#),
        (.kraken, "BTC-USD", #"{"errorMessage":"Currency pair not supported","event":"subscriptionStatus","pair":"XBT/USD","reqid":1,"status":"error","subscription":{"depth":1000,"name":"book"}}"#),
        (.okx, "BTC-USDT", #"{"event":"error","code":"60018","msg":"Wrong URL or channel:trades,instId:BTC-XYZ doesn't exist.","connId":"a4d3ae55"}"#),
        (.bybit, "BTC-USDT", #"{"success":false,"ret_msg":"Invalid symbol :[orderbook.50.BTCUSDX]","conn_id":"cfcb4bfb","req_id":"","op":"subscribe"}"#),
    ])
    func everyVenuesRefusalClosesTheConnection(_ venue: Venue, _ symbol: String, _ frame: String) throws {
        var m = try Self.machine(venue, symbols: [symbol])
        let id = m.connecting(now: Self.t0)
        #expect(m.received(Self.text(frame), on: id, now: Self.t0, stamp: Self.t0).refused)
        guard case .close(let reason, stale: false)? = m.tick(id, now: Self.t0).first else { Issue.record("no close"); return }
        #expect(reason.hasPrefix("subscription refused"))
    }

    @Test func aPongIsCountedAndClosesNothing() throws {
        var m = try Self.machine(.okx, symbols: ["BTC-USDT"])
        let id = m.connecting(now: Self.t0)
        let r = m.received(Self.text("pong"), on: id, now: Self.t0, stamp: Self.t0)
        #expect(!r.refused && !r.rotate)
        #expect(m.connections[id]?.pongs == 1)
        #expect(m.tick(id, now: Self.t0) == [])
    }

    /// OKX 64008 "will soon be closed … Please reconnect": OKX has no rotation, so the session
    /// closes the connection and reconnects ahead of the cut.
    @Test func anOKXNoticeReconnects() throws {
        var m = try Self.machine(.okx, symbols: ["BTC-USDT"])
        let id = m.connecting(now: Self.t0)
        let notice = #"{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a4d3ae55"}"#
        let r = m.received(Self.text(notice), on: id, now: Self.t0, stamp: Self.t0)
        #expect(!r.rotate && !r.refused)
        guard case .close(let reason, stale: false)? = m.tick(id, now: Self.t0).first else { Issue.record("no close"); return }
        #expect(reason.contains("64008"))
    }

    // MARK: Rotation and shutdown notices

    @Test func binanceRotatesAtTwentyThreeAndAHalfHours() throws {
        var m = try Self.machine(.binance)
        let id = m.connecting(now: Self.t0)
        let due = Self.t0 + (23 * 3600 + 30 * 60) * Self.s
        _ = m.received(Self.text("{}"), on: id, now: due - Self.s, stamp: due - Self.s)
        #expect(m.tick(id, now: due - Self.s / 2) == [])
        _ = m.received(Self.text("{}"), on: id, now: due, stamp: due)
        #expect(m.tick(id, now: due) == [.rotate])
        #expect(m.beginRotation() == id + 1)
        #expect(m.tick(id, now: due + Self.s / 4) == [], "no second rotation while one runs")
        #expect(m.beginRotation() == nil)
    }

    @Test func aShutdownNoticeRotatesWithoutLosingOrRepeatingFrames() throws {
        var m = try Self.machine(.binance)
        let old = m.connecting(now: Self.t0)
        #expect(m.received(Self.text("f1"), on: old, now: Self.t0, stamp: Self.t0).forward.map(\.frame) == [Self.text("f1")])
        // Binance announces a shutdown of the connection.
        let notice = m.received(Self.text(#"{"e":"serverShutdown","E":1723161300000}"#), on: old, now: Self.t0 + 1, stamp: Self.t0 + 1)
        #expect(notice.rotate)
        guard let new = m.beginRotation() else { Issue.record("no rotation"); return }
        #expect(m.connecting(now: Self.t0 + 2, candidate: new) == new)
        #expect(!m.opened(new).contains(.fetchSnapshots(after: .milliseconds(300))), "the candidate's book continues, no snapshot")
        // A second notice during the rotation starts nothing.
        #expect(!m.received(Self.text(#"{"e":"serverShutdown","E":1723161300001}"#), on: old, now: Self.t0 + 3, stamp: Self.t0 + 3).rotate)
        // The new connection holds f2 back until the old one reaches it.
        #expect(m.received(Self.text("f2"), on: new, now: Self.t0 + 4, stamp: Self.t0 + 4).forward.isEmpty)
        let sw = m.received(Self.text("f2"), on: old, now: Self.t0 + 5, stamp: Self.t0 + 5)
        #expect(sw.retired == old && sw.connection == new && sw.forward.map(\.frame) == [Self.text("f2")])
        #expect(m.received(Self.text("f3"), on: new, now: Self.t0 + 6, stamp: Self.t0 + 6).forward.map(\.frame) == [Self.text("f3")])
        // The old connection is closed by its timer and hands over: no reconnect, still connected.
        #expect(m.tick(old, now: Self.t0 + 7) == [.close(reason: "rotated to connection \(new)", stale: false)])
        let ended = m.ended(old)
        #expect(ended.handedOver && !ended.disconnected)
        #expect(m.isCurrent(new))
    }

    @Test func aCandidateThatFailsLeavesTheOldConnectionCurrent() throws {
        var m = try Self.machine(.binance)
        let old = m.connecting(now: Self.t0)
        guard let new = m.beginRotation() else { Issue.record("no rotation"); return }
        _ = m.connecting(now: Self.t0, candidate: new)
        let ended = m.ended(new)
        #expect(!ended.handedOver && !ended.disconnected, "the old connection still carries the stream")
        #expect(m.isCurrent(old))
        #expect(m.beginRotation() == new + 1, "a later rotation may start")
    }

    @Test func theOldConnectionDyingMidRotationHandsOverToTheCandidate() throws {
        var m = try Self.machine(.binance)
        let old = m.connecting(now: Self.t0)
        guard let new = m.beginRotation() else { Issue.record("no rotation"); return }
        _ = m.connecting(now: Self.t0, candidate: new)
        let ended = m.ended(old)
        #expect(ended.handedOver && !ended.disconnected)
        #expect(m.isCurrent(new))
    }

    // MARK: Resync requests

    static func instrument(_ venue: Venue, _ native: String) -> Instrument {
        Instrument(venue: venue, base: "BTC", quote: "USD", nativeSymbol: native)
    }

    @Test func restVenuesResyncWithASnapshotRequest() throws {
        var m = try Self.machine(.binance)
        _ = m.connecting(now: Self.t0)
        #expect(m.request(.bookResync(Self.instrument(.binance, "BTCUSDT")), now: Self.t0) == .fetchSnapshot(native: "BTCUSDT"))
        #expect(
            m.request(.tradeBackfill(Self.instrument(.binance, "BTCUSDT"), firstMissing: 10, lastMissing: 20, stream: .aggregated), now: Self.t0)
                == .backfill(native: "BTCUSDT", first: 10, last: 20, stream: .aggregated))
    }

    @Test func venuesThatCannotResubscribeOneBookReconnectAtMostEveryTwoSeconds() throws {
        var m = try Self.machine(.kraken, symbols: ["BTC-USD"], bookResync: .reconnect)
        let id = m.connecting(now: Self.t0)
        let btc = Self.instrument(.kraken, "XBT/USD")
        #expect(m.request(.bookResync(btc), now: Self.t0) == nil)
        guard case .close(let reason, stale: false)? = m.tick(id, now: Self.t0).first else { Issue.record("no close"); return }
        #expect(reason.hasPrefix("resync BTC-USD"))
        _ = m.ended(id)
        let next = m.connecting(now: Self.t0 + Self.s)
        _ = m.received(Self.text("{}"), on: next, now: Self.t0 + Self.s, stamp: Self.t0 + Self.s)
        // Within 2 s of the last resync reconnect: ignored.
        _ = m.request(.bookResync(btc), now: Self.t0 + 2 * Self.s)
        #expect(m.tick(next, now: Self.t0 + 2 * Self.s) == [])
        // After 2 s: reconnect again.
        _ = m.request(.bookResync(btc), now: Self.t0 + 2 * Self.s + 1)
        #expect(m.tick(next, now: Self.t0 + 2 * Self.s + 1).first.map { if case .close = $0 { true } else { false } } == true)
    }

    // MARK: Resync of one book on the live connection

    static let okxSymbols = ["ONT-USDT", "XMR-USDT-PERP", "TRX-USDT-20210924"]
    static let xmr = Instrument(venue: .okx, base: "XMR", quote: "USDT", kind: .perpetual, nativeSymbol: "XMR-USDT-SWAP")
    /// OKX v5 (https://www.okx.com/docs-v5/en/#overview-websocket-unsubscribe): the one book channel of the one instrument.
    static let xmrResubscribe: [FeedSessionMachine.TimerAction] = [
        .send(#"{"op":"unsubscribe","args":[{"channel":"books","instId":"XMR-USDT-SWAP"}]}"#),
        .send(#"{"op":"subscribe","args":[{"channel":"books","instId":"XMR-USDT-SWAP"}]}"#),
    ]

    @Test func aResubscribingVenueResyncsOneBookWithoutClosingTheConnection() throws {
        var m = try Self.machine(.okx, symbols: Self.okxSymbols)
        let id = m.connecting(now: Self.t0)
        _ = m.received(Self.text("{}"), on: id, now: Self.t0, stamp: Self.t0)
        #expect(m.request(.bookResync(Self.xmr), now: Self.t0) == nil, "no REST job")
        // The connection's next tick sends unsubscribe + subscribe for that book alone; no close.
        #expect(m.tick(id, now: Self.t0 + 1) == Self.xmrResubscribe)
        #expect(m.connections[id]?.closeRequest == nil)
        // While its snapshot is awaited, another request for it sends nothing more.
        _ = m.request(.bookResync(Self.xmr), now: Self.t0 + 2)
        #expect(m.tick(id, now: Self.t0 + 3) == [])
        // The pipeline saw it valid again; a new gap within 2 s of the last resubscription waits for the 2 s.
        m.bookResynced(native: "XMR-USDT-SWAP")
        #expect(m.resubscribing.isEmpty)
        _ = m.request(.bookResync(Self.xmr), now: Self.t0 + Self.s)
        #expect(m.tick(id, now: Self.t0 + Self.s) == [])
        #expect(m.tick(id, now: Self.t0 + 2 * Self.s) == [])
        #expect(m.tick(id, now: Self.t0 + 2 * Self.s + 1) == Self.xmrResubscribe)
        #expect(m.connections[id]?.closeRequest == nil)
    }

    @Test func aResubscribedBookWithoutASnapshotAfterTenSecondsFallsBackToAReconnect() throws {
        var m = try Self.machine(.okx, symbols: Self.okxSymbols)
        let id = m.connecting(now: Self.t0)
        _ = m.request(.bookResync(Self.xmr), now: Self.t0)
        #expect(m.tick(id, now: Self.t0) == Self.xmrResubscribe)
        for k in 1...10 { _ = m.received(Self.text("{}"), on: id, now: Self.t0 + Int64(k) * Self.s, stamp: 0) }
        #expect(m.tick(id, now: Self.t0 + 10 * Self.s) == [])
        guard case .close(let reason, stale: false)? = m.tick(id, now: Self.t0 + 10 * Self.s + 1).first else {
            Issue.record("no close")
            return
        }
        #expect(reason.hasPrefix("resync XMR-USDT-SWAP: no snapshot"))
        // The reconnect subscribes every book afresh: nothing is left waiting on the next connection.
        _ = m.ended(id)
        #expect(m.resubscribing.isEmpty && m.resubscribeDue.isEmpty)
        let next = m.connecting(now: Self.t0 + 11 * Self.s)
        #expect(m.tick(next, now: Self.t0 + 30 * Self.s).allSatisfy { if case .close = $0 { false } else { true } })
    }

    @Test func aBookTheFeedDidNotSubscribeIsNotResubscribed() throws {
        var m = try Self.machine(.okx, symbols: ["ONT-USDT"])
        let id = m.connecting(now: Self.t0)
        _ = m.request(.bookResync(Self.xmr), now: Self.t0)
        #expect(m.tick(id, now: Self.t0 + 1) == [])
    }

    @Test func aRequestDueWhenTheConnectionEndsIsDroppedWithIt() throws {
        var m = try Self.machine(.okx, symbols: Self.okxSymbols)
        let id = m.connecting(now: Self.t0)
        _ = m.request(.bookResync(Self.xmr), now: Self.t0)
        _ = m.ended(id)
        let next = m.connecting(now: Self.t0 + Self.s)
        #expect(m.tick(next, now: Self.t0 + Self.s) == [], "the new connection subscribed every book already")
    }

    /// Each venue's documented unsubscribe and subscribe of one book channel, nothing else.
    @Test(arguments: [
        (
            Venue.kraken, "BTC-USD",
            [
                #"{"event":"unsubscribe","pair":["XBT/USD"],"subscription":{"name":"book","depth":1000}}"#,
                #"{"event":"subscribe","pair":["XBT/USD"],"subscription":{"name":"book","depth":1000}}"#,
            ]
        ),
        (
            Venue.coinbase, "BTC-USD",
            [
                #"{"type":"unsubscribe","product_ids":["BTC-USD"],"channels":["level2_batch","heartbeat"]}"#,
                #"{"type":"subscribe","product_ids":["BTC-USD"],"channels":["level2_batch","heartbeat"]}"#,
            ]
        ),
        (
            Venue.bybit, "BTC-USDT-PERP",
            [
                #"{"req_id":"1","op":"unsubscribe","args":["orderbook.200.BTCUSDT"]}"#,
                #"{"req_id":"1","op":"subscribe","args":["orderbook.200.BTCUSDT"]}"#,
            ]
        ),
        (
            Venue.okx, "BTC-USDT",
            [
                #"{"op":"unsubscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#,
                #"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#,
            ]
        ),
    ])
    func resubscribeMessagesTouchOneBookChannel(_ venue: Venue, _ symbol: String, _ expected: [String]) throws {
        let plan = try VenueFeedPlan(FeedSettings.defaults(for: venue, symbols: [symbol, symbol.replacingOccurrences(of: "BTC", with: "ETH")]))
        #expect(plan.bookResync == .resubscribe)
        #expect(plan.resubscribeBookMessages(native: plan.natives[0].native) == expected)
    }

    @Test func binanceResyncsOverRESTStill() throws {
        #expect(try VenueFeedPlan(FeedSettings.defaults(for: .binance, symbols: ["BTC-USDT"])).bookResync == .restSnapshot)
    }

    // MARK: Frames as bytes

    @Test func textFramesReachThePipelineByteForByte() {
        let ascii = Array(#"{"e":"trade","s":"BTCUSDT"}"#.utf8)
        #expect(FrameReader.handedOn(ascii, text: true) == ascii)
        let utf8 = Array(#"{"name":"Bitcoin ₿ ü"}"#.utf8)
        #expect(FrameReader.handedOn(utf8, text: true) == utf8)
        // Invalid UTF-8 in a text message is repaired as the websocket client's String did.
        let bad: [UInt8] = [0x7B, 0xFF, 0x7D]
        #expect(FrameReader.handedOn(bad, text: true) == [0x7B, 0xEF, 0xBF, 0xBD, 0x7D])
        #expect(FrameReader.handedOn(bad, text: false) == bad, "binary messages are untouched")
    }
}
