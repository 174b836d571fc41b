#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A search pattern in memory allocated once for the process: searching with it retains nothing.
struct Pattern: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer

    init(_ text: String) {
        let utf8 = Array(text.utf8)
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: utf8.count, alignment: 1)
        p.copyBytes(from: utf8)
        bytes = UnsafeRawBufferPointer(p)
    }
}

/// Cheap byte scanning of server frames. Full JSON decoding of every frame would make the generator
/// the bottleneck; the envelope's field order is fixed by CONTRACTS (`{"ch":…,"seq":N,…,"data":{…}}`),
/// so the first `"seq":` is the envelope's and the first `"<ts-key>":` after it is the publish time.
enum FrameScan {
    enum Kind { case data, end, ack, other }

    private static let endPrefix = Pattern(#"{"type":"end""#)
    private static let ackPrefix = Pattern(#"{"type":"ack""#)
    private static let dataPrefix = Pattern(#"{"ch":""#)
    static let errorType = Pattern(#""type":"error""#)
    static let chKey = Pattern(#""ch":""#)
    static let seqKey = Pattern(#""seq":"#)
    static let sentKey = Pattern(#""sent":"#)

    static func kind(_ bytes: UnsafeRawBufferPointer) -> Kind {
        if hasPrefix(bytes, dataPrefix) { return .data }
        if hasPrefix(bytes, endPrefix) { return .end }
        if hasPrefix(bytes, ackPrefix) { return .ack }
        // Tolerate another key order for data frames: anything with a channel and a seq.
        if let c = find(bytes, chKey, from: 0), find(bytes, seqKey, from: c) != nil { return .data }
        return .other
    }

    @inline(__always)
    static func hasPrefix(_ bytes: UnsafeRawBufferPointer, _ prefix: Pattern) -> Bool {
        let n = prefix.bytes.count
        return bytes.count >= n && memcmp(bytes.baseAddress!, prefix.bytes.baseAddress!, n) == 0
    }

    /// Index just past the first occurrence of `needle` at or after `from` (memchr + memcmp).
    @inline(__always)
    static func find(_ bytes: UnsafeRawBufferPointer, _ needle: Pattern, from: Int) -> Int? {
        let n = needle.bytes.count
        guard let base = bytes.baseAddress, n > 0 else { return nil }
        let first = Int32(needle.bytes[0])
        var i = from
        while bytes.count - i >= n {
            guard let hit = memchr(base + i, first, bytes.count - n + 1 - i) else { return nil }
            let at = base.distance(to: UnsafeRawPointer(hit))
            if memcmp(base + at, needle.bytes.baseAddress!, n) == 0 { return at + n }
            i = at + 1
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
    static func integer(_ bytes: UnsafeRawBufferPointer, key: Pattern, from: Int = 0) -> (value: Int64, end: Int)? {
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
