import CZlib
public import MarketCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A capture file that cannot be written.
public struct CaptureWriteError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Writes capture records (DESIGN.md, "Capture file format") to `.jsonl`, or gzip when the path
/// ends in `.gz`, rotating to a new file by size and by time.
///
/// Rotation names: the first file is `path`; later ones insert `.1`, `.2`, … before `.jsonl`
/// (`rec.jsonl.gz`, `rec.1.jsonl.gz`, …), so a glob replays them in order. Gzip output is
/// sync-flushed every `flushEvery` records so a crash loses at most that many lines.
public final class CaptureWriter {
    public let path: String
    public let rotateBytes: Int
    public let rotateNanoseconds: Int64
    public let flushEvery: Int
    /// Files written so far (the current one last).
    public private(set) var files: [String] = []
    public private(set) var recordsWritten = 0

    private var fd: Int32 = -1
    private var gzip: Bool
    private var stream = z_stream()
    private var bytesInFile = 0
    private var fileStart: Int64?
    private var sinceFlush = 0
    private var line = JSONWriter(capacity: 4096)
    private var out = [UInt8](repeating: 0, count: 1 << 16)

    public init(path: String, rotateBytes: Int = 1 << 30, rotateNanoseconds: Int64 = 3_600_000_000_000, flushEvery: Int = 256)
        throws(CaptureWriteError)
    {
        self.path = path
        self.rotateBytes = max(1024, rotateBytes)
        self.rotateNanoseconds = rotateNanoseconds
        self.flushEvery = max(1, flushEvery)
        self.gzip = path.hasSuffix(".gz")
        try openFile(path)
    }

    deinit { try? close() }

    /// Appends one record.
    public func write(_ r: CaptureRecord) throws(CaptureWriteError) {
        let t = r.receiveTime.rawValue
        if let start = fileStart, bytesInFile >= rotateBytes || (rotateNanoseconds > 0 && t - start >= rotateNanoseconds) {
            try finishFile()
            try openFile(Self.rotatedName(path, files.count))
        }
        if fileStart == nil { fileStart = t }
        line.reset()
        line.beginObject()
        line.key("recv_ns")
        line.int(t)
        line.key("venue")
        line.string(r.venue.id)
        line.key("kind")
        line.string(r.kind.rawValue)
        if let c = r.connection {
            line.key("conn")
            line.string(c)
        }
        if let u = r.url {
            line.key("url")
            line.string(u)
        }
        line.key("frame")
        line.string(utf8: r.frame)
        line.endObject()
        line.bytes.append(0x0A)
        try emit(line.bytes, flush: false)
        recordsWritten += 1
        sinceFlush += 1
        if sinceFlush >= flushEvery { try flush() }
    }

    /// Makes everything written so far readable (gzip sync flush).
    public func flush() throws(CaptureWriteError) {
        sinceFlush = 0
        if gzip { try emit([], flush: true) }
    }

    /// Finishes the current file (gzip trailer) and closes it. Idempotent.
    public func close() throws(CaptureWriteError) {
        guard fd >= 0 else { return }
        try finishFile()
    }

    // MARK: Files

    static func rotatedName(_ path: String, _ n: Int) -> String {
        for suffix in [".jsonl.gz", ".jsonl", ".gz"] where path.hasSuffix(suffix) {
            return "\(path.dropLast(suffix.count)).\(n)\(suffix)"
        }
        return "\(path).\(n)"
    }

    private func openFile(_ p: String) throws(CaptureWriteError) {
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CaptureWriteError(description: "\(p): cannot create: \(String(cString: strerror(errno)))") }
        files.append(p)
        bytesInFile = 0
        fileStart = nil
        if gzip {
            stream = z_stream()
            // windowBits 15 + 16: a gzip header and trailer rather than a raw zlib stream.
            let rc = deflateInit2_(
                &stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard rc == Z_OK else { throw CaptureWriteError(description: "\(p): deflateInit2 failed (\(rc))") }
        }
    }

    private func finishFile() throws(CaptureWriteError) {
        if gzip {
            try deflateAll([], mode: Z_FINISH)
            deflateEnd(&stream)
        }
        let p = files.last ?? path
        if fsync(fd) != 0 && errno != EINVAL {
            posixClose(fd)
            fd = -1
            throw CaptureWriteError(description: "\(p): fsync failed: \(String(cString: strerror(errno)))")
        }
        posixClose(fd)
        fd = -1
    }

    private func emit(_ bytes: [UInt8], flush: Bool) throws(CaptureWriteError) {
        bytesInFile += bytes.count
        if gzip {
            try deflateAll(bytes, mode: flush ? Z_SYNC_FLUSH : Z_NO_FLUSH)
        } else {
            try writeAll(bytes[...])
        }
    }

    private func deflateAll(_ input: [UInt8], mode: Int32) throws(CaptureWriteError) {
        var input = input
        var failure: CaptureWriteError? = nil
        input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = UInt32(inBuf.count)
            repeat {
                let produced: Int = out.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = UInt32(outBuf.count)
                    _ = deflate(&stream, mode)
                    return outBuf.count - Int(stream.avail_out)
                }
                if produced > 0 {
                    do throws(CaptureWriteError) { try writeAll(out[..<produced]) } catch {
                        failure = error
                        return
                    }
                }
            } while stream.avail_out == 0 || stream.avail_in > 0
        }
        stream.next_in = nil
        if let failure { throw failure }
    }

    private func writeAll(_ bytes: ArraySlice<UInt8>) throws(CaptureWriteError) {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let n = bytes[offset...].withUnsafeBytes { posixWrite(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CaptureWriteError(description: "\(files.last ?? path): write failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }
}

// The class's own `write`/`close` shadow the C functions inside it.
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer?, _ n: Int) -> Int { write(fd, p, n) }
private func posixClose(_ fd: Int32) { _ = close(fd) }
