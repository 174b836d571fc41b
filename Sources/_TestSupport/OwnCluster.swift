import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL cluster of the test's own (scripts/pg-cluster.sh), so stopping it does not
/// disturb the other tests' server.
public final class OwnCluster: Sendable {
    public let directory: String
    public let url: String
    static let script = Fixtures.repository("scripts/pg-cluster.sh")

    /// - Parameter timescaleDB: preload TimescaleDB (`true`: fail when it is not installed), or
    ///   not (`false`); nil: when installed (pg-cluster.sh's `auto`).
    public init(timescaleDB: Bool? = nil) throws {
        // /tmp: as root the server runs as `postgres`, which must reach the directory.
        var template = Array("/tmp/marketgateway-cluster.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ClusterError("mkdtemp failed") }
        directory = String(cString: made)
        let mode = timescaleDB.map { $0 ? "on" : "off" } ?? "auto"
        url = try Self.run("init", directory, prefix: ["/usr/bin/env", "MARKETGATEWAY_PG_TIMESCALEDB=\(mode)"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func stop() throws { _ = try Self.run("stop", directory) }
    public func start() throws { _ = try Self.run("start", directory) }
    public func destroy() { _ = try? Self.run("destroy", directory) }

    @discardableResult
    static func run(_ command: String, _ directory: String, prefix: [String] = []) throws -> String {
        let r = try Command.run(prefix + ["/bin/bash", script, command, directory])
        guard r.status == 0 else { throw ClusterError("pg-cluster.sh \(command) exited \(r.status): \(r.stderr)") }
        return r.stdout
    }
}

public struct ClusterError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public func makeTempDirectory(_ prefix: String) throws -> String {
    var template = Array("\(NSTemporaryDirectory())/\(prefix).XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw ClusterError("mkdtemp failed") }
    return String(cString: made)
}

