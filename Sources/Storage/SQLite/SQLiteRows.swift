import MarketCore
import SQLiteNIO

/// The SQLite shape of a ``StoreTable``: the stored columns (`time` followed by its `time_ns`),
/// the upsert statement text, and the conversion of row lines into bound values.
struct SQLiteTableLayout: Sendable {
    let table: StoreTable
    /// Stored column names in bind order.
    let columnNames: [String]
    /// Rows per INSERT statement: sqlite-nio prepares a statement on every call, so rows are sent
    /// as multi-row VALUES to keep the per-row cost low.
    let rowsPerStatement: Int
    /// The statement text for a full chunk (reused for every full chunk of every batch).
    let fullChunkSQL: String

    init(_ table: StoreTable, rowsPerStatement: Int = 128) {
        self.table = table
        var names: [String] = []
        for c in table.columns {
            names.append(c.name)
            if c.kind == .time { names.append(c.name + "_ns") }
        }
        self.columnNames = names
        // Stay well below SQLITE_MAX_VARIABLE_NUMBER (32766).
        self.rowsPerStatement = max(1, min(rowsPerStatement, 30_000 / names.count))
        self.fullChunkSQL = Self.insertSQL(table: table, columns: names, rows: self.rowsPerStatement)
    }

    var bindsPerRow: Int { columnNames.count }

    func insertSQL(rows: Int) -> String {
        rows == rowsPerStatement ? fullChunkSQL : Self.insertSQL(table: table, columns: columnNames, rows: rows)
    }

    static func insertSQL(table: StoreTable, columns: [String], rows: Int) -> String {
        let tuple = "(" + Array(repeating: "?", count: columns.count).joined(separator: ",") + ")"
        var sql = "INSERT INTO \(table.rawValue) (\(columns.joined(separator: ", "))) VALUES "
        sql.reserveCapacity(sql.utf8.count + rows * (tuple.utf8.count + 1) + 400)
        for i in 0..<rows {
            if i > 0 { sql += "," }
            sql += tuple
        }
        // The key uses time_ns in place of time (StoreTable.key).
        let key = table.key.map { $0 == "time" ? "time_ns" : $0 }
        switch table.conflict {
        case .keepLatestRevision:
            let updated = columns.filter { !key.contains($0) }.map { "\($0) = excluded.\($0)" }
            sql += " ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET "
            sql += updated.joined(separator: ", ")
            // At the same revision the copy with more trades stays (two ingest nodes, one of which
            // connected mid-bucket: PostgresStore says why).
            let t = table.rawValue
            sql += " WHERE excluded.revision > \(t).revision OR (excluded.revision = \(t).revision AND excluded.trades >= \(t).trades)"
        case .ignore:
            sql += " ON CONFLICT (\(key.joined(separator: ", "))) DO NOTHING"
        }
        return sql
    }

    /// Appends the bound values of one row line to `binds`.
    func appendBinds(line: ArraySlice<UInt8>, rowNumber: Int, to binds: inout [SQLiteData]) throws(SQLiteStoreError) {
        let fields = RowLine.fields(line)
        let columns = table.columns
        guard fields.count == columns.count else {
            throw rowError(rowNumber, "has \(fields.count) fields, \(table.rawValue) has \(columns.count) columns")
        }
        for (column, field) in zip(columns, fields) {
            guard let value = field else {
                guard column.nullable else { throw rowError(rowNumber, "NULL in non-null column \(column.name)") }
                binds.append(.null)
                if column.kind == .time { binds.append(.null) }
                continue
            }
            switch column.kind {
            case .time:
                guard let t = UnixNanos.parseISO8601(value) else {
                    throw rowError(rowNumber, "\(column.name) '\(value.prefix(40))' is not an ISO-8601 UTC time")
                }
                binds.append(.text(value))
                binds.append(.integer(SQLiteInt64(t.rawValue)))
            case .text, .numeric:
                binds.append(.text(value))
            case .integer:
                guard let n = Int64(value) else {
                    throw rowError(rowNumber, "\(column.name) '\(value.prefix(40))' is not an integer")
                }
                binds.append(.integer(SQLiteInt64(n)))
            case .boolean:
                switch value {
                case "t", "true": binds.append(.integer(1))
                case "f", "false": binds.append(.integer(0))
                default: throw rowError(rowNumber, "\(column.name) '\(value.prefix(40))' is not t or f")
                }
            case .levels:
                guard let levels = PostgresArrayLiteral.parseLevels(value) else {
                    throw rowError(rowNumber, "\(column.name) '\(value.prefix(60))' is not a {{price,qty},...} array")
                }
                binds.append(.text(LevelsJSON.encode(levels)))
            }
        }
    }

    private func rowError(_ row: Int, _ what: String) -> SQLiteStoreError {
        SQLiteStoreError("\(table.rawValue) row \(row): \(what)")
    }
}

/// Book levels as stored in SQLite: a JSON array of `[price, qty]` string arrays.
enum LevelsJSON {
    static func encode(_ levels: [[String]]) -> String {
        var w = JSONWriter(capacity: 32 + levels.count * 32)
        w.beginArray()
        for level in levels {
            w.beginArray()
            for v in level { w.string(v) }
            w.endArray()
        }
        w.endArray()
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// Decodes ``encode(_:)``'s output (any JSON array of string arrays); `nil` when it is not one.
    static func decode(_ text: String) -> [[String]]? {
        var parser = Parser(bytes: Array(text.utf8))
        return parser.levels()
    }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipSpaces() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func take(_ c: UInt8) -> Bool {
            skipSpaces()
            guard i < bytes.count, bytes[i] == c else { return false }
            i += 1
            return true
        }

        mutating func levels() -> [[String]]? {
            guard take(UInt8(ascii: "[")) else { return nil }
            var out: [[String]] = []
            if take(UInt8(ascii: "]")) { return atEnd() ? out : nil }
            repeat {
                guard take(UInt8(ascii: "[")) else { return nil }
                var level: [String] = []
                if !take(UInt8(ascii: "]")) {
                    repeat {
                        guard let s = string() else { return nil }
                        level.append(s)
                    } while take(UInt8(ascii: ","))
                    guard take(UInt8(ascii: "]")) else { return nil }
                }
                out.append(level)
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "]")) else { return nil }
            return atEnd() ? out : nil
        }

        mutating func atEnd() -> Bool {
            skipSpaces()
            return i == bytes.count
        }

        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            var out: [UInt8] = []
            while i < bytes.count {
                let b = bytes[i]
                i += 1
                switch b {
                case UInt8(ascii: "\""):
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard i < bytes.count else { return nil }
                    let e = bytes[i]
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "u"):
                        guard let scalar = unicodeEscape() else { return nil }
                        out.append(contentsOf: String(Character(scalar)).utf8)
                    default: return nil
                    }
                default:
                    out.append(b)
                }
            }
            return nil
        }

        private mutating func hex4() -> UInt32? {
            guard i + 4 <= bytes.count else { return nil }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]
                i += 1
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: return nil
                }
                v = v << 4 | d
            }
            return v
        }

        private mutating func unicodeEscape() -> Unicode.Scalar? {
            guard let hi = hex4() else { return nil }
            if (0xD800..<0xDC00).contains(hi) {
                guard i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else { return nil }
                i += 2
                guard let lo = hex4(), (0xDC00..<0xE000).contains(lo) else { return nil }
                return Unicode.Scalar(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
            }
            return Unicode.Scalar(hi)
        }
    }
}
