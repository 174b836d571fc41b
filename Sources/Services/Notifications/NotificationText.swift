public import MarketCore

/// The messages' text (plain text: no `parse_mode`, nothing escaped). Decimals are printed exactly,
/// trailing zeros trimmed.
public enum NotificationText {
    static func plain(_ d: WideDecimal) -> String { d.trimmed.description }

    /// One fill, from its `executions.<user>` event: `Execution: BUY 0.5 BTC-USDT @ 100.01 on binance`,
    /// then the realized P&L of a sell that closed quantity.
    public static func execution(_ fill: PaperFill) -> String {
        var text =
            "Execution: \(fill.side.text.uppercased()) \(plain(fill.qty)) \(fill.instrument.symbol) @ \(plain(fill.price)) on \(fill.instrument.venue)"
        if let pnl = fill.realizedPnL { text += "\nRealized P&L: \(plain(pnl)) \(fill.feeAsset)" }
        return text
    }

    /// A mood state change: `Mood: calm → tilted (score 31.5)` and the meter's reason.
    public static func mood(from previous: String, to state: String, score: WideDecimal?, reason: String?) -> String {
        var text = "Mood: \(previous) → \(state)"
        if let score { text += " (score \(plain(score)))" }
        if let reason, !reason.isEmpty { text += "\n\(reason)" }
        return text
    }

    /// The UTC day `day` (days since 1970-01-01) as `YYYY-MM-DD`.
    public static func date(day: Int64) -> String {
        String(UnixNanos(day * 86_400_000_000_000).iso8601(fractionDigits: 0).prefix(10))
    }

    /// The day's summary of one account: fills in [day start, next day start), their realized P&L
    /// per asset, and the balances and open positions now.
    public static func dailySummary(account: Account, day: Int64, cashAsset: String) -> String {
        let start = UnixNanos(day * 86_400_000_000_000)
        let end = UnixNanos((day + 1) * 86_400_000_000_000)
        let fills = account.fills.filter { $0.time >= start && $0.time < end }
        var pnl: [String: WideDecimal] = [cashAsset: .zero]
        for f in fills {
            if let r = f.realizedPnL { pnl[f.feeAsset] = (pnl[f.feeAsset] ?? .zero).adding(r) ?? pnl[f.feeAsset] }
        }
        let balances = account.balances.filter { !$0.value.isZero }.sorted { $0.key < $1.key }
        var text = """
            Daily summary \(date(day: day)) (UTC)
            Fills: \(fills.count)
            Realized P&L: \(pnl.sorted { $0.key < $1.key }.map { "\(plain($0.value)) \($0.key)" }.joined(separator: ", "))
            Balances: \(balances.isEmpty ? "none" : balances.map { "\($0.key) \(plain($0.value))" }.joined(separator: ", "))
            """
        let positions = account.positions.filter { !$0.value.qty.isZero }.sorted { $0.key < $1.key }
        if !positions.isEmpty {
            text += "\nPositions: " + positions.map { "\($0.key.symbol) \(plain($0.value.qty)) on \($0.key.venue)" }.joined(separator: ", ")
        }
        return text
    }
}
