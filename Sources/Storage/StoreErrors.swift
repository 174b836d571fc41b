public import MarketCore

/// A history query the store cannot answer, e.g. an interval that is not stored.
public struct StoreQueryError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }

    /// Only 1m and 5m candles are stored (``StoreTable/candles(_:)``).
    public static func unsupportedInterval(_ interval: Interval) -> StoreQueryError {
        StoreQueryError("candles of interval \(interval.name) are not stored (stored intervals: 1m, 5m)")
    }
}

/// A failure of the SQLite store: a row line it cannot store (names the table and row), a
/// stored value it cannot read back, or use after ``SQLiteStore/close()``.
public struct SQLiteStoreError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }

    public static let closed = SQLiteStoreError("the SQLite store is closed")
}
