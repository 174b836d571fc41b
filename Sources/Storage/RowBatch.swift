/// Rows for one table as row lines: PostgreSQL `COPY … FROM STDIN` text format (fields separated
/// by a tab, `\N` for NULL, backslash escapes, one `\n`-terminated line per row).
///
/// One encoding serves every path: the COPY body sent to PostgreSQL, the lines of a spill file,
/// and (split again by ``RowLine``) the values bound into SQLite.
public struct RowBatch: Sendable, Hashable {
    public let table: StoreTable
    /// Concatenated row lines, each ending in `\n`.
    public private(set) var bytes: [UInt8]
    public private(set) var rows: Int

    public init(table: StoreTable) {
        self.table = table
        self.bytes = []
        self.rows = 0
    }

    /// A batch from whole lines (a spill-file chunk); `rows` is the number of `\n`.
    public init(table: StoreTable, lines: [UInt8]) {
        self.table = table
        self.bytes = lines
        self.rows = lines.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    public var isEmpty: Bool { rows == 0 }

    /// Appends one row line (with its `\n`).
    public mutating func append(line: [UInt8]) {
        bytes.append(contentsOf: line)
        rows += 1
    }

    public mutating func append(contentsOf other: RowBatch) {
        precondition(other.table == table)
        bytes.append(contentsOf: other.bytes)
        rows += other.rows
    }

    /// The batch cut into consecutive batches of at most `maxRows` rows, in order.
    public func split(maxRows: Int) -> [RowBatch] {
        guard rows > maxRows, maxRows > 0 else { return [self] }
        var out: [RowBatch] = []
        var start = 0
        var count = 0
        for (i, b) in bytes.enumerated() where b == 0x0A {
            count += 1
            if count == maxRows {
                out.append(RowBatch(table: table, lines: Array(bytes[start...i])))
                start = i + 1
                count = 0
            }
        }
        if start < bytes.count { out.append(RowBatch(table: table, lines: Array(bytes[start...]))) }
        return out
    }

    /// The row lines (without their `\n`).
    public var lines: [ArraySlice<UInt8>] {
        bytes.split(separator: 0x0A, omittingEmptySubsequences: true)
    }
}

/// Splits a row line back into its field values (`nil` for `\N`), undoing the escapes.
public enum RowLine {
    public static func fields(_ line: ArraySlice<UInt8>) -> [String?] {
        var out: [String?] = []
        var field: [UInt8] = []
        var isNull = false
        var i = line.startIndex
        func finish() {
            out.append(isNull ? nil : String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            isNull = false
        }
        while i < line.endIndex {
            let c = line[i]
            if c == 0x09 {
                finish()
            } else if c == UInt8(ascii: "\\"), i + 1 < line.endIndex {
                i += 1
                switch line[i] {
                case UInt8(ascii: "N") where field.isEmpty: isNull = true
                case UInt8(ascii: "t"): field.append(0x09)
                case UInt8(ascii: "n"): field.append(0x0A)
                case UInt8(ascii: "r"): field.append(0x0D)
                default: field.append(line[i])
                }
            } else {
                field.append(c)
            }
            i += 1
        }
        finish()
        return out
    }
}
