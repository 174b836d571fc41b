import Foundation
import Testing
import Yams
import _TestSupport
@testable import GatewayApp

/// The metric names a PromQL expression reads: identifiers that are not functions, keywords,
/// label names (inside `{}` or `by (…)`), durations or Grafana variables.
enum PromQL {
    static let keywords: Set<String> = [
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
        "inf", "nan", "le",
    ]

    static func metricNames(_ expression: String) -> Set<String> {
        var e = expression
        e = e.replacing(/"(?:[^"\\]|\\.)*"/, with: "\"\"")  // strings
        e = e.replacing(/\{[^}]*\}/, with: "")  // label matchers
        e = e.replacing(/\[[^\]]*\]/, with: "")  // ranges
        e = e.replacing(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/, with: "")  // groupings
        e = e.replacing(/\$\{?\w+\}?/, with: "")  // Grafana variables
        var names = Set<String>()
        for m in e.matches(of: /([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/) {
            let word = String(m.1)
            if m.2 != nil || keywords.contains(word.lowercased()) { continue }  // a function call
            names.insert(word)
        }
        return names
    }

    /// The family a series name belongs to (histogram series end in _bucket, _sum, _count).
    static func family(_ name: String) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) && MetricHelp.text[name] == nil {
            return String(name.dropLast(suffix.count))
        }
        return name
    }

    /// Every expression of ops/prometheus/alerts.yml and ops/grafana/gateway.json.
    static func opsExpressions() throws -> (alerts: [String: String], dashboard: [String]) {
        let rules = try String(contentsOfFile: Fixtures.repository("ops/prometheus/alerts.yml"), encoding: .utf8)
        let doc = try #require(try Yams.load(yaml: rules) as? [String: Any])
        var alerts: [String: String] = [:]
        for group in doc["groups"] as? [[String: Any]] ?? [] {
            for rule in group["rules"] as? [[String: Any]] ?? [] {
                if let name = rule["alert"] as? String, let expr = rule["expr"] as? String { alerts[name] = expr }
            }
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.repository("ops/grafana/gateway.json")))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var exprs: [String] = []
        for panel in dashboard["panels"] as? [[String: Any]] ?? [] {
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                if let e = target["expr"] as? String { exprs.append(e) }
            }
        }
        for v in (dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? [] {
            if let q = (v["query"] as? [String: Any])?["query"] as? String, q.hasPrefix("label_values(") {
                exprs.append(String(q.dropFirst("label_values(".count).prefix { $0 != "," }))
            }
        }
        return (alerts, exprs)
    }
}

/// ops/: the Prometheus alerts pass `promtool check rules` and their unit tests, and every
/// expression there and in the Grafana dashboard names a metric the gateway exports.
@Suite("ops files")
struct PageOpsFilesTests {
    @Test func theNameReaderFindsMetricsOnly() {
        #expect(
            PromQL.metricNames(#"sum by (venue) (increase(normalizer_resyncs_total{venue=~"b.*"}[10m])) > 10"#)
                == ["normalizer_resyncs_total"])
        #expect(
            PromQL.metricNames("histogram_quantile(0.99, sum by (le) (rate(store_batch_duration_seconds_bucket{instance=~\"$instance\"}[$__rate_interval])))")
                == ["store_batch_duration_seconds_bucket"])
        #expect(PromQL.metricNames("max(a_total) > 0 and max by (x) (deriv(b_bytes[5m])) > 0") == ["a_total", "b_bytes"])
        #expect(PromQL.metricNames("time() - process_start_time_seconds") == ["process_start_time_seconds"])
    }

    @Test(.timeLimit(.minutes(1)))
    func alertsPassPromtoolAndItsUnitTests() throws {
        let promtool = try #require(PageTools.promtool, "promtool \(PageTools.missing)")
        let check = try Command.run([promtool, "check", "rules", Fixtures.repository("ops/prometheus/alerts.yml")])
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
        #expect(check.stdout.contains("SUCCESS: 11 rules found"), "\(check.stdout)")
        let test = try Command.run([promtool, "test", "rules", Fixtures.repository("ops/prometheus/alerts_test.yml")])
        #expect(test.status == 0, "\(test.stdout) \(test.stderr)")
    }

    @Test func everyExpressionNamesAnExportedMetric() throws {
        let (alerts, dashboard) = try PromQL.opsExpressions()
        // The six situations the issue names, each with its alert.
        #expect(
            Set(alerts.keys) == [
                "GatewayFeedStale", "GatewayFeedDisconnected", "GatewayResyncStorm", "GatewayChecksumFailures",
                "GatewayStoreLag", "GatewayStoreDown", "GatewaySpillGrowing", "GatewaySlowConsumerCloses", "GatewayLedgerDrift",
                "GatewayClusterPublishLoss", "GatewayIngestLeaseLost",
            ])
        #expect(dashboard.count >= 25)
        var unknown: [String] = []
        var used = Set<String>()
        for expr in Array(alerts.values) + dashboard {
            let names = PromQL.metricNames(expr)
            #expect(!names.isEmpty, "no metric in \(expr)")
            for n in names {
                used.insert(PromQL.family(n))
                if MetricHelp.text[PromQL.family(n)] == nil { unknown.append("\(n) in \(expr)") }
            }
        }
        #expect(unknown.isEmpty, "not exported by the gateway (no entry in MetricHelp): \(unknown)")
        // The dashboard covers every area of the ops page.
        for family in ["feed_frames_total", "normalizer_events_total", "gateway_ws_frames_sent_total", "gateway_ws_bytes_sent_total",
                       "gateway_ws_closes_total", "store_rows_written_total", "store_batch_duration_seconds", "store_spill_bytes",
                       "process_cpu_seconds_total", "process_resident_memory_bytes"] {
            #expect(used.contains(family), "dashboard lacks \(family)")
        }
    }
}
