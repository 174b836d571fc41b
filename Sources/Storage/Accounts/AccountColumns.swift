import MarketCore

/// Reading account-table values back, shared by both stores: every stored text must parse exactly
/// (decimals never go through `Double`), otherwise the read fails naming table and column.
enum AccountColumns {
    static func decimal(_ text: String?, _ table: String, _ column: String) throws(StoreQueryError) -> WideDecimal {
        guard let text, let value = WideDecimal.parse(text) else { throw .unreadable(table, column, text) }
        return value
    }

    /// NULL stays `nil`; a non-NULL text must parse.
    static func optionalDecimal(_ text: String?, _ table: String, _ column: String) throws(StoreQueryError) -> WideDecimal? {
        guard let text else { return nil }
        return try decimal(text, table, column)
    }

    static func side(_ text: String?, _ table: String) throws(StoreQueryError) -> Side {
        switch text {
        case "buy": return .buy
        case "sell": return .sell
        default: throw .unreadable(table, "side", text)
        }
    }

    /// A limit for SQL: never negative (SQLite reads a negative LIMIT as "no limit", PostgreSQL rejects it).
    static func limit(_ n: Int) -> Int { max(n, 0) }
}
