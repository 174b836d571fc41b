import Feeds
import Foundation
import MarketCore
import Testing
import _TestSupport

@Suite("CaptureWriter")
struct CaptureWriterTests {
    func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mg-cw-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func readAll(_ paths: [String]) throws -> [CaptureRecord] {
        var out: [CaptureRecord] = []
        for p in paths {
            let r = try CaptureReader(path: p)
            while let rec = try r.next() { out.append(rec) }
        }
        return out
    }

    /// Writing a real capture back out and reading it again gives the same records, byte for byte,
    /// plain and gzip; and `gzip -t` (an independent reader) accepts the gzip file.
    @Test(arguments: ["rec.jsonl", "rec.jsonl.gz"])
    func roundTripsARealCapture(_ name: String) throws {
        let original = try Fixtures.records("kraken/v1-trade-ticker-book-2021-04-17.jsonl.gz")
        let path = try tempDir() + "/" + name
        let w = try CaptureWriter(path: path)
        for r in original { try w.write(r) }
        try w.close()
        let back = try readAll([path])
        #expect(back.count == original.count)
        for (a, b) in zip(original, back) {
            #expect(a.receiveTime == b.receiveTime && a.venue == b.venue && a.kind == b.kind && a.connection == b.connection && a.url == b.url)
            #expect(a.frame == b.frame)
        }
        if name.hasSuffix(".gz") {
            let r = try Command.run(["/bin/gzip", "-t", path])
            #expect(r.status == 0)
        }
    }

    /// Size rotation splits the records over numbered files that read back in order.
    @Test func rotatesBySizeAndTime() throws {
        let original = try Fixtures.records("okx/v5-books-l2-tbt-2021-07-22.jsonl.gz")
        let dir = try tempDir()
        let w = try CaptureWriter(path: dir + "/rec.jsonl.gz", rotateBytes: 200_000)
        for r in original { try w.write(r) }
        try w.close()
        #expect(w.files.count > 2)
        #expect(w.files[1] == dir + "/rec.1.jsonl.gz")
        let back = try readAll(w.files)
        #expect(back.map(\.frame) == original.map(\.frame))

        let timed = try CaptureWriter(path: dir + "/t.jsonl", rotateNanoseconds: 5_000_000_000)
        for r in original { try timed.write(r) }
        try timed.close()
        let span = original.last!.receiveTime.rawValue - original.first!.receiveTime.rawValue
        #expect(timed.files.count >= Int(span / 5_000_000_000))
        #expect(try readAll(timed.files).count == original.count)
    }

    /// A gzip capture whose writer was killed (no trailer) still yields every record up to its last
    /// flush; the reader then reports the truncation with file and line rather than passing it silently.
    @Test func flushedGzipIsReadableWithoutATrailer() throws {
        let original = try Fixtures.records("coinbase/exchange-level2-excerpt.jsonl")
        let path = try tempDir() + "/cut.jsonl.gz"
        do {
            let w = try CaptureWriter(path: path, flushEvery: 10)
            for r in original.prefix(25) { try w.write(r) }
            try w.flush()
            // Simulate a crash: copy the file as it is now, before close() writes the trailer.
            try FileManager.default.copyItem(atPath: path, toPath: path + ".crash.jsonl.gz")
            try w.close()
        }
        let reader = try CaptureReader(path: path + ".crash.jsonl.gz")
        var back: [CaptureRecord] = []
        do {
            while let r = try reader.next() { back.append(r) }
            Issue.record("a gzip stream without its trailer was read as complete")
        } catch {
            #expect(error.description.contains("truncated"))
        }
        #expect(back.map(\.frame) == original.prefix(25).map(\.frame))
        #expect(try readAll([path]).count == 25)
    }
}
