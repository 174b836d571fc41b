public import MarketCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time: the receive time stamped on live frames.
public func wallClockNow() -> UnixNanos {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UnixNanos(Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
}

extension Duration {
    /// Whole nanoseconds (durations in configuration are far below Int64's range).
    var nanoseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}
