/// A forward-only JSON cursor over raw bytes, for hot-path message decoding without `JSONDecoder`.
///
/// It never allocates: keys and strings come back as byte views into the input, numbers go from
/// bytes straight to integers or ``FixedDecimal``. Every read is bounds-checked, so truncated or
/// malformed input makes a read return `nil`, never a crash. The pointer must not escape the
/// `withUnsafeBytes` closure that produced it.
///
/// It is lenient where leniency costs nothing (a stray comma is skipped); callers fail on missing
/// required keys.
public struct JSONScanner {
    public let bytes: UnsafeRawBufferPointer
    public var index: Int

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, index: Int = 0) {
        self.bytes = bytes
        self.index = index
    }

    @inlinable
    public var isAtEnd: Bool {
        mutating get {
            skipWhitespace()
            return index >= bytes.count
        }
    }

    @inlinable
    public mutating func skipWhitespace() {
        while index < bytes.count {
            let c = bytes[index]
            guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
            index &+= 1
        }
    }

    /// The next non-whitespace byte, not consumed.
    @inlinable
    public mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    @inlinable
    public mutating func consume(_ c: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == c else { return false }
        index &+= 1
        return true
    }

    @inlinable
    public mutating func beginObject() -> Bool { consume(UInt8(ascii: "{")) }

    @inlinable
    public mutating func beginArray() -> Bool { consume(UInt8(ascii: "[")) }

    /// The next key of the current object (consuming the `:`), or `nil` at its closing `}` or on
    /// malformed or truncated input (then ``failed`` is true).
    @inlinable
    public mutating func nextKey() -> UnsafeRawBufferPointer? {
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: ",") {
            index &+= 1
            skipWhitespace()
        }
        guard index < bytes.count else {
            // End of input inside an object: truncated.
            index = bytes.count &+ 1
            return nil
        }
        if bytes[index] == UInt8(ascii: "}") {
            index &+= 1
            return nil
        }
        guard let key = readStringRaw(), consume(UInt8(ascii: ":")) else {
            index = bytes.count &+ 1  // poison: marks malformed
            return nil
        }
        return key
    }

    /// True when an earlier read hit malformed or truncated input.
    @inlinable
    public var failed: Bool { index > bytes.count }

    /// Moves to the next array element; `false` at the closing `]` (consumed) or on malformed input.
    @inlinable
    public mutating func nextElement() -> Bool {
        skipWhitespace()
        guard index < bytes.count else {
            index = bytes.count &+ 1
            return false
        }
        let c = bytes[index]
        if c == UInt8(ascii: "]") {
            index &+= 1
            return false
        }
        if c == UInt8(ascii: ",") {
            index &+= 1
            skipWhitespace()
            if index >= bytes.count {
                index = bytes.count &+ 1
                return false
            }
        }
        return true
    }

    /// Reads a string and returns its raw content between the quotes (escape sequences not decoded).
    @inlinable
    public mutating func readStringRaw() -> UnsafeRawBufferPointer? {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        let start = index &+ 1
        var i = start
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                index = i &+ 1
                return UnsafeRawBufferPointer(rebasing: bytes[start..<i])
            }
            if c == UInt8(ascii: "\\") { i &+= 1 }
            i &+= 1
        }
        index = bytes.count &+ 1
        return nil
    }

    /// Reads a string with escape sequences decoded (`\"`, `\\`, `\n`, `\uXXXX` incl. surrogate pairs).
    public mutating func readString() -> String? {
        var out: [UInt8] = []
        guard readString(into: &out) else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes a string value into `out` (appending); `false` on malformed input.
    public mutating func readString(into out: inout [UInt8]) -> Bool {
        guard let raw = readStringRaw() else { return false }
        return JSONScanner.unescape(raw, into: &out)
    }

    /// Decodes JSON string escapes.
    public static func unescape(_ raw: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        out.reserveCapacity(out.count + raw.count)
        var i = 0
        let n = raw.count
        while i < n {
            let c = raw[i]
            if c != UInt8(ascii: "\\") {
                out.append(c)
                i += 1
                continue
            }
            guard i + 1 < n else { return false }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard var scalar = hex4(raw, i) else { return false }
                i += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard i + 6 <= n, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u"),
                        let low = hex4(raw, i + 2), (0xDC00..<0xE000).contains(low)
                    else { return false }
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    return false
                }
                guard let u = Unicode.Scalar(scalar) else { return false }
                out.append(contentsOf: UTF8.encode(u)!)
            default: return false
            }
        }
        return true
    }

    static func hex4(_ raw: UnsafeRawBufferPointer, _ at: Int) -> UInt32? {
        guard at + 4 <= raw.count else { return nil }
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = raw[at + k]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: return nil
            }
            v = v << 4 | d
        }
        return v
    }

    /// Reads an integer, bare (`123`) or quoted (`"123"`), as venues send both.
    @inlinable
    public mutating func readInt64() -> Int64? {
        skipWhitespace()
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "\"") {
            guard let raw = readStringRaw() else { return nil }
            return JSONScanner.parseInt64(raw)
        }
        let start = index
        var i = index
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i &+= 1 }
        while i < bytes.count, bytes[i] &- 48 < 10 { i &+= 1 }
        index = i
        return JSONScanner.parseInt64(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
    }

    @inlinable
    public static func parseInt64(_ raw: UnsafeRawBufferPointer) -> Int64? {
        var i = 0
        var negative = false
        if raw.count > 0, raw[0] == UInt8(ascii: "-") {
            negative = true
            i = 1
        }
        guard i < raw.count else { return nil }
        var v: Int64 = 0
        while i < raw.count {
            let d = raw[i] &- 48
            guard d < 10 else { return nil }
            let (p, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = p.addingReportingOverflow(Int64(d))
            if o1 || o2 { return nil }
            v = s
            i &+= 1
        }
        return negative ? -v : v
    }

    @inlinable
    public mutating func readBool() -> Bool? {
        skipWhitespace()
        guard index < bytes.count else { return nil }
        if bytes[index] == UInt8(ascii: "t"), index &+ 4 <= bytes.count {
            index &+= 4
            return true
        }
        if bytes[index] == UInt8(ascii: "f"), index &+ 5 <= bytes.count {
            index &+= 5
            return false
        }
        return nil
    }

    /// Reads a decimal, quoted (`"0.001"`, the usual case) or bare (`0.001`).
    @inlinable
    public mutating func readDecimal() -> FixedDecimal? {
        skipWhitespace()
        guard index < bytes.count else { return nil }
        let raw: UnsafeRawBufferPointer
        if bytes[index] == UInt8(ascii: "\"") {
            // One pass: digits are parsed up to the closing quote (a number never needs escapes).
            let (result, end) = FixedDecimal.parse(bytes, from: index &+ 1, terminator: UInt8(ascii: "\""))
            guard case .success(let v) = result, end < bytes.count else { return nil }
            index = end &+ 1
            return v
        } else {
            let start = index
            var i = index
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: ",") || c == UInt8(ascii: "]") || c == UInt8(ascii: "}") || c == 0x20 { break }
                i &+= 1
            }
            index = i
            raw = UnsafeRawBufferPointer(rebasing: bytes[start..<i])
        }
        if case .success(let v) = FixedDecimal.parse(raw) { return v }
        return nil
    }

    /// True when the next value is `null` (consumed).
    @inlinable
    public mutating func readNull() -> Bool {
        skipWhitespace()
        guard index &+ 4 <= bytes.count, bytes[index] == UInt8(ascii: "n") else { return false }
        index &+= 4
        return true
    }

    /// Skips one value of any type; returns its byte range, or `nil` on malformed input.
    @inlinable
    @discardableResult
    public mutating func skipValue() -> Range<Int>? {
        skipWhitespace()
        guard index < bytes.count else { return nil }
        let start = index
        let c = bytes[index]
        if c == UInt8(ascii: "\"") {
            guard readStringRaw() != nil else { return nil }
            return start..<index
        }
        if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
            var depth = 0
            var i = index
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "\"") {
                    i &+= 1
                    while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                        if bytes[i] == UInt8(ascii: "\\") { i &+= 1 }
                        i &+= 1
                    }
                } else if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") {
                    depth &+= 1
                } else if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
                    depth &-= 1
                    if depth == 0 {
                        index = i &+ 1
                        return start..<index
                    }
                }
                i &+= 1
            }
            index = bytes.count &+ 1
            return nil
        }
        var i = index
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: ",") || b == UInt8(ascii: "]") || b == UInt8(ascii: "}") || b == 0x20 || b == 0x0A
                || b == 0x0D || b == 0x09
            {
                break
            }
            i &+= 1
        }
        guard i > index else { return nil }
        index = i
        return start..<i
    }

    /// Skips the remaining members of the current object, through its closing `}`.
    public mutating func skipRestOfObject() {
        while nextKey() != nil {
            guard skipValue() != nil else { return }
        }
    }

    /// A scanner over a sub-range of the same bytes (e.g. a value captured with ``skipValue()``).
    @inlinable
    public func scanner(for range: Range<Int>) -> JSONScanner {
        JSONScanner(UnsafeRawBufferPointer(rebasing: bytes[range]))
    }
}

extension UnsafeRawBufferPointer {
    /// Byte-wise equality with an ASCII literal, for key matching without creating strings.
    @inlinable
    public func equals(_ literal: StaticString) -> Bool {
        guard count == literal.utf8CodeUnitCount else { return false }
        let p = literal.utf8Start
        for i in 0..<count where self[i] != p[i] { return false }
        return true
    }

    /// A short printable excerpt for error messages.
    public func excerpt(_ limit: Int = 80) -> String {
        let n = Swift.min(count, limit)
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: self[0..<n]), as: UTF8.self)
        return n < count ? text + "…" : text
    }
}
