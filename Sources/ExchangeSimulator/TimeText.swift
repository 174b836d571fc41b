/// How a venue writes a time, so a looping pass can move it by a whole number of nanoseconds and
/// write it back in the same spelling (integer arithmetic only: no rounding through Double).
enum TimeFormat: Sendable {
    /// Integer milliseconds since the epoch (`1723161255208` or `"1652459225393"`).
    case millis
    /// Integer nanoseconds since the epoch.
    case nanos
    /// Decimal seconds since the epoch (`"1618678142.592855"`, Kraken v1).
    case seconds
    /// ISO 8601 UTC (`"2021-04-17T16:43:37.075687Z"`, Coinbase).
    case iso8601

    /// `text` moved by `ns` (a whole number of milliseconds when the format has no finer digits),
    /// or nil when `text` is not in this format. Fraction digits are kept, or widened when the shift
    /// needs more of them.
    func shifted(_ text: String, by ns: Int64) -> String? {
        switch self {
        case .millis:
            guard let v = ModelJSON.integer(text), v > 0 else { return nil }
            return String(v + ns / 1_000_000)
        case .nanos:
            guard let v = ModelJSON.integer(text), v > 0 else { return nil }
            return String(v + ns)
        case .seconds:
            guard let d = Self.decimal(Substring(text)) else { return nil }
            return Self.write(Self.add(whole: d.0, fraction: d.1, ns: ns))
        case .iso8601:
            return Self.shiftedISO(text, by: ns)
        }
    }

    /// `"1618678142.592855"` → (1618678142, "592855").
    static func decimal(_ text: Substring) -> (Int64, Substring)? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = Int64(parts[0]), whole >= 0 else { return nil }
        let fraction = parts.count > 1 ? parts[1] : ""
        guard fraction.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), fraction.count <= 9 else { return nil }
        return (whole, fraction)
    }

    /// Seconds and fraction digits plus `ns`: (seconds, fraction digits, in as many digits as needed).
    static func add(whole: Int64, fraction: Substring, ns: Int64) -> (Int64, String) {
        var digits = fraction.count
        // Widen until the shift is a whole number of the last digit's unit.
        while digits < 9, ns % pow10(9 - digits) != 0 { digits += 1 }
        let unit = pow10(9 - digits)
        let scale = pow10(digits)
        let padded = String(fraction) + String(repeating: "0", count: digits - fraction.count)
        var total = whole * scale + (Int64(padded) ?? 0) + ns / unit
        if total < 0 { total = 0 }
        let f = total % scale
        var text = digits == 0 ? "" : String(f)
        text = String(repeating: "0", count: max(0, digits - text.count)) + text
        return (total / scale, text)
    }

    static func write(_ value: (Int64, String)) -> String {
        value.1.isEmpty ? String(value.0) : "\(value.0).\(value.1)"
    }

    static func pow10(_ n: Int) -> Int64 {
        var v: Int64 = 1
        for _ in 0..<n { v *= 10 }
        return v
    }

    /// `YYYY-MM-DDTHH:MM:SS(.fff…)Z` moved by `ns`; nil for any other spelling.
    static func shiftedISO(_ text: String, by ns: Int64) -> String? {
        let u = Array(text.utf8)
        guard u.count >= 20, u.last == UInt8(ascii: "Z"), u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"),
            u[10] == UInt8(ascii: "T"), u[13] == UInt8(ascii: ":"), u[16] == UInt8(ascii: ":")
        else { return nil }
        func number(_ r: Range<Int>) -> Int64? { Int64(String(decoding: u[r], as: UTF8.self)) }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
            let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var fraction: Substring = ""
        if u.count > 20 {
            guard u[19] == UInt8(ascii: ".") else { return nil }
            fraction = Substring(String(decoding: u[20..<(u.count - 1)], as: UTF8.self))
        }
        guard (fraction.isEmpty && u.count == 20) || !fraction.isEmpty,
            fraction.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), fraction.count <= 9
        else { return nil }
        let epoch = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        let (seconds, digits) = add(whole: epoch, fraction: fraction, ns: ns)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = seconds - days * 86_400
        let (y, m, d) = civilFromDays(days)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : String(v) }
        var out = "\(y)-\(two(m))-\(two(d))T\(two(rest / 3600)):\(two(rest % 3600 / 60)):\(two(rest % 60))"
        if !digits.isEmpty { out += "." + digits }
        return out + "Z"
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, m, d)
    }
}
