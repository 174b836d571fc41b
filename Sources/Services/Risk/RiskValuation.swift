public import MarketCore

/// USD values of an account at live mids, exact (``WideDecimal``), for the risk checks.
/// USD-like quotes (``PreTradeLimits/usdQuotes``) and the cash asset count 1:1; another quote is
/// valued at the QUOTE-USDT mid on the instrument's venue; what cannot be valued is left out
/// (and named by the checks that need it).
public struct RiskValuation: Sendable {
    public let options: ExecutionOptions
    public let market: MarketView

    public init(options: ExecutionOptions, market: MarketView) {
        self.options = options
        self.market = market
    }

    /// `amount` of `quote` (an instrument on `venue`) in USD; nil when it cannot be valued.
    public func usd(_ amount: WideDecimal, quote: String, venue: String) -> WideDecimal? {
        if options.limits.usdQuotes.contains(quote) || quote == options.cashAsset { return amount }
        guard let mid = market.mid(InstrumentKey(venue: venue, symbol: "\(quote)-USDT")) else { return nil }
        return amount.multiplied(by: mid)
    }

    /// Cash-like balances (the cash asset, USD-like assets) plus every position at its live mid
    /// (at its cost basis when it has no mid). Balances of other assets are left out.
    public func equityUSD(_ a: Account) -> WideDecimal {
        var total = WideDecimal.zero
        for (asset, b) in a.balances where asset == options.cashAsset || options.limits.usdQuotes.contains(asset) {
            total = total.adding(b) ?? total
        }
        for (key, p) in a.positions where p.qty.isPositive {
            guard let (_, quote) = key.baseAndQuote else { continue }
            let value = market.mid(key).flatMap { p.qty.multiplied(by: $0) } ?? p.costBasis
            if let v = usd(value, quote: quote, venue: key.venue) { total = total.adding(v) ?? total }
        }
        return total
    }

    /// The UTC day's P&L in USD from `dayStart`: realized P&L of the day's fills plus the
    /// unrealized P&L of open positions (quantity × live mid − cost basis, fees included in the
    /// basis). Negative is a loss.
    public func dayPnL(_ a: Account, dayStart: UnixNanos) -> WideDecimal {
        var pnl = WideDecimal.zero
        for f in a.fills where f.time >= dayStart {
            guard let r = f.realizedPnL, let (_, quote) = f.instrument.baseAndQuote,
                let v = usd(r, quote: f.feeAsset == options.cashAsset ? options.cashAsset : quote, venue: f.instrument.venue)
            else { continue }
            pnl = pnl.adding(v) ?? pnl
        }
        for (key, p) in a.positions where p.qty.isPositive {
            guard let mid = market.mid(key), let (_, quote) = key.baseAndQuote, let value = p.qty.multiplied(by: mid),
                let u = value.subtracting(p.costBasis), let v = usd(u, quote: quote, venue: key.venue)
            else { continue }
            pnl = pnl.adding(v) ?? pnl
        }
        return pnl
    }
}
