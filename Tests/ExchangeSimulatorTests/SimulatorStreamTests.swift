import ExchangeSimulator
import Foundation
import MarketCore
import Testing
import _TestSupport

/// The timeline as a subscribed client sees it, through real sockets.
@Suite struct SimulatorStreamTests {
    static let spot = "binance/spot-multi-2021-10-12.jsonl.gz"
    static let coinbase = "coinbase/exchange-level2-2021-04-17.jsonl.gz"

    @Test func subscribedClientReceivesTheCaptureByteForByte() async throws {
        let expected = try captureFrames(Self.spot)
        try await withSimulator(speed: 50, [(.binance, Self.spot)]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .binance, path: "stream"))
            probe.send(binanceSubscribe)
            await sim.waitUntilFinished(venue: .binance)
            let got = await probe.waitFor(count: expected.count)
            #expect(got.count == expected.count)
            // Byte-for-byte: the original text of every frame, in capture order.
            for i in 0..<min(got.count, expected.count) where Array(got[i].utf8) != Array(expected[i].utf8) {
                Issue.record("frame \(i) differs")
                break
            }
            let emitted = await sim.emittedFrames(venue: .binance)
            #expect(emitted.map(\.text) == expected)
            #expect(emitted.allSatisfy { $0.delivery == .sent && $0.recipients == 1 })
            // After the end the connection stays open and quiet.
            try await Task.sleep(for: .milliseconds(200))
            #expect(!probe.isEnded)
            #expect(probe.count == expected.count)
        }
    }

    @Test func anyPathAfterTheVenueIdIsAWebsocket() async throws {
        try await withSimulator(speed: 2, [(.binance, Self.spot)]) { sim in
            for path in ["", "ws", "v5/public/linear"] {
                let probe = Probe(url: sim.wsURL(venue: .binance, path: path))
                probe.send(binanceSubscribe)
                let got = await probe.waitFor(count: 3)
                #expect(got.count >= 3, "path '\(path)'")
            }
            #expect(await sim.connectionCount(venue: .binance) == 3)
        }
    }

    @Test func midStreamSubscriberGetsSnapshotsThenLiveFrames() async throws {
        try await withSimulator(speed: 4, [(.coinbase, Self.coinbase)]) { sim in
            let first = Probe(url: sim.wsURL(venue: .coinbase))
            first.send(coinbaseSubscribe)
            await first.waitFor(count: 1500)
            let late = Probe(url: sim.wsURL(venue: .coinbase))
            // Wait for the connection to be up before subscribing.
            await until(.seconds(5)) { await sim.stats(venue: .coinbase)?.openConnections == 2 }
            late.send(coinbaseSubscribe)
            let got = await late.waitFor(count: 50)
            let snapshots = got.prefix { jsonObject($0)?["type"] as? String == "snapshot" }
            #expect(snapshots.count == 10, "one snapshot per product with a book")
            // The snapshots are the model's books at the moment of subscribing; then live frames
            // continue from the timeline's position: the rest are original frames, in order.
            let live = Array(got.dropFirst(snapshots.count))
            let originals = await sim.emittedFrames(venue: .coinbase).map(\.text)
            let firstLive = try #require(live.first, "no live frame after the snapshots (got \(got.count) frames)")
            let start = try #require(originals.firstIndex(of: firstLive))
            #expect(Array(originals[start..<start + live.count]) == live)
            #expect(start > 0)
        }
    }

    @Test func timelineRunsWithoutClientsAndMissedFramesAreGone() async throws {
        try await withSimulator(speed: 10, [(.binance, Self.spot)]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .binance, path: "ws"))
            probe.send(binanceSubscribe)
            await probe.waitFor(count: 10)
            probe.close()
            await probe.waitForEnd()
            // Once the server has seen the close, frames go to nobody but the timeline goes on.
            await until(.seconds(10)) { await sim.stats(venue: .binance)?.openConnections == 0 }
            let seenClose = await sim.emittedFrames(venue: .binance).count
            await sim.waitUntilFinished(venue: .binance)
            let emitted = await sim.emittedFrames(venue: .binance)
            #expect(emitted.count == (try captureFrames(Self.spot)).count)
            #expect(seenClose < emitted.count, "the timeline outlives the client")
            #expect(emitted[seenClose...].allSatisfy { $0.recipients == 0 })
            let stats = try #require(await sim.stats(venue: .binance))
            #expect(stats.finished && stats.openConnections == 0)
        }
    }

    @Test func restUnknownPathsAre404() async throws {
        try await withSimulator(speed: 50, [(.binance, Self.spot)]) { sim in
            let base = sim.restBaseURL(venue: .binance)
            #expect(try await httpGet(base + "/api/v3/nothing?symbol=NKNUSDT").status == 404)
            #expect(try await httpGet(base + "/api/v3/depth?symbol=NOPE").status == 404)
            #expect(try await httpGet("http://127.0.0.1:\(sim.port)/nowhere/api/v3/depth").status == 404)
            let ok = try await httpGet(base + "/api/v3/depth?symbol=NKNUSDT&limit=5")
            #expect(ok.status == 200)
        }
    }
}
