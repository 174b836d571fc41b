/// Integer nanoseconds since the Unix epoch (UTC).
public struct UnixNanos: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var rawValue: Int64

    @inlinable public init(_ rawValue: Int64) { self.rawValue = rawValue }
    @inlinable public static func milliseconds(_ ms: Int64) -> UnixNanos { UnixNanos(ms &* 1_000_000) }
    @inlinable public static func microseconds(_ us: Int64) -> UnixNanos { UnixNanos(us &* 1_000) }
    @inlinable public static func seconds(_ s: Int64) -> UnixNanos { UnixNanos(s &* 1_000_000_000) }

    @inlinable public static func < (lhs: UnixNanos, rhs: UnixNanos) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { iso8601(fractionDigits: 9) }

    /// `rawValue` rounded down to a whole multiple of `nanos`.
    @inlinable
    public func floored(to nanos: Int64) -> UnixNanos {
        var q = rawValue / nanos
        if rawValue % nanos < 0 { q -= 1 }
        return UnixNanos(q * nanos)
    }

    /// ISO-8601 UTC text with `fractionDigits` (0, 3, 6 or 9) digits, e.g. `2024-08-08T23:54:15.342Z`.
    public func iso8601(fractionDigits: Int) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        writeISO8601(fractionDigits: fractionDigits, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends ISO-8601 UTC text; sub-second digits are truncated, never rounded (a time never moves forward).
    public func writeISO8601(fractionDigits: Int, into out: inout [UInt8]) {
        // Built in a stack buffer and appended once, not one append (capacity check) per byte.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buf in
            let n = writeISO8601(fractionDigits: fractionDigits, to: buf.baseAddress!)
            out.append(contentsOf: UnsafeBufferPointer(start: buf.baseAddress!, count: n))
        }
    }

    /// Writes the text of ``writeISO8601(fractionDigits:into:)`` to `buf` (room for 32 bytes);
    /// returns its length.
    public func writeISO8601(fractionDigits: Int, to buf: UnsafeMutablePointer<UInt8>) -> Int {
        var cache = ISODayCache()
        return writeISO8601(fractionDigits: fractionDigits, to: buf, cache: &cache)
    }

    /// The same, with the civil date of the last day written kept in `cache` (a replay writes
    /// thousands of times per day; the day-to-date arithmetic was ~2 % of it).
    @inline(__always)
    public func writeISO8601(fractionDigits: Int, to buf: UnsafeMutablePointer<UInt8>, cache: inout ISODayCache) -> Int {
        var seconds = rawValue / 1_000_000_000
        var nanos = rawValue % 1_000_000_000
        if nanos < 0 {
            nanos += 1_000_000_000
            seconds -= 1
        }
        var days = seconds / 86_400
        var secOfDay = seconds % 86_400
        if secOfDay < 0 {
            secOfDay += 86_400
            days -= 1
        }
        if cache.days != days { cache = ISODayCache(days: days, date: CivilDate.fromDays(days)) }
        let (y, m, d) = cache.date
        var n = 0
        func put(_ b: UInt8) {
            buf[n] = b
            n += 1
        }
        func two(_ v: Int64) {
            put(UInt8(48 + v / 10))
            put(UInt8(48 + v % 10))
        }
        let year = y
        put(UInt8(48 + (year / 1000) % 10))
        put(UInt8(48 + (year / 100) % 10))
        two(year % 100)
        put(UInt8(ascii: "-"))
        two(m)
        put(UInt8(ascii: "-"))
        two(d)
        put(UInt8(ascii: "T"))
        two(secOfDay / 3600)
        put(UInt8(ascii: ":"))
        two((secOfDay / 60) % 60)
        put(UInt8(ascii: ":"))
        two(secOfDay % 60)
        if fractionDigits > 0 {
            put(UInt8(ascii: "."))
            var div: Int64 = 100_000_000
            for _ in 0..<min(fractionDigits, 9) {
                put(UInt8(48 + (nanos / div) % 10))
                div /= 10
            }
        }
        put(UInt8(ascii: "Z"))
        return n
    }

    /// Parses ISO-8601 UTC text such as `2021-04-17T16:43:37.075687Z` exactly (any 0–9 fraction digits).
    public static func parseISO8601(_ b: UnsafeRawBufferPointer) -> UnixNanos? {
        // YYYY-MM-DDTHH:MM:SS[.fffffffff]Z
        guard b.count >= 20 else { return nil }
        func num(_ from: Int, _ len: Int) -> Int64? {
            var v: Int64 = 0
            for i in from..<(from + len) {
                let d = b[i] &- 48
                guard d < 10 else { return nil }
                v = v * 10 + Int64(d)
            }
            return v
        }
        guard let y = num(0, 4), b[4] == UInt8(ascii: "-"), let mo = num(5, 2), b[7] == UInt8(ascii: "-"),
            let d = num(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " "), let h = num(11, 2),
            b[13] == UInt8(ascii: ":"), let mi = num(14, 2), b[16] == UInt8(ascii: ":"), let s = num(17, 2),
            (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        var i = 19
        var nanos: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, b[i] &- 48 < 10 {
                if digits < 9 { nanos = nanos * 10 + Int64(b[i] &- 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            var pad = digits
            while pad < 9 {
                nanos *= 10
                pad += 1
            }
        }
        guard i == b.count - 1, b[i] == UInt8(ascii: "Z") else { return nil }
        // Years up to 9999 parse, but only ±292 years around 1970 fit in Int64 nanoseconds: report, never trap.
        let days = CivilDate.toDays(year: y, month: mo, day: d)
        let seconds = days * 86_400 + h * 3600 + mi * 60 + s
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return nil }
        let (total, overflow2) = ns.addingReportingOverflow(nanos)
        return overflow2 ? nil : UnixNanos(total)
    }

    public static func parseISO8601(_ text: String) -> UnixNanos? {
        var t = text
        return t.withUTF8 { parseISO8601(UnsafeRawBufferPointer($0)) }
    }

    /// Parses exact decimal seconds such as Kraken's `"1618677817.123456"` (never through `Double`).
    public static func parseDecimalSeconds(_ b: UnsafeRawBufferPointer) -> UnixNanos? {
        guard case .success(let v) = FixedDecimal.parse(b), v.scale <= 9, !v.isNegative else { return nil }
        let (ns, o) = v.mantissa.multipliedReportingOverflow(by: Pow10.int64(9 - Int(v.scale)))
        return o ? nil : UnixNanos(ns)
    }
}

/// Proleptic Gregorian calendar conversions (H. Hinnant's days-from-civil algorithms).
enum CivilDate {
    static func fromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func toDays(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

/// The civil date of one day (``UnixNanos/writeISO8601(fractionDigits:to:cache:)``).
public struct ISODayCache: Sendable {
    var days: Int64 = .min
    var date: (Int64, Int64, Int64) = (0, 0, 0)

    public init() {}

    init(days: Int64, date: (Int64, Int64, Int64)) {
        self.days = days
        self.date = date
    }
}
