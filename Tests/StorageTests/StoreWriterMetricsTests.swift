import CoreMetrics
import Foundation
import MarketCore
import Metrics
import MetricsTestKit
import Storage
import Testing
import _TestSupport

/// The writer's metrics, through a real metrics backend (MetricsTestKit) and a real SQLite store.
/// The writer gets its own factory (`StoreWriterOptions.metricsFactory`): the process-wide
/// `MetricsSystem` may already be bootstrapped by an in-process gateway (it can be only once).
@Suite("Store writer metrics")
struct StoreWriterMetricsTests {
    static let metrics = TestMetrics()

    @Test(.timeLimit(.minutes(2)))
    func batchesRowsLatencyAndQueueAreReported() async throws {
        let metrics = Self.metrics
        let replay = try ReplayedEvents(paths: [PostgresStoreTests.capture])
        let dir = try makeTempDirectory("marketgateway-metrics")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteStore(path: "\(dir)/store.sqlite")
        var options = StoreWriterOptions(spillDirectory: "\(dir)/spill")
        options.metricsName = "metrics-test"
        options.metricsFactory = metrics
        options.batchRows = 3000
        let writer = StoreWriter(store: store, options: options, logger: quietLogger)
        let loop = Task { try await writer.run() }
        for event in replay.events { writer.submit(event) }
        writer.finish()
        try await loop.value

        // Every trade event becomes one row (duplicates are removed by the store, not the writer).
        let tradeEvents = replay.trades.count
        let dims = [("store", "metrics-test"), ("table", "trades")]
        #expect(metrics.counterTotal(label: "store_rows_written_total", dimensions: dims) == Int64(tradeEvents))
        let batchRows = try metrics.expectRecorder("store_batch_rows", dims).values
        #expect(batchRows.reduce(0, +) == Double(tradeEvents))
        #expect(batchRows.allSatisfy { $0 >= 1 && $0 <= 3000 })
        let durations = try metrics.expectTimer("store_batch_duration_seconds", dims).values
        #expect(durations.count == batchRows.count)
        #expect(durations.allSatisfy { $0 > 0 })
        #expect(try metrics.expectGauge("store_queue_depth", [("store", "metrics-test")]).lastValue == 0)
        #expect(try metrics.expectGauge("store_spill_bytes", [("store", "metrics-test")]).lastValue == 0)
        #expect(metrics.counterTotal(label: "store_write_errors_total", dimensions: [("store", "metrics-test")]) == 0)
        #expect(try await store.count(.trades) == replay.distinctTradeCount)
        await store.close()
    }
}
