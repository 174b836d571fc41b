import CZlib
public import MarketCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One capture line (DESIGN.md, "Capture file format").
public struct CaptureRecord: Sendable {
    public var receiveTime: UnixNanos
    public var venue: Venue
    public var kind: FrameKind
    public var connection: String?
    public var url: String?
    /// The frame's exact bytes (JSON string escapes decoded).
    public var frame: [UInt8]
    /// 1-based line number in its file (0 for live records).
    public var line: Int

    public init(
        receiveTime: UnixNanos, venue: Venue, kind: FrameKind, connection: String? = nil, url: String? = nil,
        frame: [UInt8], line: Int = 0
    ) {
        self.receiveTime = receiveTime
        self.venue = venue
        self.kind = kind
        self.connection = connection
        self.url = url
        self.frame = frame
        self.line = line
    }
}

/// A capture file or line that cannot be read: names the file and line.
public struct CaptureError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int?
    public var reason: String

    public var description: String {
        if let line { return "\(file):\(line): \(reason)" }
        return "\(file): \(reason)"
    }
}

/// Reads a capture file (`.jsonl`, or gzip-compressed `.jsonl.gz`, detected by its magic bytes)
/// line by line, streaming: memory stays bounded by the longest line, not the file.
public final class CaptureReader {
    public let path: String
    /// The open file (read with read(2), not stdio: on a pipe, stdio's fread waits for a full
    /// buffer, so the last lines written would not be seen until the writer closes).
    private var fd: Int32
    private var gzip = false
    private var stream = z_stream()
    private var streamOpen = false
    private var inBuffer = [UInt8](repeating: 0, count: 1 << 16)
    private var outBuffer = [UInt8](repeating: 0, count: 1 << 18)
    /// Decompressed bytes not yet returned as lines.
    private var pending: [UInt8] = []
    private var pendingStart = 0
    private var eof = false
    public private(set) var lineNumber = 0

    public init(path: String) throws(CaptureError) {
        self.path = path
        // "-" is standard input, so a capture can be piped in (plain text; see below).
        fd = path == "-" ? dup(0) : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CaptureError(file: path, line: nil, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        var magic: (UInt8, UInt8) = (0, 0)
        var n = 0
        while n < 2 {
            let r = withUnsafeMutableBytes(of: &magic) { Self.readSome(fd, $0.baseAddress! + n, 2 - n) }
            if r <= 0 { break }
            n += r
        }
        gzip = n == 2 && magic.0 == 0x1F && magic.1 == 0x8B
        if lseek(fd, 0, SEEK_SET) != 0 {
            // A pipe or FIFO cannot rewind: keep the bytes already read as the first input.
            guard !gzip else {
                close(fd)
                throw CaptureError(file: path, line: nil, reason: "compressed captures must be regular files, not pipes")
            }
            withUnsafeBytes(of: magic) { pending.append(contentsOf: $0.prefix(n)) }
        }
        if gzip {
            // 15 + 32: zlib detects the gzip header itself.
            let rc = inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard rc == Z_OK else { throw CaptureError(file: path, line: nil, reason: "zlib init failed (\(rc))") }
            streamOpen = true
        }
    }

    deinit {
        if streamOpen { inflateEnd(&stream) }
        close(fd)
    }

    /// The next line's raw bytes (without the newline), or `nil` at end of file.
    public func nextLineBytes() throws(CaptureError) -> ArraySlice<UInt8>? {
        while true {
            if let nl = pending[pendingStart...].firstIndex(of: 0x0A) {
                let line = pending[pendingStart..<nl]
                pendingStart = nl + 1
                lineNumber += 1
                return line
            }
            if eof {
                guard pendingStart < pending.count else { return nil }
                let line = pending[pendingStart...]
                pendingStart = pending.count
                lineNumber += 1
                return line
            }
            // Compact before reading more.
            if pendingStart > 0 {
                pending.removeFirst(pendingStart)
                pendingStart = 0
            }
            try fill()
        }
    }

    /// The next capture record, skipping blank lines.
    public func next() throws(CaptureError) -> CaptureRecord? {
        while let bytes = try nextLineBytes() {
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
            let line = lineNumber
            let result = bytes.withUnsafeBytes { CaptureRecord.parse($0, line: line) }
            switch result {
            case .success(let r): return r
            case .failure(let reason): throw CaptureError(file: path, line: line, reason: reason.message)
            }
        }
        return nil
    }

    /// read(2), retried on EINTR: the bytes available now (0 at end of file, -1 on error).
    private static func readSome(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        while true {
            let n = read(fd, buffer, count)
            if n < 0 && errno == EINTR { continue }
            return n
        }
    }

    private func fill() throws(CaptureError) {
        if !gzip {
            let n = inBuffer.withUnsafeMutableBytes { Self.readSome(fd, $0.baseAddress!, $0.count) }
            if n < 0 { throw CaptureError(file: path, line: nil, reason: "read error: \(String(cString: strerror(errno)))") }
            if n > 0 { pending.append(contentsOf: inBuffer[0..<n]) } else { eof = true }
            return
        }
        if stream.avail_in == 0 {
            let n = inBuffer.withUnsafeMutableBytes { Self.readSome(fd, $0.baseAddress!, $0.count) }
            if n < 0 { throw CaptureError(file: path, line: nil, reason: "read error: \(String(cString: strerror(errno)))") }
            if n == 0 {
                if streamOpen && stream.total_in > 0 && !finishedMember {
                    throw CaptureError(file: path, line: lineNumber + 1, reason: "truncated gzip data")
                }
                eof = true
                return
            }
            inputLength = n
            inputOffset = 0
            stream.avail_in = UInt32(n)
        }
        var produced = 0
        var rc: Int32 = Z_OK
        inBuffer.withUnsafeMutableBytes { inRaw in
            outBuffer.withUnsafeMutableBytes { outRaw in
                stream.next_in = inRaw.baseAddress!.assumingMemoryBound(to: Bytef.self) + (inputLength - Int(stream.avail_in))
                stream.next_out = outRaw.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = UInt32(outRaw.count)
                rc = inflate(&stream, Z_NO_FLUSH)
                produced = outRaw.count - Int(stream.avail_out)
            }
        }
        if produced > 0 { pending.append(contentsOf: outBuffer[0..<produced]) }
        switch rc {
        case Z_OK, Z_BUF_ERROR:
            finishedMember = false
        case Z_STREAM_END:
            // Concatenated gzip members are valid gzip: keep going with the next one.
            finishedMember = true
            inflateReset(&stream)
        default:
            throw CaptureError(file: path, line: lineNumber + 1, reason: "corrupt gzip data (zlib \(rc))")
        }
    }

    private var inputLength = 0
    private var inputOffset = 0
    private var finishedMember = false
}

extension CaptureRecord {
    struct ParseFailure: Error {
        var message: String
    }

    /// Parses `{"recv_ns":…,"venue":"binance","kind":"ws","conn":"1","url":…,"frame":"<escaped text>"}`.
    static func parse(_ bytes: UnsafeRawBufferPointer, line: Int) -> Result<CaptureRecord, ParseFailure> {
        var s = JSONScanner(bytes)
        guard s.beginObject() else { return .failure(ParseFailure(message: "not a JSON object")) }
        var recv: Int64? = nil
        var venue: String? = nil
        var kind: FrameKind? = nil
        var kindText = ""
        var conn: String? = nil
        var url: String? = nil
        var frame: [UInt8]? = nil
        while let key = s.nextKey() {
            if key.equals("recv_ns") {
                recv = s.readInt64()
                if recv == nil { return .failure(ParseFailure(message: "recv_ns is not an integer")) }
            } else if key.equals("venue") {
                venue = s.readString()
            } else if key.equals("kind") {
                kindText = s.readString() ?? ""
                kind = FrameKind(rawValue: kindText)
            } else if key.equals("conn") {
                if s.readNull() { continue }
                if s.peek() == UInt8(ascii: "\"") { conn = s.readString() } else if let n = s.readInt64() { conn = String(n) }
            } else if key.equals("url") {
                if !s.readNull() { url = s.readString() }
            } else if key.equals("frame") {
                var f: [UInt8] = []
                if s.readNull() {
                    frame = []
                } else {
                    guard s.readString(into: &f) else { return .failure(ParseFailure(message: "frame is not a valid JSON string")) }
                    frame = f
                }
            } else {
                guard s.skipValue() != nil else { break }
            }
        }
        if s.failed { return .failure(ParseFailure(message: "malformed JSON")) }
        guard s.isAtEnd else { return .failure(ParseFailure(message: "trailing data after the JSON object")) }
        guard let recv else { return .failure(ParseFailure(message: "missing recv_ns")) }
        guard let venue, !venue.isEmpty else { return .failure(ParseFailure(message: "missing venue")) }
        guard let kind else {
            return .failure(ParseFailure(message: kindText.isEmpty ? "missing kind" : "unknown kind \"\(kindText)\""))
        }
        if frame == nil, kind == .ws || kind == .rest { return .failure(ParseFailure(message: "missing frame")) }
        return .success(
            CaptureRecord(
                receiveTime: UnixNanos(recv), venue: Venue(venue), kind: kind, connection: conn, url: url,
                frame: frame ?? [], line: line))
    }
}
