import ExchangeSimulator
import Foundation
import Logging
import MarketCore
import Storage
import Testing
import _TestSupport

/// `gateway serve --config FILE`, the real binary: bad configuration stops it at start-up with
/// the key named; a good one runs the live feed against the local exchange simulator into a
/// SQLite store and shuts down cleanly on SIGTERM with every published trade stored.
@Suite("gateway serve", .serialized)
struct ServeTests {
    @Test func invalidConfigurationFailsAtStartUpNamingTheKeys() throws {
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("bad.yaml")
        try """
            server:
              port: 70000
            venues:
              binance:
                symbols: []
                stale_after: soon
            """.write(to: config, atomically: true, encoding: .utf8)
        let r = try RecordReplayTests.run(binary, ["serve", "--config", config.path], in: dir)
        #expect(r.status == 2)
        for key in ["server.port", "venues.binance.symbols", "venues.binance.stale_after"] {
            #expect(r.err.contains(key), "\(key) not named in: \(r.err)")
        }
    }

    @Test func servesTheSimulatorIntoSQLiteAndStopsCleanly() async throws {
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        // The first 30 s of the BTCUSDT capture (trades, depth and its REST snapshot).
        let excerpt = dir.appendingPathComponent("excerpt.jsonl")
        _ = try Fixtures.excerpt("binance/spot-btcusdt-2024-08-08.jsonl.gz", seconds: 30, to: excerpt.path)
        let sim = ExchangeSimulator(speed: 4)
        try sim.addVenue(.binance, captures: [excerpt.path])
        try await sim.start()
        let config = dir.appendingPathComponent("gateway.yaml")
        try """
            log_level: warning
            venues:
              binance:
                symbols: [BTC-USDT]
                ws_url: \(sim.wsURL(venue: .binance, path: "ws"))
                rest_url: \(sim.restBaseURL(venue: .binance))
                stale_after: 5s
            storage:
              url: sqlite:\(dir.path)/gateway.sqlite
              spill_dir: \(dir.path)/spill
            server:
              port: 0
            """.write(to: config, atomically: true, encoding: .utf8)

        let (p, output) = try RecordReplayTests.launch(binary, ["serve", "--config", config.path], in: dir)
        await sim.waitUntilFinished(venue: .binance)
        try await Task.sleep(for: .seconds(1))
        p.terminate()  // SIGTERM: graceful shutdown
        p.waitUntilExit()
        await sim.stop()
        let err = (try? output().err) ?? ""
        #expect(p.terminationReason == .exit && p.terminationStatus == 0, "serve exited \(p.terminationStatus): \(err.suffix(2000))")

        // Every BTC-USDT trade the exchange sent is in the store, once.
        let sent = await sim.emittedFrames(venue: .binance).filter { $0.recipients > 0 && $0.text.contains("btcusdt@trade") }.count
        #expect(sent > 0)
        let store = try await StoreLocation(parsing: "sqlite:\(dir.path)/gateway.sqlite").open(logger: Logger(label: "test"))
        let trades = try await store.count(.trades)
        let snapshots = try await store.count(.bookSnapshots)
        let candles = try await store.count(.candles1m)
        await store.close()
        #expect(trades == sent)
        #expect(snapshots > 0)
        #expect(candles > 0)
    }
}
