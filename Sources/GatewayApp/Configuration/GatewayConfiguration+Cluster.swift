import Cluster
import NATS

extension GatewayConfiguration {
    /// `--nats URL[,URL]`, `--roles LIST`, `--node NAME`, `--history-max-age D`, `--history-max-bytes N`,
    /// `--history-replicas N` and `--ingest-lease-ttl D` of `gateway serve` / `gateway demo`, over the `cluster:` section,
    /// with the section's rules. Returns the problems in words (empty: applied).
    public mutating func applyClusterFlags(
        nats: [String], roles: String?, node: String?, historyMaxAge: String? = nil, historyMaxBytes: Int? = nil, historyReplicas: Int? = nil,
        ingestLeaseTTL: String? = nil
    ) -> [String] {
        var problems: [String] = []
        let urls = nats.flatMap { $0.split(separator: ",") }.map { String($0) }.filter { !$0.isEmpty }
        for (i, url) in urls.enumerated() where (try? NATSServerAddress(parsing: url)) == nil {
            // Not echoed: the URL may hold a password.
            problems.append("--nats: URL \(i + 1) is not a NATS server URL (nats://host:port, e.g. nats://127.0.0.1:4222)")
        }
        if problems.isEmpty && !urls.isEmpty { cluster.nats = urls }
        if let roles {
            switch ClusterRole.parse([roles]) {
            case .success(let r): cluster.roles = r
            case .failure(let e): problems.append("--roles: \(e.message)")
            }
        }
        if let node { cluster.node = node }
        if let historyMaxAge {
            if historyMaxAge == "off" {
                cluster.historyMaxAge = nil
            } else if let d = DurationText.parse(historyMaxAge), d > .zero {
                cluster.historyMaxAge = d
            } else {
                problems.append("--history-max-age: '\(historyMaxAge)' is not a duration (e.g. 10m, 1h, or off)")
            }
        }
        if let historyMaxBytes {
            if historyMaxBytes >= 1024 {
                cluster.historyMaxBytes = historyMaxBytes
            } else {
                problems.append("--history-max-bytes: must be at least 1024 (got \(historyMaxBytes))")
            }
        }
        if let historyReplicas {
            if (1...5).contains(historyReplicas) {
                cluster.historyReplicas = historyReplicas
            } else {
                problems.append("--history-replicas: must be from 1 to 5 (got \(historyReplicas))")
            }
        }
        if let ingestLeaseTTL {
            if ingestLeaseTTL == "off" {
                cluster.ingestLeaseTTL = nil
            } else if let d = DurationText.parse(ingestLeaseTTL), d >= .seconds(1) {
                cluster.ingestLeaseTTL = d
            } else {
                problems.append("--ingest-lease-ttl: '\(ingestLeaseTTL)' is not a duration of at least 1s (renewals run every third of it), or off")
            }
        }
        if problems.isEmpty, !cluster.isEnabled, cluster.historyMaxAge != nil || cluster.ingestLeaseTTL != nil {
            problems.append("--history-max-age and --ingest-lease-ttl need --nats URL (JetStream on the NATS servers)")
        }
        if problems.isEmpty, !cluster.isEnabled, cluster.roles != Set(ClusterRole.allCases) {
            problems.append("--roles needs --nats URL (without NATS one process does everything)")
        }
        return problems
    }
}
