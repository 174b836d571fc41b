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
    /// On plain PostgreSQL and on TimescaleDB (hypertables: COPY into staging, then the upsert).
    @Test(.timeLimit(.minutes(4)), arguments: [false, true], [false, true])
    func databaseStoppedMidStreamLosesNothing(timescaleDB: Bool, writeAhead: Bool) async throws {
        if timescaleDB { _ = try await TestServer.requireTimescaleDB() }
        let replay = try ReplayedEvents(paths: [PostgresStoreTests.capture])
        let cluster = try OwnCluster(timescaleDB: timescaleDB)
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
        options.writeAhead = writeAhead
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
        // Writing ahead, every row goes through the log, spilled or not.
        if writeAhead { #expect(stats.rowsReplayedFromSpill >= spilled) } else { #expect(stats.rowsReplayedFromSpill == spilled) }
        #expect(stats.writeAheadBytes == 0)
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
        #expect(store.backend == (timescaleDB ? .timescaledb : .postgresql))
        await store.close()
    }

    /// A writer started while PostgreSQL is down (its first call, the migration, cannot connect)
    /// stores everything once the server comes up, and then finishes at once; a writer asked to
    /// finish while the server is still down returns within its grace period, leaving the rows in
    /// the spill files. (Issue 16: a gateway started with the database down spilled forever and
    /// hung on SIGINT.)
    @Test(.timeLimit(.minutes(3)), arguments: [false, true])
    func writerStartedWhileDatabaseIsDownRecoversWhenItComesUp(timescaleDB: Bool) async throws {
        if timescaleDB { _ = try await TestServer.requireTimescaleDB() }
        let replay = try ReplayedEvents(paths: [PostgresStoreTests.capture])
        let cluster = try OwnCluster(timescaleDB: timescaleDB)
        defer { cluster.destroy() }
        try cluster.stop()
        let spillDir = try makeTempDirectory("marketgateway-spill")
        defer { try? FileManager.default.removeItem(atPath: spillDir) }
        func options() -> StoreWriterOptions {
            var options = StoreWriterOptions(spillDirectory: spillDir)
            options.flushInterval = .milliseconds(50)
            options.retryInitial = .milliseconds(100)
            options.retryMax = .milliseconds(500)
            options.writeTimeout = .seconds(1)
            options.shutdownGrace = .seconds(3)
            return options
        }
        let clock = ContinuousClock()

        // 1. Down all along: finish() returns within the grace period (plus one write timeout).
        let downStore = PostgresStore(configuration: try PostgresConfiguration(url: cluster.url), logger: quietLogger)
        let downWriter = StoreWriter(store: downStore, options: options(), logger: quietLogger)
        let downLoop = Task { try await downWriter.run() }
        let half = replay.events.count / 2
        for event in replay.events[..<half] { downWriter.submit(event) }
        try await Task.sleep(for: .seconds(2))
        let finishing = clock.now
        downWriter.finish()
        try await downLoop.value
        let took = clock.now - finishing
        #expect(took < .seconds(8), "finish() with the database down took \(took)")
        #expect(downWriter.stats.spillBytes > 0)
        #expect(downWriter.stats.rowsWritten.isEmpty)
        await downStore.close()

        // 2. A new writer, still down at start; the server comes up while it runs.
        let store = PostgresStore(configuration: try PostgresConfiguration(url: cluster.url), logger: quietLogger)
        let writer = StoreWriter(store: store, options: options(), logger: quietLogger)
        let loop = Task { try await writer.run() }
        for event in replay.events[half...] { writer.submit(event) }
        try await Task.sleep(for: .seconds(2))
        #expect(writer.stats.rowsWritten.isEmpty)
        try cluster.start()
        // Everything stored while running, not only at shutdown.
        let deadline = clock.now.advanced(by: .seconds(60))
        while clock.now < deadline {
            let s = writer.stats
            if s.spillBytes == 0, s.queueDepth == 0, !s.rowsWritten.isEmpty { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(writer.stats.spillBytes == 0, "still spilling after the server came up: \(writer.stats)")
        let finishing2 = clock.now
        writer.finish()
        try await loop.value
        #expect(clock.now - finishing2 < .seconds(2))
        #expect(store.backend == (timescaleDB ? .timescaledb : .postgresql))
        #expect(try await store.count(.trades) == replay.distinctTradeCount)
        #expect(try await store.count(.bookSnapshots) == replay.snapshots.filter(\.valid).count)
        let q1 = CandleQuery(venue: "binance", symbol: "BTC-USDT", interval: .oneMinute, from: UnixNanos(0), limit: 5000)
        #expect(try await store.candles(q1).map(\.jsonLine) == replay.finalCandleLines(interval: "1m"))
        await store.close()
    }
}
