/// Cheap byte scanning of server frames. Full JSON decoding of every frame would make the generator
/// the bottleneck; the envelope's field order is fixed by CONTRACTS (`{"ch":…,"seq":N,…,"data":{…}}`),
/// so the first `"seq":` is the envelope's and the first `"<ts-key>":` after it is the publish time.
enum FrameScan {
    enum Kind { case data, end, ack, other }

    private static let endPrefix = Array(#"{"type":"end""#.utf8)
    private static let ackPrefix = Array(#"{"type":"ack""#.utf8)
    private static let dataPrefix = Array(#"{"ch":""#.utf8)
    static let chKey = Array(#""ch":""#.utf8)
    static let seqKey = Array(#""seq":"#.utf8)
    static let sentKey = Array(#""sent":"#.utf8)

    static func kind(_ bytes: UnsafeRawBufferPointer) -> Kind {
        if hasPrefix(bytes, dataPrefix) { return .data }
        if hasPrefix(bytes, endPrefix) { return .end }
        if hasPrefix(bytes, ackPrefix) { return .ack }
        // Tolerate another key order for data frames: anything with a channel and a seq.
        if let c = find(bytes, chKey, from: 0), find(bytes, seqKey, from: c) != nil { return .data }
        return .other
    }

    @inline(__always)
    static func hasPrefix(_ bytes: UnsafeRawBufferPointer, _ prefix: [UInt8]) -> Bool {
        guard bytes.count >= prefix.count else { return false }
        for i in 0..<prefix.count where bytes[i] != prefix[i] { return false }
        return true
    }

    /// Index just past the first occurrence of `needle` at or after `from`.
    @inline(__always)
    static func find(_ bytes: UnsafeRawBufferPointer, _ needle: [UInt8], from: Int) -> Int? {
        let n = needle.count
        guard n > 0, bytes.count >= n else { return nil }
        let first = needle[0]
        var i = from
        let last = bytes.count - n
        while i <= last {
            if bytes[i] == first {
                var j = 1
                while j < n && bytes[i + j] == needle[j] { j += 1 }
                if j == n { return i + n }
            }
            i += 1
        }
        return nil
    }

    /// The (optionally negative) decimal integer starting at `at`, and the index after it.
    @inline(__always)
    static func integer(_ bytes: UnsafeRawBufferPointer, at start: Int) -> (value: Int64, end: Int)? {
        var i = start
        while i < bytes.count && bytes[i] == UInt8(ascii: " ") { i += 1 }
        var negative = false
        if i < bytes.count && bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        let digitsStart = i
        var value: Int64 = 0
        while i < bytes.count {
            let d = bytes[i] &- UInt8(ascii: "0")
            if d > 9 { break }
            value = value &* 10 &+ Int64(d)
            i += 1
        }
        guard i > digitsStart else { return nil }
        return (negative ? -value : value, i)
    }

    /// Integer value of `key` (pattern `"key":`) at or after `from`.
    @inline(__always)
    static func integer(_ bytes: UnsafeRawBufferPointer, key: [UInt8], from: Int = 0) -> (value: Int64, end: Int)? {
        guard let at = find(bytes, key, from: from) else { return nil }
        return integer(bytes, at: at)
    }

    /// The channel name's byte range (between the quotes after `"ch":"`) at or after `from`.
    @inline(__always)
    static func channel(_ bytes: UnsafeRawBufferPointer, from: Int = 0) -> Range<Int>? {
        guard let start = find(bytes, chKey, from: from) else { return nil }
        var i = start
        while i < bytes.count && bytes[i] != UInt8(ascii: "\"") { i += 1 }
        return i < bytes.count ? start..<i : nil
    }
}
