/// Appends compact JSON to a byte buffer in the order fields are written (deterministic output).
///
/// Used for replay lines and, later, fan-out frames: one encode per event, no `JSONEncoder`,
/// no intermediate strings for decimals and times.
public struct JSONWriter {
    public var bytes: [UInt8]
    @usableFromInline var needsComma = false

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Empties the buffer (keeping its capacity) to write the next document.
    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        needsComma = false
    }

    public mutating func beginObject() {
        separator()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        separator()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    @usableFromInline
    mutating func separator() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    /// Ends a document written since the last ``reset()`` or ``endLine()`` with a newline, so the
    /// next one is written after it in the same buffer (JSON lines without a copy per line).
    public mutating func endLine() {
        bytes.append(0x0A)
        needsComma = false
    }

    /// Writes `"name":` (names are trusted ASCII constants): built on the stack and appended
    /// once (one capacity and uniqueness check instead of four or five).
    public mutating func key(_ name: StaticString) {
        let n = name.utf8CodeUnitCount
        let comma = needsComma ? 1 : 0
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n &+ 4) { buf in
            let p = buf.baseAddress!
            p[0] = UInt8(ascii: ",")
            p[1] = UInt8(ascii: "\"")
            (p + 2).update(from: name.utf8Start, count: n)
            p[n &+ 2] = UInt8(ascii: "\"")
            p[n &+ 3] = UInt8(ascii: ":")
            bytes.append(contentsOf: UnsafeBufferPointer(start: UnsafePointer(p) + (1 - comma), count: n + 3 + comma))
        }
        needsComma = false
    }

    /// Writes a key that is only known at run time (escaped).
    public mutating func key(string name: String) {
        string(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func string(_ value: String) {
        string(utf8: value.utf8)
    }

    /// A string from UTF-8 bytes (e.g. a raw frame), escaped.
    public mutating func string(utf8 value: some Sequence<UInt8>) {
        let done: Void? = value.withContiguousStorageIfAvailable { string(buffer: $0) }
        if done != nil { return }
        separator()
        bytes.append(UInt8(ascii: "\""))
        for b in value { escapeByte(b) }
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// Escaped string from contiguous bytes: runs of bytes that need no escape are copied at once.
    public mutating func string(buffer p: UnsafeBufferPointer<UInt8>) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        var start = 0
        var i = 0
        let n = p.count
        while i < n {
            let b = p[i]
            if b >= 0x20 && b != 0x22 && b != 0x5C {
                i += 1
                continue
            }
            if i > start { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: p[start..<i])) }
            escapeByte(b)
            i += 1
            start = i
        }
        if n > start { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: p[start..<n])) }
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    @inline(__always)
    mutating func escapeByte(_ b: UInt8) {
        switch b {
        case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
        case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
        case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
        case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
        case 0..<0x20:
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
        default: bytes.append(b)
        }
    }

    /// An integer as a JSON string (`"12345"`, a trade id), without an intermediate `String`.
    public mutating func intString(_ value: Int64) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        DecimalText.write(negative: value < 0, magnitude: UInt128(value.magnitude), scale: 0, displayScale: 0, into: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// Writes an already-encoded JSON value (an object written by another writer).
    public mutating func raw(json value: some Collection<UInt8>) {
        separator()
        bytes.append(contentsOf: value)
        needsComma = true
    }

    public mutating func null() {
        separator()
        bytes.append(contentsOf: [110, 117, 108, 108])
        needsComma = true
    }

    public mutating func bool(_ value: Bool) {
        separator()
        let text: StaticString = value ? "true" : "false"
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        needsComma = true
    }

    public mutating func int(_ value: Int64) {
        separator()
        if value == 0 {
            bytes.append(48)
        } else {
            DecimalText.write(
                negative: value < 0, magnitude: UInt128(value.magnitude), scale: 0, displayScale: 0, into: &bytes)
        }
        needsComma = true
    }

    /// A decimal as a JSON string (`"61837.63000000"`).
    public mutating func decimal(_ value: FixedDecimal) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        value.write(into: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    public mutating func decimal(_ value: WideDecimal) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        value.write(into: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// A time as an ISO-8601 JSON string with `fractionDigits` digits.
    public mutating func time(_ value: UnixNanos, fractionDigits: Int) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        value.writeISO8601(fractionDigits: fractionDigits, into: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }
}
