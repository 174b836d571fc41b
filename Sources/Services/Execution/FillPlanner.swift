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

    public var isEmpty: Bool { !qty.isPositive }

    /// The volume-weighted average price, rounded half-even to 12 fraction digits.
    public var averagePrice: WideDecimal? {
        guard qty.isPositive else { return nil }
        return notional.divided(by: qty, roundingToFractionDigits: FillPlanner.priceDigits)?.trimmed
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
    public static func plan(
        levels: [BookLevel], side: Side, quantity: WideDecimal?, quoteAmount: WideDecimal?, limit: WideDecimal? = nil
    ) -> FillPlan {
        let byQuote = quantity == nil
        var remaining = quantity ?? quoteAmount ?? .zero
        let hasLimit = limit != nil
        let limitPrice = limit ?? .zero
        var takes: [FillPlan.Take] = []
        var qty = WideDecimal.zero
        var notional = WideDecimal.zero
        var complete = false
        for level in levels {
            let price = WideDecimal(level.price)
            if hasLimit, side == .buy ? price > limitPrice : price < limitPrice { break }
            var take = WideDecimal(level.quantity)
            if !byQuote {
                if remaining <= take {
                    take = remaining
                    complete = true
                }
            } else {
                let lotDigits = Int(max(level.quantity.scale, level.quantity.displayScale))
                guard let affordable = floorQuotient(remaining, price, digits: lotDigits) else { break }
                if affordable < take {
                    take = affordable
                    complete = true
                }
            }
            if take.isPositive {
                guard let cost = price.multiplied(by: take), let n = notional.adding(cost), let q = qty.adding(take) else { break }
                takes.append(FillPlan.Take(price: price, qty: take))
                notional = n
                qty = q
                remaining = remaining.subtracting(byQuote ? cost : take) ?? .zero
            }
            if complete { break }
        }
        if byQuote, !remaining.isPositive { complete = true }
        return FillPlan(takes: takes, qty: qty, notional: notional, complete: complete)
    }

    /// ⌊a ÷ b⌋ at `digits` fraction digits (b > 0).
    static func floorQuotient(_ a: WideDecimal, _ b: WideDecimal, digits: Int) -> WideDecimal? {
        guard b.isPositive, var q = a.divided(by: b, roundingToFractionDigits: digits) else { return nil }
        let ulp = WideDecimal(mantissa: 1, scale: UInt8(digits), displayScale: UInt8(digits))
        while let p = q.multiplied(by: b), p > a, let lower = q.subtracting(ulp) { q = lower }
        return q.isNegative ? .zero : q
    }

    /// Slippage of a fill at `price` against `mid` in basis points, positive when worse than the mid
    /// (paid above it for a buy, received below it for a sell); 4 fraction digits.
    public static func slippageBps(side: Side, price: WideDecimal, mid: WideDecimal) -> WideDecimal? {
        guard mid.isPositive, let diff = side == .buy ? price.subtracting(mid) : mid.subtracting(price),
            let scaled = diff.multiplied(by: WideDecimal(10_000))
        else { return nil }
        return scaled.divided(by: mid, roundingToFractionDigits: 4)
    }
}
