import ExchangeSimulator
import Foundation
import MarketCore
import Feeds
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

    /// As on OKX: an unsubscribed book stops coming (the other books do not), and subscribing it
    /// again starts it over from a fresh snapshot that the
    /// gateway's own parser and checksum accept.
    @Test(.timeLimit(.minutes(1)))
    func unsubscribeStopsOneBookAndResubscribeRestartsItWithASnapshot() async throws {
        let okx = "okx/v5-books-l2-tbt-2021-07-22.jsonl.gz"
        let ont = #""instId":"ONT-USDT""#
        func isBook(_ frame: String, _ inst: String) -> Bool { frame.contains(inst) && frame.contains(#""channel":"books-l2-tbt""#) }
        try await withSimulator(speed: 4, [(.okx, okx)]) { sim in
            let probe = Probe(url: sim.wsURL(venue: .okx))
            probe.send(#"{"op":"subscribe","args":[{"channel":"books-l2-tbt","instId":"ONT-USDT"}]}"#)
            await probe.waitFor(count: 300)
            // The pong answers after the unsubscribe was handled: what follows it is unsubscribed.
            probe.send(#"{"op":"unsubscribe","args":[{"channel":"books-l2-tbt","instId":"ONT-USDT"}]}"#)
            probe.send("ping")
            await until(.seconds(5)) { probe.received.contains("pong") }
            let unsubscribed = try #require(probe.received.firstIndex(of: "pong"))
            await probe.waitFor(count: unsubscribed + 300)
            probe.send(#"{"op":"subscribe","args":[{"channel":"books-l2-tbt","instId":"ONT-USDT"}]}"#)
            probe.send("ping")
            await until(.seconds(5)) { probe.received.filter { $0 == "pong" }.count == 2 }
            let resubscribed = try #require(probe.received.lastIndex(of: "pong"))
            await probe.waitFor(count: resubscribed + 200)
            let got = probe.received

            // The book's first frame after the unsubscribe is the snapshot answering the subscribe
            // (sent once 300 more frames had come); updates follow it.
            let firstBack = try #require(got[(unsubscribed + 1)...].firstIndex { isBook($0, ont) })
            #expect(firstBack >= unsubscribed + 300 && firstBack < resubscribed, "an unsubscribed book kept coming")
            #expect(got[firstBack].contains(#""action":"snapshot""#))
            let quiet = got[(unsubscribed + 1)..<firstBack]
            #expect(quiet.contains { isBook($0, #""instId":"XMR-USDT-SWAP""#) }, "the other books stopped too")
            let back = got[(firstBack + 1)...].filter { isBook($0, ont) }
            #expect(!back.isEmpty && back.allSatisfy { $0.contains(#""action":"update""#) })
            #expect(got[(unsubscribed + 1)...].filter { $0.contains(#""action":"snapshot""#) }.count == 1, "only that book's snapshot")

            // The gateway reads the whole session: the snapshot replaces the stale book and every
            // later update's checksum matches it.
            var options = PipelineOptions()
            options.emit = [.books, .status]
            var pipeline = FeedPipeline(options: options)
            var statuses: [FeedStatus] = []
            for (i, frame) in got.enumerated() where frame != "pong" {
                let record = CaptureRecord(receiveTime: UnixNanos(1_626_995_752_000_000_000 + Int64(i) * 1_000_000), venue: .okx, kind: .ws, frame: Array(frame.utf8))
                pipeline.process(record) { if case .status(let s) = $0 { statuses.append(s) } }
            }
            let failures = statuses.filter { $0.instrument?.symbol == "ONT-USDT" && ($0.kind.invalidatesBook || $0.kind == .resynced) }
            #expect(failures.isEmpty, "\(failures.map(\.kind.name))")
            #expect(pipeline.bookSnapshot(venue: "okx", symbol: "ONT-USDT", depth: 5)?.valid == true)
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
