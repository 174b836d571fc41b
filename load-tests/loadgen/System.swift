#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Process-level helpers: clocks, fd limit, CPU time, another process's RSS.
enum System {
    /// CLOCK_REALTIME in ns: the clock the publisher stamps `pub_ns` with.
    @inline(__always)
    static func realtimeNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Monotonic seconds, for durations.
    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Raises the soft RLIMIT_NOFILE to the hard limit (10,000 sockets exceed the usual 1,024).
    @discardableResult
    static func raiseFileLimit() -> UInt64 {
        var rl = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &rl) == 0 else { return 0 }
        if rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max
            _ = setrlimit(resource, &rl)
            _ = getrlimit(resource, &rl)
        }
        return UInt64(rl.rlim_cur)
    }

    /// User and system CPU seconds of this process (all threads).
    static func cpuSeconds() -> (user: Double, sys: Double) {
        var ru = rusage()
        #if canImport(Glibc)
        getrusage(RUSAGE_SELF.rawValue, &ru)
        #else
        getrusage(RUSAGE_SELF, &ru)
        #endif
        func secs(_ tv: timeval) -> Double { Double(tv.tv_sec) + Double(tv.tv_usec) / 1e6 }
        return (secs(ru.ru_utime), secs(ru.ru_stime))
    }

    /// VmRSS of `pid` in bytes from /proc/PID/status; nil when the process is gone (or not Linux).
    static func residentBytes(pid: Int32) -> Int? {
        guard let file = fopen("/proc/\(pid)/status", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix("VmRSS:") {
                let kb = text.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
                return kb.map { $0 * 1024 }
            }
        }
        return nil
    }
}
