#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One table's append-only spill file: row lines that could not be written to the database yet.
///
/// `<dir>/<table>.spill` holds row lines (``RowBatch``); `<dir>/<table>.spill.offset` holds the
/// byte offset of the first line not yet stored. Appends are fsynced per batch. Draining reads
/// whole lines from the offset, and the offset is fsynced after each stored chunk, so a crash
/// re-sends at most one chunk — harmless, because store writes are idempotent upserts.
/// A torn last line (a crash during an append) is cut off when the file is opened.
final class SpillFile {
    let table: StoreTable
    let path: String
    private let offsetPath: String
    private var fd: Int32
    /// Bytes in the file.
    private(set) var size: Int
    /// Start of the first line not yet stored.
    private(set) var offset: Int

    init(directory: String, table: StoreTable) throws(SpillError) {
        self.table = table
        path = "\(directory)/\(table.rawValue).spill"
        offsetPath = path + ".offset"
        fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SpillError(path: path, operation: "open", errno: errno) }
        size = Int(lseek(fd, 0, SEEK_END))
        offset = 0
        if let text = Self.readSmallFile(offsetPath), let value = Int(text.trimmingSpaces), value >= 0 {
            // An offset past the end means the file was truncated after the last drain finished.
            offset = value <= size ? value : 0
        }
        try cutTornLine()
    }

    deinit { close(fd) }

    /// Rows waiting in the file.
    var hasPending: Bool { offset < size }
    var pendingBytes: Int { size - offset }

    /// Appends row lines, and fsyncs unless `sync` is false.
    func append(_ bytes: [UInt8], sync: Bool = true) throws(SpillError) {
        guard !bytes.isEmpty else { return }
        var written = 0
        let result: Int32 = bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += n
            }
            return 0
        }
        size += written
        guard result == 0 else { throw SpillError(path: path, operation: "write", errno: result) }
        guard !sync || fsync(fd) == 0 else { throw SpillError(path: path, operation: "fsync", errno: errno) }
    }

    /// Up to about `maxBytes` of whole lines from the offset (at least one line), or `nil` when
    /// nothing is pending.
    func readChunk(maxBytes: Int) throws(SpillError) -> RowBatch? {
        guard hasPending else { return nil }
        var want = min(maxBytes, pendingBytes)
        while true {
            var buffer = [UInt8](repeating: 0, count: want)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset)) }
            guard n >= 0 else { throw SpillError(path: path, operation: "read", errno: errno) }
            buffer.removeLast(want - n)
            if let lastNewline = buffer.lastIndex(of: 0x0A) {
                buffer.removeLast(buffer.count - lastNewline - 1)
                return RowBatch(table: table, lines: buffer)
            }
            // A line longer than the chunk: read more.
            guard want < pendingBytes else { return nil }
            want = min(want * 2, pendingBytes)
        }
    }

    /// Marks `bytes` more as stored; when everything is stored, empties the file.
    func markStored(bytes: Int) throws(SpillError) {
        offset += bytes
        if offset >= size {
            guard ftruncate(fd, 0) == 0 else { throw SpillError(path: path, operation: "truncate", errno: errno) }
            _ = fsync(fd)
            size = 0
            offset = 0
            unlink(offsetPath)
        } else {
            try writeOffset()
        }
    }

    private func writeOffset() throws(SpillError) {
        let tmp = offsetPath + ".tmp"
        let ofd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard ofd >= 0 else { throw SpillError(path: tmp, operation: "open", errno: errno) }
        var text = "\(offset)\n"
        let ok = text.withUTF8 { p in write(ofd, p.baseAddress, p.count) == p.count } && fsync(ofd) == 0
        close(ofd)
        guard ok, rename(tmp, offsetPath) == 0 else { throw SpillError(path: offsetPath, operation: "write", errno: errno) }
    }

    private func cutTornLine() throws(SpillError) {
        guard size > 0 else { return }
        var last: UInt8 = 0
        _ = pread(fd, &last, 1, off_t(size - 1))
        guard last != 0x0A else { return }
        // Find the last complete line and drop the fragment after it.
        var end = size
        var byte: UInt8 = 0
        while end > 0 {
            _ = pread(fd, &byte, 1, off_t(end - 1))
            if byte == 0x0A { break }
            end -= 1
        }
        guard ftruncate(fd, off_t(end)) == 0 else { throw SpillError(path: path, operation: "truncate", errno: errno) }
        size = end
        if offset > size { offset = size }
    }

    private static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 64) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}

extension String {
    fileprivate var trimmingSpaces: Substring {
        var s = Substring(self)
        while let c = s.last, c == "\n" || c == " " || c == "\r" { s.removeLast() }
        return s
    }
}

/// A spill file that cannot be used; names the file, the operation and the OS error.
public struct SpillError: Error, CustomStringConvertible {
    public let path: String
    public let operation: String
    public let errno: Int32

    public var description: String {
        "spill file \(path): \(operation) failed: \(String(cString: strerror(errno)))"
    }
}
