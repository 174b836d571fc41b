public import MarketCore

/// What walking the book's levels for an order gives: the quantity it can take, what that costs or
/// earns, and whether the whole order fits. Pure; the execution service applies a plan atomically.
public struct FillPlan: Sendable, Hashable {
    /// One level taken, at its own price.
    public struct Take: Sendable, Hashable {
        public var price: WideDecimal
        public var qty: WideDecimal
        public init(price: WideDecimal, qty: WideDecimal) {
            self.price = price
            self.qty = qty
        }
    }

    /// The levels taken, best first.
    public var takes: [Take]
    /// Base quantity taken.
    public var qty: WideDecimal
    /// Σ price × qty of the takes, exact (quote units, before the fee).
    public var notional: WideDecimal
    /// The whole order fits in the levels given (for limit orders: within the limit price).
    public var complete: Bool

    public init(takes: [Take], qty: WideDecimal, notional: WideDecimal, complete: Bool) {
        self.takes = takes
        self.qty = qty
        self.notional = notional
        self.complete = complete
    }

    public var isEmpty: Bool { !qty.isPositive }

    /// The volume-weighted average price, rounded half-even to 12 fraction digits.
    public var averagePrice: WideDecimal? {
        guard qty.isPositive else { return nil }
        return Money.mulDiv(notional, WideDecimal(1), qty, digits: FillPlanner.priceDigits, .halfEven)?.trimmed
    }
}

public enum FillPlanner {
    /// Fraction digits of derived prices (VWAP, average entry) and of slippage.
    public static let priceDigits = 12

    /// Walks `levels` (the side the order takes: asks for a buy, bids for a sell, best first).
    ///
    /// - `quantity`: take that much base. `quoteAmount`: take as much base as that many quote units
    ///   buy (or as selling brings in), each level's lot rounded down to the precision the venue
    ///   prints that level's quantity with, so the plan never spends more than asked.
    /// - `limit`: stop at levels worse than it (above it for a buy, below for a sell).
    /// - Throws: ``LedgerError`` when a notional leaves the ledger's range (``Money``): the order is
    ///   refused rather than planned short.
    public static func plan(
        levels: [BookLevel], side: Side, quantity: WideDecimal?, quoteAmount: WideDecimal?, limit: WideDecimal? = nil
    ) throws(LedgerError) -> FillPlan {
        let byQuote = quantity == nil
        var remaining = quantity ?? quoteAmount ?? .zero
        var takes: [FillPlan.Take] = []
        var qty = WideDecimal.zero
        var notional = WideDecimal.zero
        var complete = false
        for level in levels {
            let price = WideDecimal(level.price)
            if let limit, side == .buy ? price > limit : price < limit { break }
            var take = WideDecimal(level.quantity)
            if !byQuote {
                if remaining <= take {
                    take = remaining
                    complete = true
                }
            } else {
                let lotDigits = Int(max(level.quantity.scale, level.quantity.displayScale))
                let affordable = try floorQuotient(remaining, price, digits: lotDigits)
                if affordable < take {
                    take = affordable
                    complete = true
                }
            }
            if take.isPositive {
                let cost = try Money.multiply(price, take, "notional of \(take) at \(price)")
                takes.append(FillPlan.Take(price: price, qty: take))
                notional = try Money.add(notional, cost, "order notional")
                qty = try Money.add(qty, take, "order quantity")
                remaining = try Money.subtract(remaining, byQuote ? cost : take, "remaining amount")
            }
            if complete { break }
        }
        if byQuote, !remaining.isPositive { complete = true }
        return FillPlan(takes: takes, qty: qty, notional: notional, complete: complete)
    }

    /// ⌊a ÷ b⌋ at `digits` fraction digits (a ≥ 0, b > 0), within the ledger's range.
    static func floorQuotient(_ a: WideDecimal, _ b: WideDecimal, digits: Int) throws(LedgerError) -> WideDecimal {
        guard b.isPositive, !a.isNegative else { return .zero }
        return try Money.checked(Money.mulDiv(a, WideDecimal(1), b, digits: min(digits, Money.fractionDigits), .towardZero), "quantity \(a) ÷ \(b)")
    }

    /// Slippage of a fill at `price` against `mid` in basis points, positive when worse than the mid
    /// (paid above it for a buy, received below it for a sell); 4 fraction digits.
    public static func slippageBps(side: Side, price: WideDecimal, mid: WideDecimal) -> WideDecimal? {
        guard mid.isPositive, let diff = side == .buy ? price.subtracting(mid) : mid.subtracting(price) else { return nil }
        return Money.mulDiv(diff, WideDecimal(10_000), mid, digits: 4, .halfEven)
    }
}
