import Feeds
import Foundation
import GatewayApp
import MarketCore
import Testing
import _TestSupport

/// Replays files in-process and returns the output lines exactly as `gateway replay` prints them.
func replayLines(_ paths: [String], emit: EmitSet = [.trades, .candles, .books, .status]) throws -> ([String], PipelineStats) {
    var options = PipelineOptions()
    options.emit = emit
    var replayer = FeedPipeline(options: options)
    var lines: [String] = []
    try replayer.run(paths: paths) { lines.append($0.jsonLine) }
    return (lines, replayer.stats)
}

func writeTemp(_ name: String, _ text: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mg-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// One capture line with `frame` JSON-escaped.
func captureLine(_ recv: Int64, _ venue: String, _ kind: String, _ frame: String, url: String? = nil) -> String {
    let escaped = String(data: try! JSONSerialization.data(withJSONObject: [frame], options: [.withoutEscapingSlashes]), encoding: .utf8)!
        .dropFirst().dropLast()
    return #"{"recv_ns":\#(recv),"venue":"\#(venue)","kind":"\#(kind)"\#(url.map { #","url":"\#($0)""# } ?? ""),"frame":\#(escaped)}"#
}

@Suite("Replay")
struct ReplayTests {
    @Test(arguments: ["binance/spot-btcusdt-2024-08-08.jsonl.gz", "coinbase/exchange-level2-2021-04-17.jsonl.gz", "binance/usdm-multi-2021-07-22.jsonl.gz"])
    func replayingTwiceGivesByteIdenticalOutput(_ file: String) throws {
        let (a, statsA) = try replayLines([Fixtures.path(file)])
        let (b, statsB) = try replayLines([Fixtures.path(file)])
        #expect(a.count > 100)
        #expect(a == b)
        #expect(statsA == statsB)
        // Every line is JSON with the contract's common keys.
        for line in a.prefix(2_000) {
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(obj["type"] is String && obj["venue"] is String && obj.keys.contains("symbol"))
        }
    }

    /// Merging by recv_ns: a capture split into two files (alternate lines) replays exactly like the whole.
    @Test func splitFilesMergeBackIntoTheSameOutput() throws {
        let records = try Fixtures.records("binance/spot-multi-2021-10-12.jsonl.gz")
        let text = try String(contentsOfFile: try gunzip(Fixtures.path("binance/spot-multi-2021-10-12.jsonl.gz")), encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == records.count)
        let odd = try writeTemp("odd.jsonl", lines.enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }.joined(separator: "\n"))
        let even = try writeTemp("even.jsonl", lines.enumerated().filter { $0.offset % 2 == 0 }.map { String($0.element) }.joined(separator: "\n"))
        let (whole, _) = try replayLines([Fixtures.path("binance/spot-multi-2021-10-12.jsonl.gz")])
        let (merged, _) = try replayLines([even, odd])
        #expect(whole == merged)
        #expect(!whole.isEmpty)
    }

    @Test func aMalformedFrameIsAParseErrorAndReplayContinues() throws {
        let trade = { (id: Int, ms: Int) in
            #"{"stream":"btcusdt@trade","data":{"e":"trade","E":\#(ms),"s":"BTCUSDT","t":\#(id),"p":"100.00","q":"1.5","T":\#(ms),"m":false}}"#
        }
        let text = [
            captureLine(1_000_000_000, "binance", "ws", trade(1, 1_000)),
            captureLine(2_000_000_000, "binance", "ws", #"{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","t":2,"p":"1"#),
            captureLine(3_000_000_000, "binance", "ws", #"{"stream":"xyzabc@trade","data":{"e":"trade","E":1,"s":"XYZABC","t":1,"p":"1","q":"1","T":1,"m":true}}"#),
            captureLine(4_000_000_000, "binance", "ws", trade(2, 4_000)),
        ].joined(separator: "\n")
        let (lines, stats) = try replayLines([try writeTemp("m.jsonl", text)])
        let objects = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(objects.map { $0["type"] as! String } == ["trade", "status", "status", "trade", "candle", "candle"])
        #expect(objects[1]["event"] as? String == "parse_error")
        #expect((objects[1]["detail"] as! String).contains("malformed JSON"))
        #expect(objects[2]["event"] as? String == "parse_error")
        #expect((objects[2]["detail"] as! String).contains("unknown symbol XYZABC"))
        #expect(objects[3]["id"] as? String == "2" && objects[3]["side"] as? String == "buy")
        #expect(stats.parseErrors == 2 && stats.frames == 4 && stats.lines == 4)
    }

    @Test func tradeLinesFollowTheContract() throws {
        let frame = #"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#
        let (lines, _) = try replayLines([try writeTemp("t.jsonl", captureLine(1, "binance", "ws", frame))], emit: [.trades])
        #expect(lines == [#"{"type":"trade","venue":"binance","symbol":"BTC-USDT","ts":"2024-08-08T23:54:15.342Z","id":"3735683259","price":"61837.63000000","qty":"0.02000000","side":"sell"}"#])
    }

    /// The built CLI: exit status, error naming file and line, and `--stats` on stderr even on failure.
    @Test func cliReportsUnreadableLinesWithFileAndLineAndStillPrintsStats() throws {
        let binary = try #require(Self.gatewayBinary(), "gateway binary not built next to the tests")
        let good = captureLine(1, "binance", "ws", #"{"result":null,"id":1}"#)
        let path = try writeTemp("bad.jsonl", good + "\n{broken\n")
        let (status, out, err) = try Self.run(binary, ["replay", path, "--stats"])
        #expect(status != 0)
        #expect(out.isEmpty)
        #expect(err.contains("\(path):2:"), "\(err)")
        let statsLine = try #require(err.split(separator: "\n").first { $0.hasPrefix("{\"lines\"") })
        let stats = try JSONSerialization.jsonObject(with: Data(statsLine.utf8)) as! [String: Any]
        #expect((stats["lines"] as? NSNumber)?.intValue == 1 && (stats["frames"] as? NSNumber)?.intValue == 1, "\(stats)")
        for key in ["events", "parse_errors", "gaps", "resyncs", "checksum_checks", "checksum_failures"] {
            #expect(stats[key] != nil, "missing \(key)")
        }
    }

    @Test func cliRejectsBadOptionsClearly() throws {
        let binary = try #require(Self.gatewayBinary(), "gateway binary not built next to the tests")
        let (status, _, err) = try Self.run(binary, ["replay", "x.jsonl", "--emit", "trades,nonsense"])
        #expect(status != 0)
        #expect(err.contains("unknown --emit value 'nonsense'"), "\(err)")
    }

    static func gatewayBinary(file: StaticString = #filePath) -> String? {
        var parts = "\(file)".split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        parts.removeLast(3)
        let root = parts.joined(separator: "/")
        for candidate in ["\(root)/.build/debug/gateway", "\(root)/.build/release/gateway"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return nil
    }

    static func run(_ binary: String, _ args: [String]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}

func gunzip(_ path: String) throws -> String {
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("mg-\(UUID().uuidString).jsonl").path
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", "gzip -dc '\(path)' > '\(out)'"]
    try p.run()
    p.waitUntilExit()
    return out
}
