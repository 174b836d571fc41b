import MarketCore

#if canImport(Glibc)
import Glibc
#endif

/// The capture reader on arbitrary file contents (plain or gzip): every line is either a record
/// or a CaptureError with a line number and a reason; nothing traps, nothing hangs.
nonisolated(unsafe) var scratchPath: String = ""

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if scratchPath.isEmpty { scratchPath = "/tmp/marketgateway-fuzz-capture-\(getpid()).jsonl" }
    let fd = open(scratchPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0, "cannot write \(scratchPath)")
    var written = 0
    while written < size {
        let n = write(fd, data + written, size - written)
        precondition(n > 0, "short write")
        written += n
    }
    close(fd)
    do {
        let reader = try CaptureReader(path: scratchPath)
        var records = 0
        while let record = try reader.next() {
            records += 1
            if record.line < 1 || record.line > reader.lineNumber { fail("record line \(record.line) outside 1...\(reader.lineNumber)") }
            if records > size + 1 { fail("more records than input bytes") }
        }
    } catch {
        if error.reason.isEmpty { fail("capture error without a reason") }
    }
    return 0
}

func fail(_ message: String) -> Never {
    let text = "fuzz invariant broken: \(message)\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
    abort()
}
