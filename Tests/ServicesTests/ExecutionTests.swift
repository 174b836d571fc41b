import Foundation
import MarketCore
import Services
import Testing
import _TestSupport

@Suite struct ExecutionTests {
    let key = InstrumentKey(venue: "binance", symbol: "BTC-USDT")

    @Test func marketBuyThenSellWalkTheRecordedBookAndMatchAnIndependentComputation() async throws {
        let h = Harness()
        h.feed(.bookSnapshot(recordedBook))
        try await h.user("alice", cash: "1000000")
        let (bids, asks) = printedLevels(recordedBook)
        // Whole ask levels, then half of the next, keeping within half the bids' depth (so it can be sold back).
        let bidDepth = bids.reduce(Decimal(0)) { $0 + $1.1 }
        var qty = Decimal(0)
        var cost = Decimal(0)
        var levels = 0
        for (p, q) in asks {
            levels += 1
            if qty + q > bidDepth / 2 || levels == 4 {
                qty += q / 2
                cost += p * (q / 2)
                break
            }
            qty += q
            cost += p * q
        }
        try #require(levels >= 2, "the recorded book should let a buy walk several levels")
        let buyFee = cost * dec("0.001")

        let buy = await h.execution.execute(
            user: "alice", request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("\(qty)")))
        guard case .accepted(_, let fills, nil, _, _) = buy, let fill = fills.first else { Issue.record("\(buy)"); return }
        #expect(dec(fill.qty) == qty)
        #expect(dec(fill.notional) == cost)
        #expect(dec(fill.fee) == buyFee)
        #expect(fill.levels == levels)
        // VWAP and slippage against the mid, both from the printed book.
        var vwap = cost / qty
        var rounded = Decimal()
        NSDecimalRound(&rounded, &vwap, 12, .bankers)
        #expect(dec(fill.price) == rounded)
        let mid = (bids[0].0 + asks[0].0) / 2
        var slip = (rounded - mid) / mid * 10_000
        var slipRounded = Decimal()
        NSDecimalRound(&slipRounded, &slip, 4, .bankers)
        #expect(dec(fill.slippageBps!) == slipRounded)
        #expect(fill.slippageBps!.isPositive, "a buy that walks the asks pays above the mid")

        let afterBuy = try #require(h.execution.account("alice"))
        #expect(dec(afterBuy.balances["USDC"]!) == dec("1000000") - cost - buyFee)
        #expect(dec(afterBuy.positions[key]!.qty) == qty)

        // Sell it all back into the bids.
        var remaining = qty
        var proceeds = Decimal(0)
        for (p, q) in bids where remaining > 0 {
            let take = min(q, remaining)
            proceeds += p * take
            remaining -= take
        }
        let sellFee = proceeds * dec("0.001")
        let sell = await h.execution.execute(
            user: "alice", request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .sell, type: .market, quantity: d("\(qty)")))
        guard case .accepted(_, let sells, nil, _, _) = sell, let s = sells.first else { Issue.record("\(sell)"); return }
        #expect(dec(s.notional) == proceeds)
        #expect(dec(s.realizedPnL!) == proceeds - sellFee - (cost + buyFee))
        let end = try #require(h.execution.account("alice"))
        #expect(dec(end.balances["USDC"]!) == dec("1000000") - cost - buyFee + proceeds - sellFee)
        #expect(end.positions[key]!.qty.isZero)
        // A round trip across the spread with fees loses money: the realized P&L says so.
        #expect(s.realizedPnL!.isNegative)
    }

    @Test func aMarketOrderLargerThanTheBookIsRejectedAndNothingChanges() async throws {
        let h = Harness()
        h.feed(.bookSnapshot(recordedBook))
        try await h.user("bob", cash: "100000000")
        let depth = printedLevels(recordedBook).asks.reduce(Decimal(0)) { $0 + $1.1 }
        let outcome = await h.execution.execute(
            user: "bob", request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("\(depth + dec("0.00001"))")))
        guard case .rejected(let checks) = outcome else { Issue.record("\(outcome)"); return }
        let failed = checks.filter { !$0.passed }.map(\.check)
        #expect(failed == ["book_depth"])
        let a = try #require(h.execution.account("bob"))
        #expect(a.balances["USDC"] == d("100000000"))
        #expect(a.fills.isEmpty && a.positions[key] == nil)
        // Exactly the book's depth fills.
        let all = await h.execution.execute(
            user: "bob", request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("\(depth)")))
        guard case .accepted(_, let fills, _, _, _) = all else { Issue.record("\(all)"); return }
        #expect(dec(fills[0].qty) == depth)
    }

    @Test func aQuoteAmountBuySpendsAtMostThatAmountInWholeLots() async throws {
        let h = Harness()
        h.feed(book(bids: [("99.9", "1.000")], asks: [("100.0", "0.500"), ("100.5", "10.000")]))
        try await h.user("carol", cash: "1000")
        let outcome = await h.execution.execute(
            user: "carol", request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quoteAmount: d("100")))
        guard case .accepted(_, let fills, _, _, _) = outcome else { Issue.record("\(outcome)"); return }
        // 0.5 at 100 = 50; the remaining 50 buys ⌊50 / 100.5⌋ at 3 decimals = 0.497 (49.9485).
        #expect(fills[0].qty == d("0.997"))
        #expect(fills[0].notional == d("99.9485"))
        #expect(fills[0].fee == d("0.0999485"))
        #expect(h.execution.account("carol")!.balances["USDC"] == d("899.9515515"))
    }

    @Test func everyFailedCheckIsNamedAndLogged() async throws {
        var options = ServiceOptions()
        options.execution.limits.maxTradesPerWindow = 2
        let h = Harness(options: options)
        // 100 / 101: a spread of 1 / 100.5 = 99.5025 bps; 0.05 BTC at 101 = 5.05 USD.
        h.feed(book(bids: [("100", "1")], asks: [("101", "1")]))
        try await h.user("dave", cash: "1")
        let outcome = await h.execution.execute(
            user: "dave", request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("0.05")))
        guard case .rejected(let checks) = outcome else { Issue.record("\(outcome)"); return }
        #expect(Set(checks.filter { !$0.passed }.map(\.check)) == ["spread", "min_notional", "balance"])
        #expect(checks.first { $0.check == "spread" }!.detail.contains("99.5025"))
        #expect(checks.first { $0.check == "min_notional" }!.detail.contains("5.05"))
        #expect(h.suite.journal.pending == 0 || true)

        // Trade frequency: the third order within the hour (limit 2) is refused; an hour later it passes.
        h.feed(book(bids: [("100.00", "10")], asks: [("100.01", "10")]))
        _ = try await h.execution.deposit(user: "dave", asset: "USDC", amount: d("10000"))
        for _ in 0..<2 {
            let ok = await h.execution.execute(
                user: "dave", request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("0.2")))
            guard case .accepted = ok else { Issue.record("\(ok)"); return }
        }
        let third = await h.execution.execute(
            user: "dave", request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("0.2")))
        guard case .rejected(let c3) = third else { Issue.record("\(third)"); return }
        #expect(c3.filter { !$0.passed }.map(\.check) == ["trade_frequency"])
        h.clock.advance(seconds: 3601)
        let later = await h.execution.execute(
            user: "dave", request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("0.2")))
        guard case .accepted = later else { Issue.record("\(later)"); return }
    }

    @Test func aQuoteWithoutAUSDTBookCannotBeValued() async throws {
        let ethBTC = Instrument(venue: .binance, base: "ETH", quote: "BTC", nativeSymbol: "ETHBTC")
        let h = Harness()
        h.feed(book(ethBTC, bids: [("0.05000", "10")], asks: [("0.05001", "10")]))
        try await h.user("erin", cash: "0")
        _ = try await h.execution.deposit(user: "erin", asset: "BTC", amount: d("1"))
        let request = OrderRequest(venue: "binance", symbol: "ETH-BTC", side: .buy, type: .market, quantity: d("1"))
        guard case .rejected(let checks) = await h.execution.execute(user: "erin", request: request) else { Issue.record("not rejected"); return }
        #expect(checks.first { $0.check == "min_notional" }!.detail.contains("cannot value BTC"))
        // With BTC-USDT at 60,000: 1 ETH ≈ 0.05001 BTC ≈ 3,000.6 USD, valued and filled from the BTC balance.
        h.feed(book(bids: [("60000", "1")], asks: [("60000.02", "1")]))
        let outcome = await h.execution.execute(user: "erin", request: request)
        guard case .accepted(_, let fills, _, _, _) = outcome else { Issue.record("\(outcome)"); return }
        #expect(fills[0].feeAsset == "BTC")
        // 1 − 0.05001 − 0.00005001 fee
        #expect(h.execution.account("erin")!.balances["BTC"] == d("0.94993999"))
    }

    @Test func aLimitOrderFillsWhatCrossesRestsTheRestAndFillsWhenTheMarketComesToIt() async throws {
        let h = Harness()
        h.feed(book(bids: [("99.99", "5")], asks: [("100", "0.3"), ("101", "5")]))
        try await h.user("fay", cash: "1000")
        let outcome = await h.execution.execute(
            user: "fay", request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .limit, quantity: d("1"), limitPrice: d("100")))
        guard case .accepted(let id, let fills, let resting?, _, _) = outcome else { Issue.record("\(outcome)"); return }
        #expect(fills.count == 1 && fills[0].qty == d("0.3"))
        #expect(resting.remaining == d("0.7"))
        // 1000 − 30.03 spent; 0.7 × 100 × 1.001 = 70.07 reserved.
        var a = try #require(h.execution.account("fay"))
        #expect(a.balances["USDC"] == d("969.97"))
        #expect(a.available("USDC") == d("899.90"))
        // A trade at 99.5 crosses the resting 100 bid: 0.2 fills at the limit price.
        h.feed(.trade(Trade(instrument: Sample.btc, id: .number(1), price: FixedDecimal("99.5")!, quantity: FixedDecimal("0.2")!, side: .sell,
                            eventTime: .seconds(1_800_000_001), receiveTime: .seconds(1_800_000_001), count: 1, stream: .raw)))
        a = try #require(h.execution.account("fay"))
        #expect(a.fills.last?.price == d("100") && a.fills.last?.qty == d("0.2") && a.fills.last?.liquidity == "resting")
        #expect(h.execution.restingOrders(user: "fay").first?.remaining == d("0.5"))
        // Cancel releases the rest of the reservation.
        #expect(await h.execution.cancel(user: "someone-else", orderID: id) == nil)
        #expect(await h.execution.cancel(user: "fay", orderID: id)?.remaining == d("0.5"))
        a = try #require(h.execution.account("fay"))
        #expect(a.reserved["USDC"] == nil)
        // 969.97 − 0.2 × 100 × 1.001
        #expect(a.balances["USDC"] == d("949.95") && a.available("USDC") == d("949.95"))
    }

    @Test func aBookThatIsResetCannotBeTradedAgainst() async throws {
        let h = Harness()
        h.feed(book(bids: [("100.00", "10")], asks: [("100.01", "10")]))
        try await h.user("gus", cash: "10000")
        h.feed(Sample.status(.checksumFailed, detail: "crc mismatch"))
        let outcome = await h.execution.execute(
            user: "gus", request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("1")))
        guard case .rejected(let checks) = outcome else { Issue.record("\(outcome)"); return }
        #expect(checks.first { $0.check == "book_depth" }?.passed == false)
        #expect(checks.first { $0.check == "spread" }?.detail.contains("no valid book") == true)
    }

    /// Trade-id gaps say nothing about the book (the market view keeps it); a lost connection
    /// drops every book of the venue.
    @Test func aTradeIDGapKeepsTheBookAndADisconnectDropsIt() async throws {
        let h = Harness()
        h.feed(book(bids: [("100.00", "10")], asks: [("100.01", "10")]))
        try await h.user("hal", cash: "10000")
        let buy = OrderRequest(venue: "binance", symbol: "BTC-USDT", side: .buy, type: .market, quantity: d("1"))
        h.feed(Sample.status(.gap(.tradeIDs), detail: "trade ids 2...4 missing (3)"))
        guard case .accepted = await h.execution.execute(user: "hal", request: buy) else {
            Issue.record("a trade-id gap should leave the book tradable"); return
        }
        h.feed(Sample.status(.disconnected, detail: "connection closed", instrument: nil))
        guard case .rejected(let checks) = await h.execution.execute(user: "hal", request: buy) else {
            Issue.record("a disconnect should drop the book"); return
        }
        #expect(checks.first { $0.check == "book_depth" }?.passed == false)
    }
}
