public import MarketCore

/// A history query the store cannot answer, e.g. an interval that is not stored, or a stored row
/// that does not read back.
public struct StoreQueryError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }

    /// Only 1m and 5m candles are stored (``StoreTable/candles(_:)``).
    public static func unsupportedInterval(_ interval: Interval) -> StoreQueryError {
        StoreQueryError("candles of interval \(interval.name) are not stored (stored intervals: 1m, 5m)")
    }

    /// A stored value that does not parse (a decimal, a side, a time), named by table and column.
    public static func unreadable(_ table: String, _ column: String, _ value: String?) -> StoreQueryError {
        StoreQueryError("stored row cannot be read: \(table).\(column) = \(value.map { "'\($0.prefix(60))'" } ?? "NULL")")
    }
}

/// A failure of the SQLite store: a row line it cannot store (names the table and row), a
/// stored value it cannot read back, or use after ``SQLiteStore/close()``.
public struct SQLiteStoreError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }

    public static let closed = SQLiteStoreError("the SQLite store is closed")
}

/// Runs a row-decoding loop outside the calling async function: swift-frontend 6.3.1 crashes
/// (signal 11 in LLVM's CoroSplit) compiling such loops inside async functions with -Osize, as the
/// Benchmarks package's release build does.
@inline(never)
func decodeRows<T>(_ body: () throws -> T) rethrows -> T { try body() }
