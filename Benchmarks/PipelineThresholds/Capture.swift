import MarketCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// A capture reader without the Feeds module: Feeds pulls in NIO, AsyncHTTPClient and BoringSSL,
// whose release build would not fit the CI step that runs these benchmarks (.ci/run). The
// recordings are read once, before any measurement, so how they are read does not matter here.

/// One line of a capture (`{"recv_ns":…,"venue":…,"kind":…,"url":…,"frame":"…"}`).
struct Record: Sendable {
    var receiveTime: UnixNanos
    var venue: Venue
    var kind: FrameKind
    var connection: String?
    var url: String?
    var frame: [UInt8]
}

enum Capture {
    /// `<repo>/Tests/Fixtures/<relative>`, found from this file's path
    /// (`<repo>/Benchmarks/PipelineThresholds/Capture.swift`).
    static func fixturePath(_ relative: String, file: StaticString = #filePath) -> String {
        var parts = "\(file)".split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/Tests/Fixtures/" + relative
    }

    /// Every record of a `.jsonl.gz` recording, in order (decompressed by `gzip -dc`).
    static func load(_ relative: String) -> [Record] {
        let path = fixturePath(relative)
        guard let pipe = popen("gzip -dc '\(path)'", "r") else { fatalError("PipelineThresholds: cannot run gzip on \(path)") }
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, pipe) }
            if n <= 0 { break }
            text.append(contentsOf: chunk[0..<n])
        }
        guard pclose(pipe) == 0, !text.isEmpty else { fatalError("PipelineThresholds: cannot read \(path)") }
        var records: [Record] = []
        text.withUnsafeBytes { all in
            var start = 0
            var line = 0
            while start < all.count {
                var end = start
                while end < all.count, all[end] != UInt8(ascii: "\n") { end += 1 }
                line += 1
                if end > start {
                    guard let r = parse(UnsafeRawBufferPointer(rebasing: all[start..<end])) else {
                        fatalError("PipelineThresholds: \(path):\(line) is not a capture record")
                    }
                    records.append(r)
                }
                start = end + 1
            }
        }
        return records
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) -> Record? {
        var s = JSONScanner(bytes)
        guard s.beginObject() else { return nil }
        var recv: Int64?
        var venue: String?
        var kind: FrameKind?
        var conn: String?
        var url: String?
        var frame: [UInt8] = []
        while let key = s.nextKey() {
            if key.equals("recv_ns") {
                recv = s.readInt64()
            } else if key.equals("venue") {
                venue = s.readString()
            } else if key.equals("kind") {
                kind = s.readString().flatMap(FrameKind.init(rawValue:))
            } else if key.equals("conn") {
                if s.readNull() { continue }
                if s.peek() == UInt8(ascii: "\"") { conn = s.readString() } else if let n = s.readInt64() { conn = String(n) }
            } else if key.equals("url") {
                if !s.readNull() { url = s.readString() }
            } else if key.equals("frame") {
                if !s.readNull() { guard s.readString(into: &frame) else { return nil } }
            } else {
                guard s.skipValue() != nil else { return nil }
            }
        }
        guard !s.failed, let recv, let venue, let kind else { return nil }
        return Record(receiveTime: UnixNanos(recv), venue: Venue(venue), kind: kind, connection: conn, url: url, frame: frame)
    }
}
