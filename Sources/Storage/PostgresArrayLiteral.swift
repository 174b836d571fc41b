/// PostgreSQL array literals of book levels, `{{p,q},{p,q}}` or `{}`: the row lines carry them, and
/// PostgreSQL prints `NUMERIC[][]` columns that way.
enum PostgresArrayLiteral {
    /// A two-dimensional array of texts; `nil` when malformed or when an element is NULL.
    static func parseLevels(_ text: String) -> [[String]]? {
        var bytes = Array(text.utf8)[...]
        func skipSpaces() { while let b = bytes.first, b == 0x20 { bytes.removeFirst() } }
        func expect(_ c: UInt8) -> Bool {
            skipSpaces()
            guard bytes.first == c else { return false }
            bytes.removeFirst()
            return true
        }
        func element() -> String? {
            skipSpaces()
            var out: [UInt8] = []
            if bytes.first == UInt8(ascii: "\"") {
                bytes.removeFirst()
                while let b = bytes.popFirst() {
                    if b == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
                    if b == UInt8(ascii: "\\") {
                        guard let next = bytes.popFirst() else { return nil }
                        out.append(next)
                    } else {
                        out.append(b)
                    }
                }
                return nil  // unterminated quote
            }
            while let b = bytes.first, b != UInt8(ascii: ","), b != UInt8(ascii: "}"), b != UInt8(ascii: "{"),
                b != UInt8(ascii: "\"")
            {
                out.append(b)
                bytes.removeFirst()
            }
            while out.last == 0x20 { out.removeLast() }
            // An unquoted NULL is SQL NULL; levels never hold one.
            guard !out.isEmpty, String(decoding: out, as: UTF8.self).uppercased() != "NULL" else { return nil }
            return String(decoding: out, as: UTF8.self)
        }

        guard expect(UInt8(ascii: "{")) else { return nil }
        var levels: [[String]] = []
        if expect(UInt8(ascii: "}")) {
            skipSpaces()
            return bytes.isEmpty ? [] : nil
        }
        repeat {
            guard expect(UInt8(ascii: "{")) else { return nil }
            var level: [String] = []
            repeat {
                guard let e = element() else { return nil }
                level.append(e)
            } while expect(UInt8(ascii: ","))
            guard expect(UInt8(ascii: "}")) else { return nil }
            levels.append(level)
        } while expect(UInt8(ascii: ","))
        guard expect(UInt8(ascii: "}")) else { return nil }
        skipSpaces()
        return bytes.isEmpty ? levels : nil
    }
}
