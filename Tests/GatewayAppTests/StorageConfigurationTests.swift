import GatewayApp
import Storage
import Testing

/// The TimescaleDB policies are configuration (`storage.*`): defaults, overrides, `off`, and the
/// one rule between two of them.
@Suite("Storage configuration")
struct StorageConfigurationTests {
    @Test func defaultsAreTheDesignsPolicies() throws {
        let p = try GatewayConfiguration.parse(yaml: "", environment: [:]).storage.timescalePolicies
        #expect(p.enabled)
        #expect(p.compressAfter == "259200 seconds")
        #expect(p.aggregateRefreshWindow == "604800 seconds")
        #expect(
            p.retention == [
                "trades": "604800 seconds", "order_book_snapshots": "604800 seconds", "market_data_1m": "2592000 seconds",
                "agent_status_log": "7776000 seconds",
            ])
    }

    @Test func fileAndEnvironmentSetThePolicies() throws {
        let yaml = """
            storage:
              timescaledb: false
              compress_after: 36h
              retention_trades: off
              retention_candles_5m: 400d
            """
        let c = try GatewayConfiguration.parse(
            yaml: yaml, environment: ["GATEWAY_STORAGE_RETENTION_BOOK_SNAPSHOTS": "2d", "GATEWAY_STORAGE_AGGREGATE_REFRESH_WINDOW": "1d"])
        let p = c.storage.timescalePolicies
        #expect(!p.enabled)
        #expect(p.compressAfter == "129600 seconds")
        #expect(p.aggregateRefreshWindow == "86400 seconds")
        #expect(p.retention["trades"] == nil)
        #expect(p.retention["market_data_5m"] == "34560000 seconds")
        #expect(p.retention["order_book_snapshots"] == "172800 seconds")
        #expect(c.yaml.contains("  retention_trades: off"))
    }

    /// Refreshing the aggregates over a range whose 1m rows retention dropped would empty them.
    @Test func theRefreshWindowMustBeShorterThanThe1mRetention() {
        do {
            _ = try GatewayConfiguration.parse(yaml: "storage:\n  retention_candles_1m: 5d\n", environment: [:])
            Issue.record("a refresh window of 7d with a 1m retention of 5d was accepted")
        } catch {
            #expect(error.description.contains("storage.aggregate_refresh_window: must be shorter than retention_candles_1m (5d)"), "\(error)")
        }
        #expect(throws: Never.self) {
            _ = try GatewayConfiguration.parse(yaml: "storage:\n  retention_candles_1m: off\n  aggregate_refresh_window: 60d\n", environment: [:])
        }
    }
}
