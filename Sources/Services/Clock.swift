#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
public import MarketCore

extension UnixNanos {
    /// The wall clock.
    public static func now() -> UnixNanos {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return UnixNanos(Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec))
    }
}
