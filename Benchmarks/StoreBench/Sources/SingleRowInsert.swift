import Logging
import PostgresNIO
import Storage

/// The original design's write path: one parameterized single-row `INSERT` per row, autocommit
/// (no `BEGIN`), on one connection. Decimals and times are bound as text and cast in SQL
/// (`$5::numeric`, `$1::timestamptz`), integers as `int8`, booleans as `bool`. Trades are a plain
/// `INSERT`; candles an `INSERT … ON CONFLICT (venue, symbol, time) DO UPDATE` with the same
/// revision rule as the COPY writer's upsert.
///
/// The values are the row lines' own fields (`RowLine.fields`), so both methods store the same
/// data; the bindings are built before the clock starts.
enum SingleRowInsert {
    static func sql(_ table: StoreTable) -> String {
        let columns = table.columns
        let names = columns.map(\.name).joined(separator: ", ")
        let values = columns.enumerated().map { i, column in
            switch column.kind {
            case .time: "$\(i + 1)::timestamptz"
            case .numeric: "$\(i + 1)::numeric"
            case .text, .integer, .boolean: "$\(i + 1)"
            case .levels: "$\(i + 1)::numeric[]"
            }
        }.joined(separator: ", ")
        let upsert = table.conflict == .keepLatestRevision
        var sql = "INSERT INTO \(table.rawValue)\(upsert ? " AS t" : "") (\(names)) VALUES (\(values))"
        if upsert {
            let updates = columns.map(\.name).filter { !table.key.contains($0) }.map { "\($0) = EXCLUDED.\($0)" }
            sql += " ON CONFLICT (\(table.key.joined(separator: ", "))) DO UPDATE SET "
                + updates.joined(separator: ", ") + ", updated_at = now() WHERE EXCLUDED.revision >= t.revision"
        }
        return sql
    }

    /// One set of bindings per row line.
    static func bindings(_ table: StoreTable, lines: ArraySlice<[UInt8]>) -> [PostgresBindings] {
        let columns = table.columns
        return lines.map { line in
            let fields = RowLine.fields(line.dropLast())  // without the `\n`
            precondition(fields.count == columns.count, "row line with \(fields.count) fields for \(columns.count) columns")
            var binds = PostgresBindings(capacity: columns.count)
            for (field, column) in zip(fields, columns) {
                guard let field else { binds.appendNull(); continue }
                switch column.kind {
                case .time, .text, .numeric, .levels:
                    binds.append(field)
                case .integer:
                    guard let n = Int64(field) else { fatalError("StoreBench: \(column.name) = \(field) is not an integer") }
                    binds.append(n)
                case .boolean:
                    binds.append(field == "t")
                }
            }
            return binds
        }
    }

    /// Runs one `INSERT` per row, each in its own implicit transaction.
    static func run(_ sql: String, _ rows: [PostgresBindings], on connection: PostgresConnection, logger: Logger)
        async throws
    {
        for binds in rows {
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        }
    }

    /// The same loop with a named prepared statement (parsed once per connection), a stronger
    /// row-at-a-time baseline than the original design's. (The result is read as a row sequence:
    /// PostgresNIO 1.33.2's command-tag overload of `execute` traps with "commandTag may only be
    /// called if all rows have been consumed" for an INSERT.)
    static func runPrepared(_ table: StoreTable, _ rows: [PostgresBindings], on connection: PostgresConnection, logger: Logger)
        async throws
    {
        switch table {
        case .trades:
            for binds in rows {
                for try await _ in try await connection.execute(PreparedTradeInsert(bindings: binds), logger: logger) {}
            }
        case .candles1m:
            for binds in rows {
                for try await _ in try await connection.execute(PreparedCandleInsert(bindings: binds), logger: logger) {}
            }
        default:
            fatalError("StoreBench: no prepared INSERT for \(table)")
        }
    }
}

let preparedTradeSQL = SingleRowInsert.sql(.trades)
let preparedCandleSQL = SingleRowInsert.sql(.candles1m)

struct PreparedTradeInsert: PostgresPreparedStatement {
    static let name = "storebench_trade_insert"
    static var sql: String { preparedTradeSQL }
    typealias Row = ()
    let bindings: PostgresBindings
    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> Row {}
}

struct PreparedCandleInsert: PostgresPreparedStatement {
    static let name = "storebench_candle_insert"
    static var sql: String { preparedCandleSQL }
    typealias Row = ()
    let bindings: PostgresBindings
    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> Row {}
}
