import Foundation
import Testing
import _TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The `gateway` binary as a process: start-up failures are one clear line and a non-zero exit
/// within seconds; SIGTERM, SIGINT and `--duration` stop it within seconds in every state; a
/// clean stop logs no error.
@Suite("Start and stop", .serialized)
struct StartStopTests {
    /// A feeds directory with one small capture (Binance USD-M, 30 s): the demo starts quickly.
    static func smallFeeds(in dir: URL) throws -> String {
        let feeds = dir.appendingPathComponent("feeds")
        try FileManager.default.createDirectory(at: feeds, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: Fixtures.repository("feeds/binance-usdm-multi-2021-07-22.jsonl.gz"),
            toPath: feeds.appendingPathComponent("binance-usdm-multi-2021-07-22.jsonl.gz").path)
        return feeds.path
    }

    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("startstop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Waits until the process exits; nil when it is still running after `seconds`.
    static func exit(of p: Process, within seconds: Double) async -> Int32? {
        let until = Date().addingTimeInterval(seconds)
        while p.isRunning, Date() < until { try? await Task.sleep(for: .milliseconds(50)) }
        if p.isRunning {
            p.terminate()
            kill(p.processIdentifier, SIGKILL)
            return nil
        }
        return p.terminationStatus
    }

    /// Waits (up to `seconds`) for `text` in the process's stdout.
    static func waitFor(_ text: String, _ output: () throws -> (out: String, err: String), _ p: Process, seconds: Double) async -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            if (try? output().out.contains(text)) == true { return true }
            if !p.isRunning { return false }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// Log lines at error level or above (StreamLogHandler: `<time> error <label>: …`).
    static func errorLines(_ err: String) -> [String] {
        err.split(separator: "\n").map(String.init).filter { $0.contains(" error ") || $0.contains(" critical ") }
    }

    @Test(.timeLimit(.minutes(1)))
    func aBusyPortIsOneLineAndExitOne() async throws {
        let binary = try #require(ReplayTests.gatewayBinary())
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Hold a port.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        #expect(listen(fd, 1) == 0)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))

        let started = Date()
        let (p, output) = try RecordReplayTests.launch(
            binary, ["demo", "--port", "\(port)", "--feeds", try Self.smallFeeds(in: dir), "--data-dir", dir.appendingPathComponent("data").path],
            in: dir)
        let status = await Self.exit(of: p, within: 20)
        let (out, err) = try output()
        #expect(status == 1, "exit status \(String(describing: status)); stderr: \(err)")
        #expect(Date().timeIntervalSince(started) < 20)
        let lines = err.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("127.0.0.1:\(port)") && lines[0].contains("already in use"), "\(err)")
        #expect(out.isEmpty, "\(out)")
    }

    @Test(
        .timeLimit(.minutes(1)),
        arguments: [
            (["--port", "99999"], "--port"), (["--log-level", "loud"], "--log-level"), (["--speed", "0"], "--speed"),
            (["--duration", "0"], "--duration"), (["--feeds", "/nonexistent-feeds"], "--feeds"),
        ])
    func badOptionsAreRefusedAtOnce(_ args: [String], _ named: String) async throws {
        let binary = try #require(ReplayTests.gatewayBinary())
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (p, output) = try RecordReplayTests.launch(binary, ["demo"] + args, in: dir)
        let status = await Self.exit(of: p, within: 10)
        let err = try output().err
        #expect(status == 64, "exit status \(String(describing: status))")
        #expect(err.contains("Error: \(named)"), "\(err)")
    }

    @Test(.timeLimit(.minutes(1)))
    func anUnreadableCaptureNamesTheFile() async throws {
        let binary = try #require(ReplayTests.gatewayBinary())
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let feeds = dir.appendingPathComponent("feeds")
        try FileManager.default.createDirectory(at: feeds, withIntermediateDirectories: true)
        try Data("{\"recv_ns\":1,\"venue\":\"binance\",\"kind\":\"ws\",\"frame\":\"{}\"}\nnot json\n".utf8)
            .write(to: feeds.appendingPathComponent("binance-broken.jsonl"))
        let (p, output) = try RecordReplayTests.launch(
            binary, ["demo", "--port", "0", "--feeds", feeds.path, "--data-dir", dir.appendingPathComponent("data").path], in: dir)
        let status = await Self.exit(of: p, within: 20)
        let err = try output().err
        #expect(status == 1, "exit status \(String(describing: status)); \(err)")
        #expect(err.hasPrefix("gateway demo: ") && err.contains("binance-broken.jsonl:2:"), "\(err)")
    }

    enum Stop: String, CaseIterable, CustomStringConvertible {
        case sigterm, sigint, duration
        var description: String { rawValue }
    }

    @Test(.timeLimit(.minutes(3)), arguments: Stop.allCases)
    func aRunningDemoStopsCleanlyWithinSeconds(_ stop: Stop) async throws {
        let binary = try #require(ReplayTests.gatewayBinary())
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var args = ["demo", "--port", "0", "--feeds", try Self.smallFeeds(in: dir), "--data-dir", dir.appendingPathComponent("data").path]
        if stop == .duration { args += ["--duration", "4"] }
        let (p, output) = try RecordReplayTests.launch(binary, args, in: dir)
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        #expect(await Self.waitFor("demo: serving", output, p, seconds: 120), "never served: \((try? output()) ?? ("", ""))")
        // Running: the status line shows frames arriving.
        #expect(await Self.waitFor("| frames/s ", output, p, seconds: 10))
        let asked = Date()
        switch stop {
        case .sigterm: kill(p.processIdentifier, SIGTERM)
        case .sigint: kill(p.processIdentifier, SIGINT)
        case .duration: break
        }
        let status = await Self.exit(of: p, within: stop == .duration ? 30 : 15)
        let (out, err) = try output()
        #expect(status == 0, "exit status \(String(describing: status)); stderr tail: \(err.suffix(1500))")
        if stop != .duration { #expect(Date().timeIntervalSince(asked) < 15) }
        #expect(out.contains("demo: stopped"))
        #expect(Self.errorLines(err).isEmpty, "a clean stop logged errors: \(Self.errorLines(err))")
    }

    @Test(.timeLimit(.minutes(1)))
    func sigtermWhileStartingStopsWithinSeconds() async throws {
        let binary = try #require(ReplayTests.gatewayBinary())
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The full feeds/ directory takes seconds to load: stop it in the middle of that.
        let (p, output) = try RecordReplayTests.launch(
            binary, ["demo", "--port", "0", "--feeds", Fixtures.repository("feeds"), "--data-dir", dir.appendingPathComponent("data").path],
            in: dir)
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        try await Task.sleep(for: .milliseconds(500))
        let asked = Date()
        kill(p.processIdentifier, SIGTERM)
        let status = await Self.exit(of: p, within: 15)
        #expect(status != nil, "still running 15 s after SIGTERM: \((try? output()) ?? ("", ""))")
        #expect(Date().timeIntervalSince(asked) < 15)
    }
}
