/// What a gateway process does in a cluster (DESIGN.md "Scaling past one machine"). One binary;
/// any subset per process.
public enum ClusterRole: String, Sendable, Hashable, CaseIterable, Comparable {
    /// Feeds → normalizer → store → bus, and every public bus event published on NATS.
    case ingest
    /// Paper execution, mood, signals, agents. Beside `ingest` on the ingest node's bus; on its own,
    /// fed from NATS (``ClusterServicesFeed``).
    case services
    /// NATS → local bus → `/ws`: sends the frames the publisher encoded, with its `seq` and `epoch`.
    case edge

    public static func < (a: ClusterRole, b: ClusterRole) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Parses `ingest,services,edge` (commas or a list; spaces ignored). Unknown, repeated or
    /// missing roles, and combinations this version cannot run, are refused with a message
    /// saying what is accepted.
    public static func parse(_ items: [String]) -> Result<Set<ClusterRole>, ClusterRoleError> {
        let names = items.flatMap { $0.split(separator: ",") }.map(trimmed).filter { !$0.isEmpty }
        var roles = Set<ClusterRole>()
        for name in names {
            guard let role = ClusterRole(rawValue: name) else {
                return .failure(ClusterRoleError("unknown role '\(name)' (roles: \(allCases.map(\.rawValue).joined(separator: ", ")))"))
            }
            guard roles.insert(role).inserted else { return .failure(ClusterRoleError("role '\(name)' is listed twice")) }
        }
        guard !roles.isEmpty else {
            return .failure(ClusterRoleError("no roles given (any of \(allCases.map(\.rawValue).joined(separator: ", ")))"))
        }
        return .success(roles)
    }

    public static func text(_ roles: Set<ClusterRole>) -> String { roles.sorted().map(\.rawValue).joined(separator: ",") }
}

public struct ClusterRoleError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// `text` without leading and trailing spaces and tabs.
private func trimmed(_ text: Substring) -> String {
    let space: (Character) -> Bool = { $0 == " " || $0 == "\t" }
    return String(text.drop(while: space).reversed().drop(while: space).reversed())
}
