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
    /// A plain regular file is mapped, not read: read(2) copied every byte from the page cache
    /// (~19 % of a 200k-trade replay's CPU time, in the kernel) and then again into `pending`.
    /// Lines are taken from the mapping; bytes appended after it was made are read as before.
    private var mapped: UnsafeRawBufferPointer?
    private var mappedStart = 0

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
        if !gzip { mapIfRegularFile() }
        if gzip {
            // 15 + 32: zlib detects the gzip header itself.
            let rc = inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard rc == Z_OK else { throw CaptureError(file: path, line: nil, reason: "zlib init failed (\(rc))") }
            streamOpen = true
        }
    }

    deinit {
        if streamOpen { inflateEnd(&stream) }
        if let m = mapped { munmap(UnsafeMutableRawPointer(mutating: m.baseAddress!), m.count) }
        close(fd)
    }

    /// Maps the whole file when it is a regular, non-empty file (not a pipe or terminal); the file
    /// offset moves to the mapping's end, so `fill()` reads whatever is appended later.
    private func mapIfRegularFile() {
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0, pending.isEmpty else { return }
        let size = Int(st.st_size)
        var flags = MAP_PRIVATE
        #if os(Linux)
        // Page tables filled up front: one call instead of a page fault per few pages.
        if size <= 1 << 28 { flags |= MAP_POPULATE }
        #endif
        guard let p = mmap(nil, size, PROT_READ, flags, fd, 0), p != MAP_FAILED else { return }
        guard lseek(fd, off_t(size), SEEK_SET) == off_t(size) else {
            munmap(p, size)
            return
        }
        _ = madvise(p, size, MADV_SEQUENTIAL)
        mapped = UnsafeRawBufferPointer(start: p, count: size)
    }

    /// The next line from the mapping (without the newline), or nil when the mapping holds no
    /// more complete line. A last line without a newline is moved to `pending`, so bytes
    /// appended to the file later continue it.
    private func nextMappedLine() -> UnsafeRawBufferPointer? {
        guard let m = mapped else { return nil }
        let base = m.baseAddress!
        if mappedStart < m.count, let p = memchr(base + mappedStart, 0x0A, m.count - mappedStart) {
            let nl = UnsafeRawPointer(p) - base
            let line = UnsafeRawBufferPointer(start: base + mappedStart, count: nl - mappedStart)
            mappedStart = nl + 1
            lineNumber += 1
            return line
        }
        if mappedStart < m.count { pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: m[mappedStart...])) }
        munmap(UnsafeMutableRawPointer(mutating: base), m.count)
        mapped = nil
        return nil
    }

    /// Calls `body` with the next line's raw bytes (without the newline; valid only inside
    /// `body`), or returns nil at end of file.
    private func withNextLine<R>(_ body: (UnsafeRawBufferPointer) -> R) throws(CaptureError) -> R? {
        if mapped != nil, let line = nextMappedLine() { return body(line) }
        guard let slice = try nextPendingLine() else { return nil }
        return slice.withUnsafeBytes { body($0) }
    }

    /// The next line's raw bytes (without the newline), or `nil` at end of file.
    public func nextLineBytes() throws(CaptureError) -> ArraySlice<UInt8>? {
        if mapped != nil, let line = nextMappedLine() { return ArraySlice(line) }
        return try nextPendingLine()
    }

    private func nextPendingLine() throws(CaptureError) -> ArraySlice<UInt8>? {
        while true {
            let found = pending.withUnsafeBytes { raw -> Int? in
                guard pendingStart < raw.count else { return nil }
                let base = raw.baseAddress!
                guard let p = memchr(base + pendingStart, 0x0A, raw.count - pendingStart) else { return nil }
                return UnsafeRawPointer(p) - base
            }
            if let nl = found {
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
        while true {
            let read = try withNextLine { bytes -> Result<CaptureRecord, CaptureRecord.ParseFailure>? in
                if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { return nil }
                return CaptureRecord.parse(bytes, line: lineNumber)
            }
            guard let read else { return nil }
            switch read {
            case nil: continue
            case .success(let r)?: return r
            case .failure(let reason)?: throw CaptureError(file: path, line: lineNumber, reason: reason.message)
            }
        }
    }

    /// What ``next(tryFirst:)`` read.
    enum Read {
        case end
        /// `tryFirst` handled the line.
        case handled
        case record(CaptureRecord)
    }

    /// Like ``next()``, but each non-blank line is first offered to `tryFirst` (its raw bytes, valid
    /// only during the call); a line it handles is not parsed here.
    func next(tryFirst: (UnsafeRawBufferPointer) -> Bool) throws(CaptureError) -> Read {
        while true {
            // A concrete enum, not a nested Optional<Result<…>>: the latter's copies and destroys
            // went through the runtime's generic enum functions on every line.
            let outcome = try withNextLine { bytes -> LineOutcome in
                if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { return .blank }
                if tryFirst(bytes) { return .handled }
                switch CaptureRecord.parse(bytes, line: lineNumber) {
                case .success(let r): return .record(r)
                case .failure(let f): return .failure(f.message)
                }
            }
            switch outcome {
            case nil: return .end
            case .blank?: continue
            case .handled?: return .handled
            case .record(let r)?: return .record(r)
            case .failure(let message)?: throw CaptureError(file: path, line: lineNumber, reason: message)
            }
        }
    }

    private enum LineOutcome {
        case blank
        case handled
        case record(CaptureRecord)
        case failure(String)
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
        if let record = parseWrittenLayout(bytes, line: line) { return .success(record) }
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
                // The kind's bytes as written name it (no String made); anything else is decoded.
                let start = s.index
                if let raw = s.readStringRaw(), let k = FrameKind(bytes: raw) {
                    kind = k
                } else {
                    s.index = start
                    kindText = s.readString() ?? ""
                    kind = FrameKind(rawValue: kindText)
                }
            } else if key.equals("conn") {
                if s.readNull() { continue }
                if s.peek() == UInt8(ascii: "\"") { conn = s.readString() } else if let n = s.readInt64() { conn = String(n) }
            } else if key.equals("url") {
                if !s.readNull() { url = s.readString() }
            } else if key.equals("frame") {
                if s.readNull() {
                    frame = []
                } else {
                    // One pass: finds the closing quote and decodes into the record's own array.
                    guard let f = s.readStringBytes() else { return .failure(ParseFailure(message: "frame is not a valid JSON string")) }
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

extension CaptureRecord {
    /// The layout the recorder writes, `{"recv_ns":N,"venue":"V","kind":"K"[,"conn":"C"][,"url":"U"],"frame":"…"}`, read
    /// with fixed key checks; `nil` for any other layout or any doubt (the general parser then
    /// reads the line and reports its errors).
    static func parseWrittenLayout(_ bytes: UnsafeRawBufferPointer, line: Int) -> CaptureRecord? {
        guard let head = WrittenLayoutHead(bytes) else { return nil }
        var s = JSONScanner(bytes, index: head.frameStart)
        guard let frame = s.readStringBytes(), s.consume(UInt8(ascii: "}")), s.isAtEnd else { return nil }
        return CaptureRecord(
            receiveTime: UnixNanos(head.recv), venue: Venue(String(decoding: head.venue, as: UTF8.self)), kind: head.kind,
            connection: head.conn.map { String(decoding: $0, as: UTF8.self) },
            url: head.url.map { String(decoding: $0, as: UTF8.self) }, frame: frame, line: line)
    }
}

/// The fields before `frame` in the recorder's layout,
/// `{"recv_ns":N,"venue":"V","kind":"K"[,"conn":"C"][,"url":"U"],"frame":`, read with fixed key
/// checks (no escapes in V, K, C, U); `nil` for any other layout or any doubt.
struct WrittenLayoutHead {
    var recv: Int64
    var venue: UnsafeRawBufferPointer
    var kind: FrameKind
    var conn: UnsafeRawBufferPointer?
    var url: UnsafeRawBufferPointer?
    /// Index of the frame's value (just after `"frame":`).
    var frameStart: Int

    init?(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        let n = bytes.count
        func expect(_ literal: StaticString) -> Bool {
            let len = literal.utf8CodeUnitCount
            guard i + len <= n, memcmp(bytes.baseAddress! + i, literal.utf8Start, len) == 0 else { return false }
            i += len
            return true
        }
        // A plain string (no escapes): the bytes between the quotes, i after the closing quote.
        func plainString() -> UnsafeRawBufferPointer? {
            let start = i
            while i < n {
                let c = bytes[i]
                if c == UInt8(ascii: "\\") { return nil }
                if c == UInt8(ascii: "\"") {
                    i += 1
                    return UnsafeRawBufferPointer(rebasing: bytes[start..<(i - 1)])
                }
                i += 1
            }
            return nil
        }
        guard expect(#"{"recv_ns":"#) else { return nil }
        let digitsStart = i
        while i < n, bytes[i] &- 48 < 10 { i += 1 }
        // Nanosecond times have 19 digits (until 2286); parseInt64 refuses an overflow. A leading
        // zero is not JSON: left to the general parser and its error.
        guard i - digitsStart > 0, i - digitsStart <= 19, bytes[digitsStart] != UInt8(ascii: "0") || i - digitsStart == 1,
            let recv = JSONScanner.parseInt64(UnsafeRawBufferPointer(rebasing: bytes[digitsStart..<i])),
            expect(#","venue":""#), let venueBytes = plainString(), !venueBytes.isEmpty,
            expect(#","kind":""#), let kindBytes = plainString(), let kind = FrameKind(bytes: kindBytes)
        else { return nil }
        self.recv = recv
        self.venue = venueBytes
        self.kind = kind
        // The writer's optional keys, in its order, as plain strings.
        conn = nil
        url = nil
        if expect(#","conn":""#) {
            guard let c = plainString() else { return nil }
            conn = c
        }
        if expect(#","url":""#) {
            guard let u = plainString() else { return nil }
            url = u
        }
        guard expect(#","frame":"#) else { return nil }
        frameStart = i
    }

    /// The frame's text as written, when it is a string that closes the line (`…"}` at the very
    /// end): the content between the quotes, escapes not decoded and not checked (whoever reads it
    /// must refuse what it does not know).
    func escapedFrame(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let n = bytes.count
        guard n - frameStart >= 3, bytes[frameStart] == UInt8(ascii: "\""), bytes[n - 2] == UInt8(ascii: "\""),
            bytes[n - 1] == UInt8(ascii: "}")
        else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[(frameStart + 1)..<(n - 2)])
    }
}

extension FrameKind {
    /// The kind named by a capture's `kind` bytes as written (no escapes), or nil.
    init?(bytes raw: UnsafeRawBufferPointer) {
        if raw.equals("ws") {
            self = .ws
        } else if raw.equals("rest") {
            self = .rest
        } else if raw.equals("open") {
            self = .open
        } else if raw.equals("close") {
            self = .close
        } else if raw.equals("sent") {
            self = .sent
        } else if raw.equals("tick") {
            self = .tick
        } else {
            return nil
        }
    }
}

extension JSONScanner {
    /// Reads a string value with its escapes decoded into a new array, in one pass over the input
    /// (finding the closing quote and decoding together); `nil` on malformed input, with the
    /// scanner moved as the two-step read (raw string, then unescape) it replaces moves it.
    mutating func readStringBytes() -> [UInt8]? {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        let from = index &+ 1
        var end = 0
        // Decoded text is never longer than its escaped form, so the rest of the input bounds it.
        let input = bytes
        let out = [UInt8](unsafeUninitializedCapacity: input.count &- from) { buffer, count in
            count = 0
            guard let (e, n) = JSONScanner.decodeCaptureString(input, from: from, into: buffer.baseAddress!) else { return }
            end = e
            count = n
        }
        guard end > 0 else {
            _ = readStringRaw()
            return nil
        }
        index = end
        return out
    }

    /// The one-pass string decoder: reads from `from` (just after the opening quote) to the closing
    /// quote, writing the decoded bytes to `out` (room for `bytes.count - from` bytes). Returns the
    /// index after the closing quote and the decoded length, or `nil` on a bad escape or a missing
    /// closing quote. Runs of plain bytes move eight at a time.
    static func decodeCaptureString(
        _ bytes: UnsafeRawBufferPointer, from: Int, into out: UnsafeMutablePointer<UInt8>
    ) -> (end: Int, count: Int)? {
        guard let base = bytes.baseAddress else { return nil }
        let n = bytes.count
        var i = from
        var o = 0
        while true {
            // Copy up to the next quote or backslash. A word is stored whole: what follows the
            // stop byte is overwritten next (output never runs ahead of input, so it fits).
            while i &+ 8 <= n {
                let w = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                UnsafeMutableRawPointer(out + o).storeBytes(of: w.littleEndian, as: UInt64.self)
                let q = w ^ 0x2222_2222_2222_2222
                let b = w ^ 0x5C5C_5C5C_5C5C_5C5C
                let lo: UInt64 = 0x0101_0101_0101_0101
                let hi: UInt64 = 0x8080_8080_8080_8080
                // Zero-byte test: exact for the lowest stop byte, which is all that is used.
                let mask = (((q &- lo) & ~q) | ((b &- lo) & ~b)) & hi
                if mask == 0 {
                    i &+= 8
                    o &+= 8
                    continue
                }
                let k = mask.trailingZeroBitCount &>> 3
                i &+= k
                o &+= k
                break
            }
            while i < n {
                let c = base.load(fromByteOffset: i, as: UInt8.self)
                if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { break }
                out[o] = c
                i &+= 1
                o &+= 1
            }
            guard i < n else { return nil }
            if base.load(fromByteOffset: i, as: UInt8.self) == UInt8(ascii: "\"") { return (i &+ 1, o) }
            guard i &+ 1 < n else { return nil }
            let e = base.load(fromByteOffset: i &+ 1, as: UInt8.self)
            i &+= 2
            let decoded: UInt8
            switch e {
            case UInt8(ascii: "\""): decoded = 0x22
            case UInt8(ascii: "\\"): decoded = 0x5C
            case UInt8(ascii: "/"): decoded = 0x2F
            case UInt8(ascii: "b"): decoded = 0x08
            case UInt8(ascii: "f"): decoded = 0x0C
            case UInt8(ascii: "n"): decoded = 0x0A
            case UInt8(ascii: "r"): decoded = 0x0D
            case UInt8(ascii: "t"): decoded = 0x09
            case UInt8(ascii: "u"):
                // A quote inside the four digits fails as a non-hex digit, so reading up to the
                // end of the input never decodes past the string's end.
                guard var scalar = hex4(bytes, i) else { return nil }
                i &+= 4
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard i &+ 6 <= n, bytes[i] == UInt8(ascii: "\\"), bytes[i &+ 1] == UInt8(ascii: "u"),
                        let low = hex4(bytes, i &+ 2), (0xDC00..<0xE000).contains(low)
                    else { return nil }
                    i &+= 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    return nil
                }
                guard let u = Unicode.Scalar(scalar) else { return nil }
                for byte in UTF8.encode(u)! {
                    out[o] = byte
                    o &+= 1
                }
                continue
            default: return nil
            }
            out[o] = decoded
            o &+= 1
        }
    }

    private static func hex4(_ raw: UnsafeRawBufferPointer, _ at: Int) -> UInt32? {
        guard at + 4 <= raw.count else { return nil }
        var v: UInt32 = 0
        for k in 0..<4 {
            let d: UInt32
            switch raw[at + k] {
            case let c where c >= 48 && c <= 57: d = UInt32(c - 48)
            case let c where c >= 65 && c <= 70: d = UInt32(c - 55)
            case let c where c >= 97 && c <= 102: d = UInt32(c - 87)
            default: return nil
            }
            v = v << 4 | d
        }
        return v
    }
}
