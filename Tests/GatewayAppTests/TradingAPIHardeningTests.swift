import Bus
import Foundation
import MarketCore
import Services
import Storage
import Testing
@testable import GatewayApp
import _TestSupport

/// Hostile input on the trading API (issue 16): amounts the ledger cannot hold are refused with a
/// stable code and move no money; identifiers are checked at the edge; a fill read back from the
/// history is the fill that was sent.
@Suite("trading API hardening", .serialized)
struct TradingAPIHardeningTests {
    static let admin = ServicesEndToEndTests.admin
    static let execute = "/api/v1/trading/execute"

    func publishBook(_ g: ServicesEndToEndTests.Gateway, bid: String = "100.00", ask: String = "100.01", qty: String = "50") async throws {
        g.bus.publish(
            .bookSnapshot(
                BookSnapshot(
                    instrument: Sample.btc, time: .seconds(1_800_000_000),
                    bids: [BookLevel(price: FixedDecimal(bid)!, quantity: FixedDecimal(qty)!)],
                    asks: [BookLevel(price: FixedDecimal(ask)!, quantity: FixedDecimal(qty)!)], valid: true)))
        try await eventuallyTrue("book reaches the services") {
            g.services.market.book(InstrumentKey(venue: "binance", symbol: "BTC-USDT"))?.bestAsk?.price == FixedDecimal(ask)
        }
    }

    func balances(_ g: ServicesEndToEndTests.Gateway, _ token: String) async throws -> [String: String] {
        let (_, p) = try await g.call("GET", "/api/v1/trading/portfolio", token: token)
        var out: [String: String] = [:]
        for b in p["balances"] as? [[String: Any]] ?? [] { out[b["asset"] as? String ?? "?"] = b["amount"] as? String }
        return out
    }

    @Test(.timeLimit(.minutes(1)))
    func anOrderWhoseAmountsOverflowIsRefusedAndMovesNoMoney() async throws {
        try await ServicesEndToEndTests().withGateway { g in
            // Quantities with 8 decimals, as Binance prints them.
            try await publishBook(g, qty: "0.12345678")
            let token = try await g.user("ovi", cash: "10000")
            // The attacker's order: notional ~1e34 USDC, more than any balance can hold.
            let (code, body) = try await g.call(
                "POST", Self.execute, token: token,
                body: #"{"venue":"binance","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":"99999999999999999","limit_price":"99999999999999999"}"#)
            let error = body["error"] as? [String: Any]
            #expect(code == 422 && error?["code"] as? String == "amount_overflow", "\(code) \(body)")
            // The market trading through the (refused) limit fills nothing.
            g.bus.publish(
                .trade(
                    Trade(
                        instrument: Sample.btc, id: .number(7), price: FixedDecimal("99.99")!, quantity: FixedDecimal("0.0345")!, side: .sell,
                        eventTime: .seconds(1_800_000_001), receiveTime: .seconds(1_800_000_001), count: 1, stream: .raw)))
            try await Task.sleep(for: .milliseconds(200))
            let usdc = try await balances(g, token)["USDC"] ?? "?"
            #expect(!usdc.hasPrefix("-"), "USDC went negative: \(usdc)")
            #expect(usdc == "10000")
            let (_, orders) = try await g.call("GET", "/api/v1/trading/orders", token: token)
            #expect((orders["orders"] as? [Any])?.isEmpty == true, "\(orders)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aDepositThatWouldOverflowTheBalanceIsRefusedNotIgnored() async throws {
        try await ServicesEndToEndTests().withGateway { g in
            let token = try await g.user("dee", cash: "0.5")
            let (code, body) = try await g.call(
                "POST", "/api/v1/users/dee/deposit", token: Self.admin, body: #"{"amount":"100000000000000000000000000000000000000"}"#)
            #expect(code == 422 && (body["error"] as? [String: Any])?["code"] as? String == "amount_overflow", "\(code) \(body)")
            #expect(try await balances(g, token)["USDC"] == "0.5")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func identifiersWithControlCharactersOrUnknownValuesAreRefusedAtTheEdge() async throws {
        try await ServicesEndToEndTests().withGateway { g in
            try await publishBook(g)
            let token = try await g.user("nul", cash: "1000")
            let orders = [
                #"{"venue":"binance","symbol":"BTC-USDT\u0000","side":"buy","type":"market","quantity":"0.2"}"#,
                "{\"venue\":\"binance\",\"symbol\":\"BTC-USDT\u{0}\",\"side\":\"buy\",\"type\":\"market\",\"quantity\":\"0.2\"}",
                #"{"venue":"binance\u0000","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.2"}"#,
                #"{"venue":"nowhere","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.2"}"#,
                #"{"venue":"binance","symbol":"PH1Z-USDT","side":"buy","type":"market","quantity":"0.2"}"#,
            ]
            for order in orders {
                let (code, body) = try await g.call("POST", Self.execute, token: token, body: order)
                #expect(code == 400, "\(order.debugDescription): \(code) \(body)")
            }
            for asset in [#""\u0000""#, #""USDC\u0000""#, #""US DC""#, #""ZZZZZZ""#] {
                let (code, body) = try await g.call("POST", "/api/v1/users/nul/deposit", token: Self.admin, body: #"{"amount":"1","asset":\#(asset)}"#)
                #expect(code == 400, "asset \(asset): \(code) \(body)")
            }
            #expect(try await balances(g, token) == ["USDC": "1000"])
            // Nothing of it reached the pre-trade log, and the journal is not held up.
            #expect(try await g.store.preTradeLog(userID: "nul", limit: 10).isEmpty)
            #expect(g.services.journal.pending == 0)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aFillReadBackFromTheHistoryKeepsItsLevelsAndNotional() async throws {
        try await ServicesEndToEndTests().withGateway { g in
            try await publishBook(g, bid: "100.00", ask: "100.10", qty: "5.00")
            let token = try await g.user("hal", cash: "1000")
            let (code, placed) = try await g.call(
                "POST", Self.execute, token: token, body: #"{"venue":"binance","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.50"}"#)
            #expect(code == 200 && placed["stored"] as? Bool == true, "\(placed)")
            let sent = try #require((placed["fills"] as? [[String: Any]])?.first)
            // 0.50 × 100.10 = 50.0500, one level.
            #expect(sent["notional"] as? String == "50.0500" && sent["levels"] as? Int == 1, "\(sent)")
            // Read back from the store (the in-memory copy is not used for stored fills).
            let stored = try await g.store.paperFills(userID: "hal", since: nil, limit: 10)
            #expect(stored.count == 1)
            let (_, history) = try await g.call("GET", "/api/v1/trading/history", token: token)
            let fill = try #require((history["fills"] as? [[String: Any]])?.first)
            for key in ["order_id", "fill_id", "qty", "price", "notional", "fee", "fee_asset", "side", "order_type", "liquidity", "levels", "slippage_bps", "remaining"] {
                #expect("\(fill[key] ?? "nil")" == "\(sent[key] ?? "nil")", "\(key): history \(fill[key] ?? "nil") vs sent \(sent[key] ?? "nil")")
            }
        }
    }
}
