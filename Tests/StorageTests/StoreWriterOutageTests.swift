import Foundation
import Logging
import MarketCore
import Storage
import Testing
import _TestSupport

@Suite(
    "Store writer outage",
    .enabled(if: TestPostgres.isConfigured, Comment(rawValue: TestPostgres.skipReason))
)
struct StoreWriterOutageTests {
    /// Feed a real capture, stop PostgreSQL a third of the way in, keep feeding, start it again:
    /// afterwards every trade, candle and snapshot is stored exactly once, and no submit call
    /// waited on the database.
    @Test(.timeLimit(.minutes(4)))
    func databaseStoppedMidStreamLosesNothing() async throws {
        let replay = try ReplayedEvents(paths: [PostgresStoreTests.capture])
        let cluster = try OwnCluster()
        defer { cluster.destroy() }
        let spillDir = try makeTempDirectory("marketgateway-spill")
        defer { try? FileManager.default.removeItem(atPath: spillDir) }

        let store = PostgresStore(configuration: try PostgresConfiguration(url: cluster.url), logger: quietLogger)
        var options = StoreWriterOptions(spillDirectory: spillDir)
        options.batchRows = 1000
        options.flushInterval = .milliseconds(50)
        options.retryInitial = .milliseconds(100)
        options.retryMax = .milliseconds(500)
        // While the server is down the pool keeps retrying connections, so a write only fails by
        // timing out; the down phase below lasts several timeouts.
        options.writeTimeout = .milliseconds(750)
        options.shutdownGrace = .seconds(60)
        let writer = StoreWriter(store: store, options: options, logger: quietLogger)
        let loop = Task { try await writer.run() }

        let events = replay.events
        let third = events.count / 3
        let clock = ContinuousClock()
        var submitTimes: [Duration] = []
        submitTimes.reserveCapacity(events.count)
        var downPhase: ClosedRange<Int>? = nil
        for (i, event) in events.enumerated() {
            if i == third {
                try cluster.stop()
                downPhase = third...(2 * third)
            }
            if i == 2 * third {
                // Keep the server down for a while: the writer times out, backs off and spills.
                try await Task.sleep(for: .seconds(3))
                try cluster.start()
            }
            let start = clock.now
            writer.submit(event)
            submitTimes.append(clock.now - start)
            // A steady feed: the first third is written directly, the rest meets the outage.
            if i % 100 == 0 { try await Task.sleep(for: .milliseconds(downPhase?.contains(i) == true ? 10 : 5)) }
        }
        writer.finish()
        try await loop.value
        let stats = writer.stats

        // The outage really happened and was bridged by the spill files.
        #expect(stats.writeErrors > 0)
        let spilled = stats.rowsSpilled.values.reduce(0, +)
        #expect(spilled > 0)
        #expect(stats.rowsReplayedFromSpill == spilled)
        #expect(stats.spillBytes == 0)
        #expect(stats.rowsDropped == 0)

        // Exactly once: the database holds what the replay produced.
        #expect(try await store.count(.trades) == replay.distinctTradeCount)
        #expect(try await store.count(.bookSnapshots) == replay.snapshots.filter(\.valid).count)
        let q1 = CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: .oneMinute, from: UnixNanos(0), limit: 5000)
        #expect(try await store.candles(q1).map(\.jsonLine) == replay.finalCandleLines(interval: "1m"))
        let q5 = CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: .fiveMinutes, from: UnixNanos(0), limit: 5000)
        #expect(try await store.candles(q5).map(\.jsonLine) == replay.finalCandleLines(interval: "5m"))

        // The feed never waited on the database: submit() is a queue append. A database call
        // here takes milliseconds to seconds (connect timeouts while it is down).
        let sorted = submitTimes.sorted()
        let p99 = sorted[sorted.count * 99 / 100]
        let worst = sorted.last!
        print("outage test: \(events.count) events, \(spilled) rows spilled and replayed, \(stats.writeErrors) failed writes; submit p99 \(p99), max \(worst)")
        #expect(worst < .milliseconds(50), "submit() took \(worst)")
        await store.close()
    }
}
