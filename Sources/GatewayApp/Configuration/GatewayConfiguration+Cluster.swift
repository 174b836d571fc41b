import Cluster
import NATS

extension GatewayConfiguration {
    /// `--nats URL[,URL]`, `--roles LIST` and `--node NAME` of `gateway serve` / `gateway demo`,
    /// over the `cluster:` section. Returns the problems in words (empty: applied).
    public mutating func applyClusterFlags(nats: [String], roles: String?, node: String?) -> [String] {
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
        if problems.isEmpty, !cluster.isEnabled, cluster.roles != Set(ClusterRole.allCases) {
            problems.append("--roles needs --nats URL (without NATS one process does everything)")
        }
        return problems
    }
}
