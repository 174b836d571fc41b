/// Splits a migration file into single statements: sqlite-nio prepares one statement per call
/// (the rest of the text would be ignored silently).
enum SQLiteScript {
    /// Statements without their `;` and comments; quotes, identifiers and comments are honoured,
    /// so a `;` or `--` inside a string literal does not split.
    static func statements(_ sql: String) -> [String] {
        let b = Array(sql.utf8)
        var out: [String] = []
        var current: [UInt8] = []
        var i = 0
        func flush() {
            let text = String(decoding: current, as: UTF8.self)
            if text.contains(where: { !$0.isWhitespace }) {
                out.append(text.trimmingWhitespace())
            }
            current.removeAll()
        }
        while i < b.count {
            let c = b[i]
            switch c {
            case UInt8(ascii: "-") where i + 1 < b.count && b[i + 1] == UInt8(ascii: "-"):
                while i < b.count, b[i] != 0x0A { i += 1 }
                current.append(0x0A)
                i += 1
            case UInt8(ascii: "/") where i + 1 < b.count && b[i + 1] == UInt8(ascii: "*"):
                i += 2
                while i < b.count, !(b[i] == UInt8(ascii: "*") && i + 1 < b.count && b[i + 1] == UInt8(ascii: "/")) { i += 1 }
                current.append(0x20)
                i += 2
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"):
                // A doubled quote inside is an escaped quote: the loop simply reopens the literal.
                current.append(c)
                i += 1
                while i < b.count, b[i] != c {
                    current.append(b[i])
                    i += 1
                }
                if i < b.count { current.append(c) }
                i += 1
            case UInt8(ascii: ";"):
                flush()
                i += 1
            default:
                current.append(c)
                i += 1
            }
        }
        flush()
        return out
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
