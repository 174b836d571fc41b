@testable import Feeds
import Foundation
import MarketCore
import Testing
import _TestSupport

/// `FeedPipeline.run(paths:)` with one capture hands recorder-layout Binance trade lines to the
/// adapter without decoding their frames; every event (and the stats) must be what the record
/// path gives: each record read by `CaptureReader.next()` and given to `process`.
@Suite("Replay fast path")
struct ReplayFastPathTests {
    static func byRecords(_ path: String, options: PipelineOptions) throws -> ([MarketEvent], PipelineStats) {
        var p = FeedPipeline(options: options)
        var out: [MarketEvent] = []
        let reader = try CaptureReader(path: path)
        while let r = try reader.next() { p.process(r, sink: { out.append($0) }) }
        p.finish(sink: { out.append($0) })
        return (out, p.stats)
    }

    static func byRun(_ path: String, options: PipelineOptions) throws -> ([MarketEvent], PipelineStats) {
        var p = FeedPipeline(options: options)
        var out: [MarketEvent] = []
        try p.run(paths: [path], sink: { out.append($0) })
        return (out, p.stats)
    }

    @Test(.timeLimit(.minutes(1)), arguments: ["binance/spot-btcusdt-2024-08-08.jsonl.gz", "binance/spot-multi-2021-10-12.jsonl.gz"])
    func plainCaptureGivesTheRecordPathsEvents(_ capture: String) throws {
        // A plain copy: the reader maps it, and blank lines and a bad frame string are mixed in.
        let plain = NSTemporaryDirectory() + "replay-fast-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: plain) }
        let gz = Process()
        gz.executableURL = URL(fileURLWithPath: "/bin/sh")
        gz.arguments = ["-c", "gzip -dc '\(Fixtures.path(capture))' | awk 'NR % 1000 == 0 { print \"\" } { print }' > '\(plain)'"]
        try gz.run()
        gz.waitUntilExit()
        var options = PipelineOptions()
        options.emit = [.trades, .candles, .candleUpdates, .books, .status, .tickers]
        let (run, runStats) = try Self.byRun(plain, options: options)
        let (records, recordStats) = try Self.byRecords(plain, options: options)
        let trades = run.filter { if case .trade = $0 { true } else { false } }.count
        #expect(run.count > 100)
        // The BTCUSDT capture's 19,904 trade frames all take the fast path.
        if capture.contains("btcusdt") { #expect(trades > 19_000) }
        #expect(run.count == records.count && run == records)
        #expect(runStats == recordStats)
    }

    @Test(.timeLimit(.minutes(1))) func aBadLineStopsBothPathsAtTheSameLine() throws {
        let path = NSTemporaryDirectory() + "replay-fast-bad-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let good = #"{"recv_ns":1723161254087896568,"venue":"binance","kind":"ws","frame":"{\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\",\"E\":1723161255343,\"s\":\"BTCUSDT\",\"t\":3735683259,\"p\":\"61837.63000000\",\"q\":\"0.02000000\",\"T\":1723161255342,\"m\":true,\"M\":true}}"}"#
        let second = good.replacingOccurrences(of: "3735683259", with: "3735683260")
        // The frame string has a bad escape: an error at line 3, after two trades.
        let bad = second.replacingOccurrences(of: #"\"M\":true}}"#, with: #"\"M\":true}}\x"#)
        try [good, second, bad, good].joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        var p = FeedPipeline(options: PipelineOptions())
        var out: [MarketEvent] = []
        #expect(throws: CaptureError.self) { try p.run(paths: [path], sink: { out.append($0) }) }
        #expect(out.count == 2 && p.stats.lines == 2)
        do {
            try p.run(paths: [path], sink: { _ in })
        } catch {
            #expect(error.line == 3)
        }
    }
}
