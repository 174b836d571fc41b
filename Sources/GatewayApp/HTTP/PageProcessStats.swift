import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The gateway process's CPU time and resident memory, read from `/proc/self` (Linux); nil
/// elsewhere. Read once a second by the ops sampler.
struct ProcessStats: Sendable, Equatable {
    /// User + system CPU seconds since the process started.
    var cpuSeconds: Double
    var residentBytes: Int

    static func read() -> ProcessStats? {
        #if os(Linux)
        // /proc/self/stat: the command name (field 2) is in parentheses and may hold spaces, so
        // split after its closing one; utime and stime are fields 14 and 15 (proc(5)), in clock ticks.
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state), so field n is fields[n - 3].
        guard fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        // /proc/self/statm: size resident shared … in pages.
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let pages = statm.split(separator: " ")
        guard pages.count > 1, let resident = Int(pages[1]) else { return nil }
        return ProcessStats(cpuSeconds: (utime + stime) / max(ticks, 1), residentBytes: resident * Int(sysconf(Int32(_SC_PAGESIZE))))
        #else
        return nil
        #endif
    }
}
