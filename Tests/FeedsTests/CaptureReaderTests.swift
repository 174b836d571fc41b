import Feeds
import Foundation
import MarketCore
import Testing
import _TestSupport

@Suite("CaptureReader")
struct CaptureReaderTests {
    func temp(_ name: String, _ bytes: [UInt8]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func gzip(_ text: String) throws -> [UInt8] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-c"]
        let input = Pipe()
        let output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Array(data)
    }

    /// A plain file is read from a mapping made when it is opened: lines appended after that (a
    /// recording still being written), including the rest of a last line cut mid-way, are read too,
    /// with their line numbers.
    @Test func linesAppendedAfterOpeningAreRead() throws {
        func line(_ n: Int) -> String {
            #"{"recv_ns":\#(1_000 + n),"venue":"binance","kind":"ws","frame":"{\"n\":\#(n)}"}"# + "\n"
        }
        let first = line(1) + line(2) + line(3)
        let cut = line(4)
        let path = try temp("growing.jsonl", Array((first + cut.prefix(20)).utf8))
        let reader = try CaptureReader(path: path)
        var seen: [(Int64, String, Int)] = []
        for _ in 0..<3 {
            let r = try #require(try reader.next())
            seen.append((r.receiveTime.rawValue, String(decoding: r.frame, as: UTF8.self), reader.lineNumber))
        }
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((cut.dropFirst(20) + line(5)).utf8))
        try handle.close()
        while let r = try reader.next() {
            seen.append((r.receiveTime.rawValue, String(decoding: r.frame, as: UTF8.self), reader.lineNumber))
        }
        #expect(seen.map(\.0) == [1_001, 1_002, 1_003, 1_004, 1_005])
        #expect(seen.map(\.1) == (1...5).map { #"{"n":\#($0)}"# })
        #expect(seen.map(\.2) == [1, 2, 3, 4, 5])
    }

    /// Every line of every shipped capture is read, and its frame equals what JSONSerialization
    /// (an independent JSON parser) makes of the same line.
    @Test(arguments: Fixtures.allCaptures)
    func readsEveryFixtureLineLikeJSONSerialization(_ file: String) throws {
        let records = try Fixtures.records(file)
        // Independent decompression (gzip binary) and parse.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-dc", Fixtures.path(file)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let lines = text.split(separator: UInt8(ascii: "\n"))
        #expect(records.count == lines.count)
        for (r, line) in zip(records, lines) {
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            #expect(r.receiveTime.rawValue == (obj["recv_ns"] as! NSNumber).int64Value)
            #expect(r.venue.id == obj["venue"] as? String)
            #expect(r.kind.rawValue == obj["kind"] as? String)
            #expect(r.frame == Array(((obj["frame"] as? String) ?? "").utf8))
            #expect(r.url == obj["url"] as? String)
        }
    }

    @Test func readsPlainAndGzipAlike() throws {
        let text = #"{"recv_ns":1,"venue":"binance","kind":"ws","frame":"{\"a\":\"\\u00e9\\n\"}"}"# + "\n\n"
            + #"{"recv_ns":2,"venue":"coinbase","kind":"open","conn":"7","url":"wss://x","frame":""}"#
        for path in [try temp("a.jsonl", Array(text.utf8)), try temp("a.jsonl.gz", try gzip(text))] {
            let reader = try CaptureReader(path: path)
            let a = try #require(try reader.next())
            #expect(String(decoding: a.frame, as: UTF8.self) == "{\"a\":\"\\u00e9\\n\"}")
            #expect(a.line == 1)
            let b = try #require(try reader.next())
            #expect(b.line == 3 && b.connection == "7" && b.url == "wss://x" && b.kind == .open)
            #expect(try reader.next() == nil)
        }
    }

    @Test func concatenatedGzipMembersAreOneFile() throws {
        let a = #"{"recv_ns":1,"venue":"binance","kind":"ws","frame":"x"}"# + "\n"
        let b = #"{"recv_ns":2,"venue":"binance","kind":"ws","frame":"y"}"# + "\n"
        let reader = try CaptureReader(path: try temp("m.jsonl.gz", try gzip(a) + gzip(b)))
        #expect(try reader.next()?.frame == Array("x".utf8))
        #expect(try reader.next()?.frame == Array("y".utf8))
        #expect(try reader.next() == nil)
    }

    @Test(arguments: [
        ("not json", "not a JSON object"),
        (#"{"recv_ns":"x","venue":"b","kind":"ws","frame":""}"#, "recv_ns is not an integer"),
        (#"{"venue":"b","kind":"ws","frame":""}"#, "missing recv_ns"),
        (#"{"recv_ns":1,"venue":"b","kind":"carrier-pigeon","frame":""}"#, "unknown kind \"carrier-pigeon\""),
        (#"{"recv_ns":1,"venue":"b","kind":"ws"}"#, "missing frame"),
        (#"{"recv_ns":1,"venue":"b","kind":"ws","frame":"abc"#, "frame is not a valid JSON string"),
        (#"{"recv_ns":1,"venue":"b","kind":"ws","frame":"x"} trailing"#, "trailing data after the JSON object"),
    ])
    func badLinesNameFileAndLine(_ line: String, _ reason: String) throws {
        let good = #"{"recv_ns":1,"venue":"binance","kind":"ws","frame":"{}"}"#
        let path = try temp("bad.jsonl", Array((good + "\n" + line + "\n").utf8))
        let reader = try CaptureReader(path: path)
        _ = try reader.next()
        do {
            _ = try reader.next()
            Issue.record("expected an error")
        } catch {
            #expect(error.file == path && error.line == 2 && error.reason == reason)
            #expect(error.description == "\(path):2: \(reason)")
        }
    }

    /// The frame decoder copies plain runs eight bytes at a time: every escape kind, at every
    /// offset within a word and at the line's end, decodes as JSONSerialization decodes it.
    @Test func framesWithEscapesAtEveryOffsetDecodeLikeJSONSerialization() throws {
        let escapes = [#"\""#, #"\\"#, #"\/"#, #"\b"#, #"\f"#, #"\n"#, #"\r"#, #"\t"#, #"\u00e9"#, #"\u20ac"#, #"\ud83d\ude00"#]
        var lines: [String] = []
        for e in escapes {
            for pad in 0..<17 {
                let plain = String(repeating: "p", count: pad)
                lines.append(#"{"recv_ns":1,"venue":"binance","kind":"ws","frame":"\#(plain)\#(e)\#(plain)x\#(e)"}"#)
                lines.append(#"{"recv_ns":1,"venue":"binance","kind":"ws","frame":"\#(e)\#(plain)"}"#)
            }
        }
        lines.append(#"{"recv_ns":1,"venue":"binance","kind":"ws","frame":""}"#)
        lines.append(#"{"recv_ns":1,"venue":"binance","frame":"ab\"cd\\ef","kind":"ws"}"#)
        let reader = try CaptureReader(path: try temp("e.jsonl", Array(lines.joined(separator: "\n").utf8)))
        for line in lines {
            let r = try #require(try reader.next())
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(r.frame == Array((obj["frame"] as! String).utf8), "\(line)")
            #expect(r.kind == .ws)
        }
        #expect(try reader.next() == nil)
    }

    @Test(arguments: [
        #"{"recv_ns":1,"venue":"b","kind":"ws","frame":"abcdefghijkl\x"}"#,
        #"{"recv_ns":1,"venue":"b","kind":"ws","frame":"\ud83d"}"#,
        #"{"recv_ns":1,"venue":"b","kind":"ws","frame":"\ude00abcdefgh"}"#,
        #"{"recv_ns":1,"venue":"b","kind":"ws","frame":"\u12"}"#,
        #"{"recv_ns":1,"venue":"b","kind":"ws","frame":"abcdefghijklmnop\"#,
        #"{"recv_ns":1,"venue":"b","kind":"ws","frame":"abcdefghijklmnopqrstuvwxyz"#,
    ])
    func badFrameEscapesAreErrors(_ line: String) throws {
        let reader = try CaptureReader(path: try temp("x.jsonl", Array(line.utf8)))
        #expect {
            _ = try reader.next()
        } throws: { error in
            (error as? CaptureError)?.reason == "frame is not a valid JSON string"
        }
    }

    /// Lines in the recorder's own layout and in others read the same (the reader has a fixed-layout
    /// fast path and a general parser behind it).
    @Test func recorderLayoutAndOtherLayoutsReadAlike() throws {
        let lines = [
            #"{"recv_ns":1723161254087896568,"venue":"binance","kind":"ws","frame":"{\"e\":\"trade\"}"}"#,
            #"{ "recv_ns" : 1723161254087896568, "venue":"binance", "kind":"ws", "frame":"{\"e\":\"trade\"}" }"#,
            #"{"frame":"{\"e\":\"trade\"}","kind":"ws","venue":"binance","recv_ns":1723161254087896568}"#,
            #"{"recv_ns":1723161254087896568,"venue":"bin\u0061nce","kind":"ws","frame":"{\"e\":\"trade\"}"}"#,
            #"{"recv_ns":1723161254087896568,"venue":"binance","kind":"ws","frame":"{\"e\":\"trade\"}"}   "#,
        ]
        let reader = try CaptureReader(path: try temp("l.jsonl", Array(lines.joined(separator: "\n").utf8)))
        for line in lines {
            let r = try #require(try reader.next(), "\(line)")
            #expect(r.receiveTime.rawValue == 1_723_161_254_087_896_568 && r.venue.id == "binance" && r.kind == .ws)
            #expect(r.frame == Array(#"{"e":"trade"}"#.utf8) && r.connection == nil && r.url == nil)
        }
        let negative = try CaptureReader(path: try temp("n.jsonl", Array(#"{"recv_ns":-5,"venue":"b","kind":"tick","frame":""}"#.utf8)))
        #expect(try negative.next()?.receiveTime.rawValue == -5)
    }

    /// `kind` is matched on its bytes; an escaped spelling still names the kind.
    @Test func escapedKindStillNamesTheKind() throws {
        let line = #"{"recv_ns":1,"venue":"binance","kind":"w\u0073","frame":"{}"}"#
        let reader = try CaptureReader(path: try temp("k.jsonl", Array(line.utf8)))
        #expect(try reader.next()?.kind == .ws)
    }

    @Test func truncatedGzipIsAnErrorNotSilentEndOfFile() throws {
        var text = ""
        for i in 0..<5000 { text += #"{"recv_ns":\#(i),"venue":"binance","kind":"ws","frame":"frame number \#(i) padding padding"}"# + "\n" }
        let gz = try gzip(text)
        let path = try temp("t.jsonl.gz", Array(gz.prefix(gz.count / 2)))
        let reader = try CaptureReader(path: path)
        #expect(throws: CaptureError.self) {
            while try reader.next() != nil {}
        }
    }

    @Test func missingFileIsAClearError() {
        #expect {
            _ = try CaptureReader(path: "/nonexistent/capture.jsonl")
        } throws: { error in
            "\(error)".contains("/nonexistent/capture.jsonl") && "\(error)".contains("cannot open")
        }
    }
}

@Suite("Fixture decimals")
struct FixtureDecimalTests {
    /// Collects every string value in a JSON document that looks like a decimal number.
    static func decimalStrings(_ value: Any, into out: inout [String]) {
        switch value {
        case let s as String:
            if !s.isEmpty, s.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }), s.contains(where: \.isNumber),
                s.filter({ $0 == "." }).count <= 1, !s.dropFirst().contains("-")
            {
                out.append(s)
            }
        case let a as [Any]: for v in a { decimalStrings(v, into: &out) }
        case let d as [String: Any]: for v in d.values { decimalStrings(v, into: &out) }
        default: break
        }
    }

    /// Every price and quantity string in every recorded fixture parses and prints back exactly.
    @Test(arguments: Fixtures.allCaptures)
    func everyDecimalStringRoundTrips(_ file: String) throws {
        var checked = 0
        for r in try Fixtures.records(file) where !r.frame.isEmpty {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(r.frame), options: [.fragmentsAllowed]) else { continue }
            var strings: [String] = []
            Self.decimalStrings(obj, into: &strings)
            for s in strings {
                // Leading zeros of the integer part ("00012") are not digits any venue sends in prices.
                guard !(s.hasPrefix("0") && s.count > 1 && !s.hasPrefix("0.")) else { continue }
                let d = try FixedDecimal(parsing: s)
                #expect(d.description == s, "\(file): \(s)")
                checked += 1
            }
        }
        #expect(checked > 100, "\(file): only \(checked) decimal strings found")
    }
}
