import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Starts Debian's `nats-server` on 127.0.0.1 on a port it picks; returns the process and its URL
/// (read from the ports file it writes). The benches' shared start-up (cluster-bench, nats-bench).
public func startNATSServer(tool: String) throws -> (Process, String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(tool)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let binary else { throw NATSServerError("nats-server not found (apt-get install nats-server)") }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = ["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", directory.path]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    for _ in 0..<500 {
        if let file = try? FileManager.default.contentsOfDirectory(atPath: directory.path).first(where: { $0.hasSuffix(".ports") }),
            let data = FileManager.default.contents(atPath: directory.appendingPathComponent(file).path),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let urls = json["nats"] as? [String], let url = urls.first
        {
            return (process, url)
        }
        usleep(10_000)
    }
    process.terminate()
    throw NATSServerError("nats-server did not write its ports file")
}

public struct NATSServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
