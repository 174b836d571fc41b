import ExchangeSimulator
import Feeds
import Foundation
import MarketCore
import Storage
import Testing
import _TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `gateway serve` against a local exchange that remembers every trade it sent, killed with
/// SIGKILL mid-stream and started again while the exchange goes on: the store ends with every
/// trade the exchange sent, each once. The restarted gateway resumes after the last stored
/// trade, and the trades sent while it was down come back over the venue's REST history.
@Suite("Restart backfill", .serialized)
struct RestartBackfillTests {
    @Test(.timeLimit(.minutes(4)))
    func aKilledGatewayBackfillsWhatItMissed() async throws {
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let dir = try makeTempDirectory("marketgateway-restart")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The first two minutes of the real BTCUSDT capture (trades and depth), at 4x.
        let capture = "\(dir)/binance.jsonl"
        _ = try Fixtures.excerpt("binance/spot-btcusdt-2024-08-08.jsonl.gz", seconds: 120, to: capture)
        let truth = try ReplayedEvents(paths: [capture], emit: [.trades]).distinctTradeKeys.count

        let sim = ExchangeSimulator(speed: 4)
        try sim.addVenue(.binance, captures: [capture])
        try await sim.start()
        let config = "\(dir)/gateway.yaml"
        try """
            log_level: info
            venues:
              binance:
                enabled: true
                symbols: [BTC-USDT]
                channels: [trades, book]
                ws_url: \(sim.wsURL(venue: .binance, path: "ws"))
                rest_url: \(sim.restBaseURL(venue: .binance))
                stale_after: 30s
            storage:
              url: sqlite:\(dir)/gateway.sqlite
              spill_dir: \(dir)/spill
            server:
              host: 127.0.0.1
              port: 0
            """.write(toFile: config, atomically: true, encoding: .utf8)

        func spawn(_ n: Int) throws -> pid_t {
            try Command.spawn([binary, "serve", "--config", config], stdinPath: "/dev/null", stdoutPath: "\(dir)/out\(n)", stderrPath: "\(dir)/err\(n)")
        }
        let stored: @Sendable () async -> Int = {
            guard let store = try? await SQLiteStore(path: "\(dir)/gateway.sqlite") else { return 0 }
            let n = (try? await store.count(.trades)) ?? 0
            await store.close()
            return n
        }

        let first = try spawn(1)
        let total = sim.timelineFrames(venue: .binance).count
        // Run until 40 % of the exchange's frames went out and trades are stored, then kill.
        #expect(await waitUntil(seconds: 120) { (await sim.stats(venue: .binance)?.framesEmitted ?? 0) >= total * 4 / 10 })
        #expect(await waitUntil(seconds: 30) { await stored() > 0 })
        kill(first, SIGKILL)
        #expect(Command.wait(first) == 128 + SIGKILL)
        // The exchange goes on while the gateway is down.
        let emittedAtKill = await sim.stats(venue: .binance)?.framesEmitted ?? 0
        #expect(await waitUntil(seconds: 60) { (await sim.stats(venue: .binance)?.framesEmitted ?? 0) >= emittedAtKill + total / 10 })

        let second = try spawn(2)
        await sim.waitUntilFinished(venue: .binance)
        // Every trade the exchange sent is stored, once (bounded wait for the backfill and writes).
        let complete = await waitUntil(seconds: 60) { await stored() >= truth }
        kill(second, SIGTERM)
        _ = Command.wait(second)
        await sim.stop()
        let err = (try? String(contentsOfFile: "\(dir)/err2", encoding: .utf8)) ?? ""
        #expect(err.contains("resuming after the last stored trade"), "\(err.suffix(2000))")
        let count = await stored()
        print("figure: SIGKILL and restart of gateway serve: \(truth) trades sent by the exchange, \(count) stored")
        #expect(complete && count == truth, "stored \(count) of the \(truth) trades the exchange sent")
    }
}
