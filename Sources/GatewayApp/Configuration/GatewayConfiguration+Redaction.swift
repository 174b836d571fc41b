import Cluster
import Foundation

/// Secrets never leave the configuration in text: `description`, `String(reflecting:)`, `dump`
/// and ``GatewayConfiguration/redactedYAML`` show `<redacted>` for the JWT secret, the admin
/// token, the deposit webhook secret, the Telegram bot token and database/NATS passwords. (``GatewayConfiguration/yaml`` is the exact round-trip form and
/// is not for printing.)
extension GatewayConfiguration: CustomStringConvertible, CustomDebugStringConvertible {
    static let redactedMark = "<redacted>"

    /// A copy with every secret replaced by `<redacted>`.
    public var redacted: GatewayConfiguration {
        var c = self
        c.storage.url = Self.redactingPassword(in: storage.url)
        c.cluster.nats = cluster.nats.map { Self.redactingPassword(in: $0) }
        if !c.services.jwtSecret.isEmpty { c.services.jwtSecret = Self.redactedMark }
        if !c.services.adminToken.isEmpty { c.services.adminToken = Self.redactedMark }
        if !c.services.depositWebhookSecret.isEmpty { c.services.depositWebhookSecret = Self.redactedMark }
        if !c.services.telegramBotToken.isEmpty { c.services.telegramBotToken = Self.redactedMark }
        return c
    }

    /// The configuration as YAML with the secrets redacted: what to print or log.
    public var redactedYAML: String { redacted.yaml }

    public var description: String { redactedYAML }
    public var debugDescription: String { redactedYAML }

    /// `postgres://user:secret@host/db?password=x` → `postgres://user:<redacted>@host/db?password=<redacted>`.
    static func redactingPassword(in url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        var out = url
        let rest = out[scheme.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        if let at = rest[..<authorityEnd].lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") {
            out.replaceSubrange(out.index(after: colon)..<at, with: redactedMark)
        }
        if let query = out.firstIndex(of: "?") {
            let pairs = out[out.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false).map { pair in
                pair.lowercased().hasPrefix("password=") ? "password=" + redactedMark : String(pair)
            }
            out = String(out[...query]) + pairs.joined(separator: "&")
        }
        return out
    }
}

extension GatewayConfiguration.ServicesSettings: CustomReflectable {
    /// `dump` and `String(reflecting:)` of the services settings show no secret.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "jwtSecret": jwtSecret.isEmpty ? "" : GatewayConfiguration.redactedMark,
                "adminToken": adminToken.isEmpty ? "" : GatewayConfiguration.redactedMark,
                "cashAsset": cashAsset, "takerFee": takerFee, "maxSpreadBps": maxSpreadBps, "minNotionalUSD": minNotionalUSD,
                "maxTradesPerHour": maxTradesPerHour, "riskMaxPositionPercent": riskMaxPositionPercent as Any,
                "riskMaxOpenOrders": riskMaxOpenOrders as Any, "riskMaxOrderNotionalUSD": riskMaxOrderNotionalUSD as Any,
                "riskMaxDailyLossUSD": riskMaxDailyLossUSD as Any, "withdrawalDailyLimitUSD": withdrawalDailyLimitUSD as Any, "riskEvery": riskEvery, "moodEvery": moodEvery, "ledgerReconcileEvery": ledgerReconcileEvery,
                "depositFee": depositFee, "depositWebhookSecret": depositWebhookSecret.isEmpty ? "" : GatewayConfiguration.redactedMark,
                "depositWebhookWindow": depositWebhookWindow, "performanceFee": performanceFee, "royaltyShare": royaltyShare,
                "royaltyGenerations": royaltyGenerations,
                "agentSpawnEvery": agentSpawnEvery, "agentSpawnFunding": agentSpawnFunding, "agentMaxGenerations": agentMaxGenerations,
                "signals": signals,
                "telegramBotToken": telegramBotToken.isEmpty ? "" : GatewayConfiguration.redactedMark, "telegramAPIURL": telegramAPIURL,
            ])
    }
}

extension GatewayConfiguration.StorageSettings: CustomReflectable {
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "url": GatewayConfiguration.redactingPassword(in: url), "spillDir": spillDir, "writeTimeout": writeTimeout,
            ])
    }
}

extension GatewayConfiguration.ClusterSettings: CustomReflectable {
    /// `dump` and `String(reflecting:)` show no NATS password.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "nats": nats.map { GatewayConfiguration.redactingPassword(in: $0) }, "roles": roles.sorted().map(\.rawValue), "node": node,
                "historyMaxAge": historyMaxAge as Any, "historyMaxBytes": historyMaxBytes, "historyReplicas": historyReplicas,
                "privateHistoryMaxAge": privateHistoryMaxAge as Any, "privateHistoryMaxBytes": privateHistoryMaxBytes as Any, "ingestLeaseTTL": ingestLeaseTTL as Any,
            ])
    }
}

