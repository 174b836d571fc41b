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

    /// A fill's details (migration 10); `nil` for rows stored before it (the columns are NULL).
    static func fillDetails(
        notional: String?, levels: Int?, orderType: String?, liquidity: String?, remaining: String?, feeAsset: String?, source: String?
    ) throws(StoreQueryError) -> StoredPaperFill.Details? {
        guard let notional, let levels, let orderType, let liquidity, let remaining, let feeAsset else { return nil }
        return StoredPaperFill.Details(
            notional: try decimal(notional, "trades_paper", "notional"), levels: levels, orderType: orderType, liquidity: liquidity,
            remaining: try decimal(remaining, "trades_paper", "remaining"), feeAsset: feeAsset, source: source)
    }

    /// Text any database stores: C0 control characters (PostgreSQL refuses NUL in `text`) become
    /// `\u00XX`. For dead letters, which must be storable whatever the entry held.
    static func printable(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 < 0x20 && $0 != 0x0A && $0 != 0x09 }) else { return s }
        var out = ""
        for u in s.unicodeScalars {
            if u.value < 0x20 && u.value != 0x0A && u.value != 0x09 {
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    /// A limit for SQL: never negative (SQLite reads a negative LIMIT as "no limit", PostgreSQL rejects it).
    static func limit(_ n: Int) -> Int { max(n, 0) }
}
