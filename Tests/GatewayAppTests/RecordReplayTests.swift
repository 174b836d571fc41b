import ExchangeSimulator
import Foundation
import MarketCore
import Testing
import _TestSupport

/// `gateway record --emit …` against the local exchange simulator, then `gateway replay` of the
/// recording with the same options: the two outputs must be identical, byte for byte, including
/// a disconnect and the resync after it. Runs the real `gateway` binary.
@Suite("Record then replay", .serialized)
struct RecordReplayTests {
    struct Case: Sendable, CustomStringConvertible {
        var venue: Venue
        var capture: String
        var symbols: String
        var wsPath = ""
        var speed: Double
        var out: String
        var description: String { "\(venue.id) → \(out)" }
    }

    static let cases = [
        Case(venue: .binance, capture: "binance/spot-multi-2021-10-12.jsonl.gz", symbols: "NKN-USDT,GTO-USDT", speed: 4, out: "rec.jsonl.gz"),
        Case(venue: .okx, capture: "okx/v5-books-l2-tbt-2021-07-22.jsonl.gz", symbols: "FUN-BTC", speed: 4, out: "rec.jsonl"),
    ]

    /// Starts `binary args` in `dir` with stdout and stderr going to files (a feed logs a lot to
    /// stderr); `output()` reads them once the process has ended.
    static func launch(
        _ binary: String, _ args: [String], in dir: URL, environment: [String: String] = [:]
    ) throws -> (process: Process, output: () throws -> (out: String, err: String)) {
        let outURL = dir.appendingPathComponent("stdout-\(UUID().uuidString)")
        let errURL = dir.appendingPathComponent("stderr-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.currentDirectoryURL = dir
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        p.standardOutput = try FileHandle(forWritingTo: outURL)
        p.standardError = try FileHandle(forWritingTo: errURL)
        try p.run()
        return (p, { (try String(contentsOf: outURL, encoding: .utf8), try String(contentsOf: errURL, encoding: .utf8)) })
    }

    /// Runs `binary args` to completion (see ``launch(_:_:in:)``).
    static func run(_ binary: String, _ args: [String], in dir: URL) throws -> (status: Int32, out: String, err: String) {
        let (p, output) = try launch(binary, args, in: dir)
        p.waitUntilExit()
        let (out, err) = try output()
        return (p.terminationStatus, out, err)
    }

    @Test(arguments: cases)
    func replayOfARecordingPrintsWhatTheLiveRunPrinted(_ c: Case) async throws {
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("record-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let sim = ExchangeSimulator(speed: c.speed)
        try sim.addVenue(c.venue, captures: [Fixtures.path(c.capture)])
        try await sim.start()
        let emit = "trades,candles,books,status"
        let args = [
            "record", "--venue", c.venue.id, "--symbols", c.symbols, "--out", c.out,
            "--ws-url", sim.wsURL(venue: c.venue, path: c.wsPath), "--rest-url", sim.restBaseURL(venue: c.venue),
            "--stale-after", "5", "--emit", emit,
        ]
        let (p, output) = try Self.launch(binary, args, in: dir)
        // A disconnect in the middle, so the recording holds a reconnect and a resync.
        let total = sim.timelineFrames(venue: c.venue).count
        let deadline = ContinuousClock.now + .seconds(60)
        while (await sim.stats(venue: c.venue)?.framesEmitted ?? 0) < total * 3 / 10, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        await sim.closeConnections(venue: c.venue)
        await sim.waitUntilFinished(venue: c.venue)
        try await Task.sleep(for: .seconds(1))
        p.interrupt()  // SIGINT: the recorder stops gracefully
        p.waitUntilExit()
        await sim.stop()
        let recorded = try output()
        #expect(p.terminationReason == .exit && [0, 130].contains(p.terminationStatus), "record exited \(p.terminationStatus): \(recorded.err.suffix(2000))")

        let live = recorded.out
        let lines = live.split(separator: "\n")
        #expect(lines.count > 20, "the live run printed too little (\(lines.count) lines)")
        #expect(live.contains(#""event":"disconnected""#) && live.contains(#""event":"reconnected""#))
        #expect(live.contains(#""type":"book_snapshot""#) && live.contains(#""type":"trade""#))

        let replayed = try Self.run(binary, ["replay", c.out, "--emit", emit], in: dir)
        #expect(replayed.status == 0, "replay failed: \(replayed.err.suffix(2000))")
        #expect(replayed.out == live, "replay differs from the live output (live \(lines.count) lines, replay \(replayed.out.split(separator: "\n").count))")
    }
}
