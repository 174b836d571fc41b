import ExchangeSimulator
import Foundation
import MarketCore
import NIOWebSocket
import WSClient
import Testing
import _TestSupport

/// A Binance model with an application-level ping and a fake checksum, to exercise the core's
/// ping and corruption paths on a real capture.
struct PingingBinanceModel: VenueModel {
    var inner = BinanceModel(venue: .binance)
    mutating func observe(frame: String) -> FrameRole { inner.observe(frame: frame) }
    mutating func observeREST(url: String, body: String) { inner.observeREST(url: url, body: body) }
    func snapshotFrames() -> [String] { [] }
    func snapshotFrames(symbols: Set<String>) -> [String] { [] }
    func rest(path: String, query: [String: String]) -> String? { inner.rest(path: path, query: query) }
    /// Pretends depth diffs of BLZETH and NKNUSDT carry a checksum.
    func corruptingChecksum(_ frame: String) -> String? {
        (frame.contains("\"BLZETH\"") || frame.contains("\"NKNUSDT\"")) && frame.contains("depthUpdate") ? frame + " " : nil
    }
    func classify(clientText: String) -> ClientRequest {
        clientText == "ping" ? .ping(reply: "pong") : inner.classify(clientText: clientText)
    }
    func subscriptionError(for clientText: String) -> String { inner.subscriptionError(for: clientText) }
}

/// Each fault, observed by a real websocket or HTTP client.
@Suite struct SimulatorFaultTests {
    static let spot = "binance/spot-multi-2021-10-12.jsonl.gz"
    static let coinbase = "coinbase/exchange-level2-2021-04-17.jsonl.gz"

    @Test func closeConnectionsClosesEverySocketOfTheVenue() async throws {
        try await withSimulator(speed: 5, [(.binance, Self.spot), (.coinbase, Self.coinbase)]) { sim in
            let a = Probe(url: sim.wsURL(venue: .binance, path: "ws"))
            let b = Probe(url: sim.wsURL(venue: .binance, path: "ws"))
            let other = Probe(url: sim.wsURL(venue: .coinbase))
            a.send(binanceSubscribe)
            await a.waitFor(count: 2)
            await until(.seconds(5)) { await sim.stats(venue: .binance)?.openConnections == 2 }
            await sim.closeConnections(venue: .binance)
            let closeA = try await a.task.value
            let closeB = try await b.task.value
            #expect(closeA?.closeCode == .goingAway)
            #expect(closeB?.closeCode == .goingAway)
            #expect(!other.isEnded, "other venues keep their sockets")
            // A reconnect is counted and served (mid-stream now: live frames, Binance has no snapshots).
            let again = Probe(url: sim.wsURL(venue: .binance, path: "ws"))
            again.send(binanceSubscribe)
            await again.waitFor(count: 1)
            #expect(await sim.connectionCount(venue: .binance) == 3)
            #expect(again.count >= 1)
        }
    }

    @Test func silentVenueSendsNothingForThePeriod() async throws {
        try await withSimulator(speed: 10, [(.coinbase, Self.coinbase)]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .coinbase))
            probe.send(coinbaseSubscribe)
            await probe.waitFor(count: 200)
            await sim.goSilent(venue: .coinbase, for: .seconds(1))
            // The simulator's own record says which frames fell into the silence; wait until the
            // stream has resumed after them (no wall-clock assertion: a loaded machine only
            // shifts which frames are silenced, not the outcome).
            await until(.seconds(20)) {
                let e = await sim.emittedFrames(venue: .coinbase)
                guard let s = e.lastIndex(where: { $0.delivery == .silenced }) else { return false }
                return e[s...].contains { $0.delivery == .sent && $0.recipients > 0 }
            }
            let emitted = await sim.emittedFrames(venue: .coinbase)
            let silenced = emitted.filter { $0.delivery == .silenced }
            #expect(!silenced.isEmpty)
            let resumed = try #require(emitted.last { $0.delivery == .sent && $0.recipients > 0 })
            await until(.seconds(10)) { probe.received.contains(resumed.text) }
            #expect(probe.received.contains(resumed.text), "the stream resumes after the silence")
            #expect(!probe.isEnded, "the socket stays open")
            let got = Set(probe.received)
            #expect(silenced.allSatisfy { !got.contains($0.text) }, "nothing due during the silence arrives")
        }
    }

    @Test func silentVenueLeavesApplicationPingsUnanswered() async throws {
        let model = PingingBinanceModel()
        try await withSimulator(speed: 5, [(.binance, Self.spot)], models: [.binance: model]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .binance, path: "ws"))
            probe.send("ping")
            await probe.waitFor(count: 1)
            #expect(probe.received == ["pong"], "answered at once, before any subscribe")
            await sim.goSilent(venue: .binance, for: .milliseconds(600))
            probe.send("ping")
            try await Task.sleep(for: .milliseconds(400))
            #expect(probe.count == 1)
            try await Task.sleep(for: .milliseconds(300))
            probe.send("ping")
            await probe.waitFor(count: 2)
            #expect(probe.received == ["pong", "pong"])
        }
    }

    @Test func dropNextBookDeltaDropsExactlyThatFrame() async throws {
        let expected = try captureFrames(Self.spot)
        try await withSimulator(speed: 5, [(.binance, Self.spot)]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .binance, path: "ws"))
            probe.send(binanceSubscribe)
            await probe.waitFor(count: 5)
            await sim.dropNextBookDelta(venue: .binance, symbol: "BLZETH")
            await sim.waitUntilFinished(venue: .binance)
            let got = await probe.waitFor(count: expected.count - 1)
            try await Task.sleep(for: .milliseconds(100))
            let emitted = await sim.emittedFrames(venue: .binance)
            let dropped = emitted.filter { $0.delivery == .dropped }
            try #require(dropped.count == 1)
            #expect(dropped[0].role == .bookDelta(symbol: "BLZETH"))
            // It is the first BLZETH diff after the fault was armed; the client got everything else.
            var rest = expected
            rest.remove(at: dropped[0].index)
            #expect(probe.received == rest)
            #expect(got.count == expected.count - 1)
            #expect(expected[dropped[0].index].contains(#""s":"BLZETH""#))
            // The model still took it in: the exchange's book moved on.
            let model = try #require(await sim.model(venue: .binance) as? BinanceModel)
            let lastBLZ = expected.last { $0.contains("blzeth@depth") }!
            let u = try #require((jsonObject(lastBLZ)?["data"] as? [String: Any])?["u"] as? Int)
            #expect(model.lastUpdateID(symbol: "BLZETH") == Int64(u))
        }
    }

    @Test func dropNextFramesLosesASpan() async throws {
        try await withSimulator(speed: 20, [(.coinbase, Self.coinbase)]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .coinbase))
            probe.send(coinbaseSubscribe)
            await probe.waitFor(count: 100)
            await sim.dropNextFrames(venue: .coinbase, count: 25)
            await until(.seconds(30)) {
                let e = await sim.emittedFrames(venue: .coinbase)
                return e.filter { $0.delivery == .dropped }.count == 25 && e.last?.delivery == .sent
            }
            let emitted = await sim.emittedFrames(venue: .coinbase)
            let dropped = emitted.filter { $0.delivery == .dropped }.map(\.index)
            try #require(dropped.count == 25 && dropped[0] > 0 && dropped[24] + 1 < emitted.count)
            #expect(dropped == Array(dropped[0]..<dropped[0] + 25), "one contiguous span")
            // The client sees the frame before the span followed directly by the one after it.
            await until(.seconds(30)) { probe.received.contains(emitted[dropped[24] + 1].text) }
            let got = probe.received
            let before = try #require(got.firstIndex(of: emitted[dropped[0] - 1].text))
            #expect(got[before + 1] == emitted[dropped[24] + 1].text)
        }
    }

    @Test func corruptNextChecksumCorruptsOneFrame() async throws {
        let expected = try captureFrames(Self.spot)
        try await withSimulator(speed: 5, [(.binance, Self.spot)], models: [.binance: PingingBinanceModel()]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .binance, path: "ws"))
            probe.send(binanceSubscribe)
            await probe.waitFor(count: 5)
            await sim.corruptNextChecksum(venue: .binance)
            await sim.waitUntilFinished(venue: .binance)
            let got = await probe.waitFor(count: expected.count)
            let emitted = await sim.emittedFrames(venue: .binance)
            let corrupted = emitted.filter { if case .corrupted = $0.delivery { true } else { false } }
            try #require(corrupted.count == 1)
            let i = corrupted[0].index
            #expect(got[i] == expected[i] + " ")
            #expect(Array(got[..<i]) == Array(expected[..<i]))
            #expect(Array(got[(i + 1)...]) == Array(expected[(i + 1)...]))
        }
    }

    /// Armed for one symbol, the fault passes over other books' checksummed frames.
    @Test(.timeLimit(.minutes(1))) func corruptNextChecksumOfOneSymbolSkipsTheOthers() async throws {
        let expected = try captureFrames(Self.spot)
        try await withSimulator(speed: 5, [(.binance, Self.spot)], models: [.binance: PingingBinanceModel()]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .binance, path: "ws"))
            probe.send(binanceSubscribe)
            await probe.waitFor(count: 5)
            let armedAt = await sim.stats(venue: .binance)?.framesEmitted ?? 0
            await sim.corruptNextChecksum(venue: .binance, symbol: "BLZETH")
            await sim.waitUntilFinished(venue: .binance)
            let got = await probe.waitFor(count: expected.count)
            let emitted = await sim.emittedFrames(venue: .binance)
            let corrupted = emitted.filter { if case .corrupted = $0.delivery { true } else { false } }
            try #require(corrupted.count == 1)
            let i = corrupted[0].index
            #expect(corrupted[0].role == .bookDelta(symbol: "BLZETH"))
            #expect(got[i] == expected[i] + " ")
            // Every frame from arming to the corrupted one went out unchanged: among them an NKNUSDT
            // diff the unfiltered fault would have taken, and no BLZETH diff.
            let between = expected[armedAt..<i]
            #expect(between.contains { $0.contains("\"NKNUSDT\"") && $0.contains("depthUpdate") }, "no NKNUSDT diff in between: the test shows nothing")
            #expect(!between.contains { $0.contains("\"BLZETH\"") && $0.contains("depthUpdate") })
            #expect(Array(got[..<i]) == Array(expected[..<i]))
            #expect(Array(got[(i + 1)...]) == Array(expected[(i + 1)...]))
        }
    }

    @Test func refusedSubscriptionGetsTheVenueErrorAndNoData() async throws {
        try await withSimulator(speed: 5, [(.binance, Self.spot), (.coinbase, Self.coinbase)]) { sim in
            await sim.refuseSubscriptions(venue: .binance, count: 1)
            let probe = Probe(url: sim.wsURL(venue: .binance, path: "ws"))
            probe.send(#"{"method":"SUBSCRIBE","params":["nknusdt@trade"],"id":7}"#)
            await probe.waitFor(count: 1)
            try await Task.sleep(for: .milliseconds(300))
            #expect(probe.received == [#"{"error":{"code":-1121,"msg":"Invalid symbol."},"id":7}"#])
            #expect(await sim.stats(venue: .binance)?.started == false)
            // The next subscribe is served.
            probe.send(binanceSubscribe)
            await probe.waitFor(count: 10)
            #expect(probe.count >= 10)

            await sim.refuseSubscriptions(venue: .coinbase, count: 1)
            let cb = Probe(url: sim.wsURL(venue: .coinbase))
            cb.send(coinbaseSubscribe)
            let reply = try #require(await cb.waitFor(count: 1).first)
            let obj = try #require(jsonObject(reply))
            #expect(obj["type"] as? String == "error")
            #expect(obj["message"] as? String == "Failed to subscribe")
            #expect(obj["reason"] is String)
        }
    }

    @Test func restDelayDelaysTheAnswer() async throws {
        try await withSimulator(speed: 5, [(.binance, Self.spot)]) { sim in
            let url = sim.restBaseURL(venue: .binance) + "/api/v3/depth?symbol=NKNUSDT&limit=5"
            await sim.setRESTDelay(venue: .binance, .milliseconds(400))
            let clock = ContinuousClock()
            let started = clock.now
            let answer = try await httpGet(url)
            #expect(clock.now - started >= .milliseconds(400))
            #expect(answer.status == 200)
            await sim.setRESTDelay(venue: .binance, .zero)
            #expect(try await httpGet(url).status == 200)
        }
    }

    @Test func sendToAllReachesEveryOpenConnection() async throws {
        try await withSimulator(speed: 5, [(.binance, Self.spot)]) { sim in
            let idle = Probe(url: sim.wsURL(venue: .binance, path: "ws"))
            await until(.seconds(5)) { await sim.stats(venue: .binance)?.openConnections == 1 }
            let notice = #"{"e":"serverShutdown","E":1633998512000}"#
            await sim.sendToAll(venue: .binance, text: notice)
            #expect(await idle.waitFor(count: 1) == [notice])
        }
    }
}
