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

/// The clock a live feed stamps its records with (their `recv_ns`), which is also the clock that
/// closes candles by grace. Production feeds use the wall clock. A feed of recorded data (the
/// demo's simulator) runs on the recording's timeline instead, so a 2021 capture's candles close
/// on 2021 times as they do in replay, not at once against today's date.
public struct ReceiveClock: Sendable {
    public let now: @Sendable () -> UnixNanos
    /// The receive time of a frame just received (default: ``now``). A recording's clock knows
    /// each frame's own time; the wall clock stamps the moment it was read.
    public let stamp: @Sendable ([UInt8]) -> UnixNanos
    /// The wall clock: a session stamps frames with its own wall-clock reading (one read a frame).
    let isWall: Bool

    public init(now: @escaping @Sendable () -> UnixNanos, stamp: (@Sendable ([UInt8]) -> UnixNanos)? = nil) {
        self.now = now
        self.stamp = stamp ?? { _ in now() }
        self.isWall = false
    }

    private init(wall: Void) {
        now = wallClockNow
        stamp = { _ in wallClockNow() }
        isWall = true
    }

    public static let wall = ReceiveClock(wall: ())
}
