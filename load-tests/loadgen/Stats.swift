#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Histogram
import Synchronization

/// Connection-level milestones, shared by all event loops and read by the main thread's wait loop.
/// Touched a few times per connection, never per data frame.
final class Progress: Sendable {
    struct Counts {
        var upgraded = 0
        var failed = 0
        var acked = 0
        var ended = 0
        var closed = 0
        var firstError: String?
    }

    private let state = Mutex(Counts())

    var counts: Counts { state.withLock { $0 } }

    func update(_ body: (inout Counts) -> Void) { state.withLock { body(&$0) } }

    func fail(_ error: String) {
        state.withLock {
            $0.failed += 1
            if $0.firstError == nil { $0.firstError = error }
        }
    }
}

/// One connection's receive state. Lives on its channel's event loop.
final class ConnRecord {
    /// CLOCK_REALTIME when the bytes being decoded reached user space (set per socket read, as wsload does).
    var rxNs: Int64 = 0
    var delivered: UInt64 = 0
    /// Channel names and their last seq; a connection has a handful of channels, so a linear scan is cheapest.
    var channels: [[UInt8]] = []
    var lastSeq: [Int64] = []
    var gotEnd = false
    var sent: Int64?
    var closeCode: Int?
    var closed = false

    /// Index into `lastSeq` for the channel in `bytes[range]`, adding it when new.
    func channelIndex(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> (index: Int, isNew: Bool) {
        let start = bytes.baseAddress! + range.lowerBound
        for i in 0..<channels.count where channels[i].count == range.count {
            if channels[i].withUnsafeBytes({ memcmp($0.baseAddress!, start, range.count) }) == 0 { return (i, false) }
        }
        channels.append(Array(bytes[range]))
        lastSeq.append(0)
        return (channels.count - 1, true)
    }
}

/// Per event loop counters and latency histogram: no locking on the per-frame path.
final class LoopStats {
    /// Latency in ns; 3 significant digits (0.1 % error), up to 60 s (larger values are clamped).
    var latency = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000,
                                    numberOfSignificantValueDigits: .three)
    var delivered: UInt64 = 0
    var timed: UInt64 = 0
    var negativeLatency: UInt64 = 0
    var gaps: UInt64 = 0
    var missing: UInt64 = 0
    var duplicates: UInt64 = 0
    var otherFrames: UInt64 = 0
    var errorFrames: UInt64 = 0
    var pings: UInt64 = 0
    var firstRxNs: Int64 = 0
    var lastRxNs: Int64 = 0
    var conns: [ConnRecord] = []

    @inline(__always)
    func recordLatency(_ ns: Int64) {
        if ns < 0 { negativeLatency += 1 }
        let v = UInt64(clamping: Swift.max(ns, 0))
        _ = latency.record(Swift.min(Swift.max(v, 1), latency.highestTrackableValue))
        timed += 1
    }

    func snapshot() -> Snapshot {
        var s = Snapshot(latency: latency)
        s.delivered = delivered
        s.timed = timed
        s.negativeLatency = negativeLatency
        s.gaps = gaps
        s.missing = missing
        s.duplicates = duplicates
        s.otherFrames = otherFrames
        s.errorFrames = errorFrames
        s.pings = pings
        s.firstRxNs = firstRxNs
        s.lastRxNs = lastRxNs
        for c in conns {
            s.perConnMin = Swift.min(s.perConnMin, c.delivered)
            s.perConnMax = Swift.max(s.perConnMax, c.delivered)
            if let sent = c.sent {
                s.sentByServer += UInt64(clamping: sent)
                s.shortOfSent += UInt64(clamping: sent - Int64(clamping: c.delivered))
            }
            if let code = c.closeCode { s.closeCodes[code, default: 0] += 1 }
            if c.closed && !c.gotEnd { s.closedBeforeEnd += 1 }
        }
        return s
    }
}

/// A Sendable copy of one or more loops' stats, merged after the run.
struct Snapshot: Sendable {
    var latency: Histogram<UInt64>
    var delivered: UInt64 = 0
    var timed: UInt64 = 0
    var negativeLatency: UInt64 = 0
    var gaps: UInt64 = 0
    var missing: UInt64 = 0
    var duplicates: UInt64 = 0
    var otherFrames: UInt64 = 0
    var errorFrames: UInt64 = 0
    var pings: UInt64 = 0
    var firstRxNs: Int64 = 0
    var lastRxNs: Int64 = 0
    var perConnMin: UInt64 = .max
    var perConnMax: UInt64 = 0
    var sentByServer: UInt64 = 0
    /// Σ over connections that got `end` of (sent − delivered), when positive: losses at the tail
    /// that seq continuity cannot see.
    var shortOfSent: UInt64 = 0
    var closeCodes: [Int: Int] = [:]
    var closedBeforeEnd = 0

    mutating func merge(_ o: Snapshot) {
        latency.add(o.latency)
        delivered += o.delivered
        timed += o.timed
        negativeLatency += o.negativeLatency
        gaps += o.gaps
        missing += o.missing
        duplicates += o.duplicates
        otherFrames += o.otherFrames
        errorFrames += o.errorFrames
        pings += o.pings
        if o.firstRxNs != 0 && (firstRxNs == 0 || o.firstRxNs < firstRxNs) { firstRxNs = o.firstRxNs }
        lastRxNs = Swift.max(lastRxNs, o.lastRxNs)
        perConnMin = Swift.min(perConnMin, o.perConnMin)
        perConnMax = Swift.max(perConnMax, o.perConnMax)
        sentByServer += o.sentByServer
        shortOfSent += o.shortOfSent
        closeCodes.merge(o.closeCodes, uniquingKeysWith: +)
        closedBeforeEnd += o.closedBeforeEnd
    }
}
