public import Feeds
import MarketCore
import Normalizer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `gateway replay`: parses the option values, replays, writes JSON lines to stdout and the
/// `--stats` summary to stderr (even when replay fails).
public struct ReplayRun: Sendable {
    public var paths: [String]
    public var options = PipelineOptions()
    public var printStats = false

    public init(paths: [String]) { self.paths = paths }

    /// Applies the CLI option values (CONTRACTS.md, "`gateway replay`").
    public mutating func configure(
        emit: String?, intervals: String?, depth: Int?, snapshotEvery: String?, grace: String?
    ) throws(ReplayOptionError) {
        if let emit { options.emit = try EmitSet(parsing: emit) }
        if let intervals {
            var list: [Interval] = []
            for part in intervals.split(separator: ",") {
                guard let i = Interval(String(part)) else { throw ReplayOptionError("bad interval '\(part)' (expected e.g. 1m,5m)") }
                list.append(i)
            }
            guard !list.isEmpty else { throw ReplayOptionError("--intervals is empty") }
            options.normalizer.intervals = list
        }
        if let depth {
            guard depth > 0 else { throw ReplayOptionError("--depth must be positive") }
            options.normalizer.snapshotDepth = depth
        }
        if let snapshotEvery {
            guard let i = Interval(snapshotEvery) else { throw ReplayOptionError("bad --snapshot-every '\(snapshotEvery)' (expected e.g. 1s)") }
            options.normalizer.snapshotInterval = i.nanoseconds
        }
        if let grace {
            guard let i = Interval(grace) else { throw ReplayOptionError("bad --grace '\(grace)' (expected e.g. 2s)") }
            options.normalizer.grace = i.nanoseconds
        }
    }

    /// Runs the replay. Returns the process exit status (0 ok, 1 unreadable input).
    public func run() -> Int32 { run(observer: nil) }

    /// Runs the replay, also handing every printed event to `observer` (the store writer).
    func run(observer: ((MarketEvent) -> Void)?, shouldStop: () -> Bool = { false }) -> Int32 {
        var replayer = FeedPipeline(options: options)
        let out = LineWriter(fd: 1)
        // Lines are written one after another into the writer's buffer, which goes to stdout
        // every 64 KiB (no copy of each line into a second buffer).
        var w = JSONWriter(capacity: 1 << 17)
        var trades = TradeLineWriter()
        var status: Int32 = 0
        do {
            try replayer.run(paths: paths, shouldStop: shouldStop) { event in
                observer?(event)
                // A `switch`, not `if case … let`: that copied the event (a retain and a release per trade).
                switch event {
                case .trade(let t):
                    trades.writeLine(t, into: &w)
                default:
                    event.writeJSON(into: &w)
                    w.endLine()
                }
                if w.bytes.count >= 1 << 16 {
                    out.writeNow(w.bytes)
                    w.reset()
                }
            }
        } catch {
            out.writeNow(w.bytes)
            FileHandleStderr.write("gateway replay: error: \(error)\n")
            status = 1
        }
        if status == 0 { out.writeNow(w.bytes) }
        if printStats { FileHandleStderr.write(replayer.stats.jsonLine + "\n") }
        return status
    }
}

/// A buffered writer on a file descriptor (stdout): one `write(2)` per 64 KiB, not per line.
final class LineWriter {
    let fd: Int32
    var buffer: [UInt8] = []

    init(fd: Int32) {
        self.fd = fd
        buffer.reserveCapacity(1 << 16)
    }

    func write(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    /// Writes `bytes` at once, after anything buffered (no copy into the buffer).
    func writeNow(_ bytes: [UInt8]) {
        flush()
        Self.writeAll(fd, bytes)
    }

    func flush() {
        Self.writeAll(fd, buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    return  // stdout closed (e.g. piped into head): nothing more to do
                }
                offset += n
            }
        }
    }
}

/// Writes diagnostics to stderr.
public enum FileHandleStderr {
    public static func write(_ text: String) {
        var t = text
        t.withUTF8 { p in _ = Glibc.write(2, p.baseAddress, p.count) }
    }
}
