import CZlib
import Foundation

/// JSON reading and writing shared by the simulator's Kraken, OKX and Bybit models.
///
/// Reading goes through Foundation's `JSONSerialization` (never the gateway's parsers: the models are
/// a second, independent implementation). Writing is by hand, so that the models control key order
/// and keep every price and size as the exact text the venue sent.
enum ModelJSON {
    /// The frame decoded by Foundation (`[String: Any]`, `[Any]`, …), or nil when it is not JSON.
    static func parse(_ text: String) -> Any? { JSONRead.value(text) }

    /// An integer JSON number (not a fraction).
    static func int64(_ value: Any?) -> Int64? {
        guard let number = value as? NSNumber else { return nil }
        let n = number.int64Value
        return NSNumber(value: n) == number ? n : nil
    }

    /// An integer written as a JSON number or as a string of digits (`"7849"`, `"-1"`).
    static func int64(numberOrText value: Any?) -> Int64? {
        if let text = value as? String { return integer(text) }
        return int64(value)
    }

    /// A string of ASCII digits with an optional leading `-`, as `Int64`; nil for anything else.
    static func integer(_ text: String) -> Int64? {
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int64(text)
    }

    /// An array whose elements are all strings (a price level, an id list), or nil.
    static func strings(_ value: Any?) -> [String]? {
        guard let array = value as? [Any] else { return nil }
        var out: [String] = []
        out.reserveCapacity(array.count)
        for element in array {
            guard let s = element as? String else { return nil }
            out.append(s)
        }
        return out
    }

    /// Price levels: an array of string arrays with at least price and size, or nil.
    static func levels(_ value: Any?) -> [[String]]? {
        guard let array = value as? [Any] else { return nil }
        var out: [[String]] = []
        out.reserveCapacity(array.count)
        for element in array {
            guard let level = strings(element), level.count >= 2 else { return nil }
            out.append(level)
        }
        return out
    }

    /// `text` as a JSON string literal.
    static func quote(_ text: String) -> String { JSONText.quoted(text) }

    /// `["a","b",…]`.
    static func array(_ strings: [String]) -> String {
        "[" + strings.map(quote).joined(separator: ",") + "]"
    }

    /// `[[price,size,extra…],…]` with the venue's own strings.
    static func levels(_ levels: [SimBook.Level]) -> String {
        var json = JSONText()
        json.levels(levels)
        return json.text
    }

    /// A copy of the value's text with its last digit changed, keeping the length: `…7` → `…6`,
    /// `…0` → `…1`. The magnitude moves by one, so a value within a 32-bit range stays within it.
    /// Returns nil when `digits` does not end in a digit.
    static func alteringLastDigit(_ digits: String) -> String? {
        guard let last = digits.utf8.last, last >= 0x30, last <= 0x39 else { return nil }
        let replacement = last == 0x30 ? UInt8(ascii: "1") : last - 1
        return String(decoding: digits.utf8.dropLast() + [replacement], as: UTF8.self)
    }

    /// zlib's CRC-32 of the UTF-8 text (the polynomial Kraken and OKX checksum with).
    static func crc32(_ text: String) -> UInt32 {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { buffer in
            UInt32(truncatingIfNeeded: CZlib.crc32(0, buffer.baseAddress, uInt(buffer.count)))
        }
    }

    /// The text without surrounding spaces, tabs and line breaks.
    static func trimmed(_ text: String) -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" || $0 == "\r\n" }
        guard let start = text.firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = text.lastIndex(where: { !isSpace($0) })!
        return text[start...end]
    }

    /// A query integer in `range`, `fallback` when absent; nil when present but not such an integer.
    static func queryInt(_ query: [String: String], _ key: String, default fallback: Int, range: ClosedRange<Int>) -> Int? {
        guard let text = query[key], !text.isEmpty else { return fallback }
        guard let n = Int(text), range.contains(n) else { return nil }
        return n
    }
}
