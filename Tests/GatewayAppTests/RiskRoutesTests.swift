import Bus
import Foundation
import FoundationNetworking
import MarketCore
import Services
import Storage
import Testing
@testable import GatewayApp
import _TestSupport

/// The risk endpoints over real HTTP: a user reads only their own limits and breaker; an admin
/// sets a user's limits and resets the breaker; user, forged and missing tokens are 403 / 401.
@Suite("risk routes", .serialized)
struct RiskRoutesTests {
    static let admin = ServicesEndToEndTests.admin

    /// A decimal string's value (trailing zeros do not matter).
    static func num(_ v: Any?) -> WideDecimal? { (v as? String).flatMap(WideDecimal.parse) }

    static func book(bid: String, ask: String) -> MarketEvent {
        .bookSnapshot(
            BookSnapshot(
                instrument: Sample.btc, time: .seconds(1_800_000_000),
                bids: [BookLevel(price: FixedDecimal(bid)!, quantity: FixedDecimal("100")!)],
                asks: [BookLevel(price: FixedDecimal(ask)!, quantity: FixedDecimal("100")!)], valid: true))
    }

    @Test(.timeLimit(.minutes(1)))
    func limitsBreakerResetAndAuthorization() async throws {
        try await ServicesEndToEndTests().withGateway(configure: { o in
            o.execution.limits.maxTradesPerWindow = 1000
            o.execution.risk = RiskLimits(maxOrderNotionalUSD: WideDecimal(250_000), maxDailyLossUSD: WideDecimal(50))
        }) { g in
            let key = InstrumentKey(venue: "binance", symbol: "BTC-USDT")
            g.bus.publish(Self.book(bid: "99.9", ask: "100.1"))
            let zoe = try await g.user("zoe", cash: "2000")
            let max = try await g.user("max", cash: "100")
            try await eventuallyTrue("book reaches the services") { g.services.market.mid(key) == WideDecimal(100) }

            var (code, body) = try await g.call("GET", "/api/v1/risk", token: zoe)
            #expect(code == 200 && body["user"] as? String == "zoe", "\(body)")
            var limits = body["limits"] as? [String: Any] ?? [:]
            #expect(limits["max_daily_loss_usd"] as? String == "50" && limits["max_order_notional_usd"] as? String == "250000")
            #expect(limits["max_open_orders"] is NSNull && limits["max_position_percent"] is NSNull)
            var breaker = body["breaker"] as? [String: Any] ?? [:]
            #expect(breaker["tripped"] as? Bool == false && Self.num(breaker["trips_at_loss"]) == WideDecimal(50))

            // Buy 10 at 100.1 (cost basis 1002.001), then the mid falls to 95.2001: loss exactly 50.
            let buy = #"{"venue":"binance","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"10"}"#
            (code, _) = try await g.call("POST", "/api/v1/trading/execute", token: zoe, body: buy)
            #expect(code == 200)
            g.bus.publish(Self.book(bid: "95.2000", ask: "95.2002"))
            try await eventuallyTrue("book moves") { g.services.market.mid(key) == WideDecimal.parse("95.2001")! }
            let small = #"{"venue":"binance","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":"0.2","limit_price":"90"}"#
            (code, body) = try await g.call("POST", "/api/v1/trading/execute", token: zoe, body: small)
            let error = body["error"] as? [String: Any] ?? [:]
            #expect(code == 422 && error["code"] as? String == "pretrade_rejected")
            #expect((error["message"] as? String)?.contains("daily_loss (circuit breaker tripped") == true, "\(error)")

            (code, body) = try await g.call("GET", "/api/v1/risk", token: zoe)
            breaker = body["breaker"] as? [String: Any] ?? [:]
            #expect(breaker["tripped"] as? Bool == true && Self.num(breaker["loss"]) == WideDecimal(50))
            #expect(Self.num(body["day_pnl"]) == WideDecimal(-50), "\(body)")
            // max sees only their own.
            (code, body) = try await g.call("GET", "/api/v1/risk", token: max)
            #expect(code == 200 && body["user"] as? String == "max" && (body["breaker"] as? [String: Any])?["tripped"] as? Bool == false)

            // Admin endpoints: user, forged and missing tokens are refused; nothing changes.
            let forged = zoe.dropLast(2) + (zoe.hasSuffix("AA") ? "BB" : "AA")
            for path in ["/api/v1/admin/users/zoe/risk/reset", "/api/v1/admin/users/zoe/risk/limits", "/api/v1/admin/users/zoe/risk"] {
                let method = path.hasSuffix("reset") ? "POST" : path.hasSuffix("limits") ? "PUT" : "GET"
                let b: String? = method == "GET" ? nil : "{}"
                #expect(try await g.call(method, path, token: zoe, body: b).0 == 403, "\(path)")
                #expect(try await g.call(method, path, token: String(forged), body: b).0 == 401, "\(path)")
                #expect(try await g.call(method, path, token: "not-the-admin-token-at-all", body: b).0 == 401, "\(path)")
                #expect(try await g.call(method, path, token: nil, body: b).0 == 401, "\(path)")
            }
            #expect(g.services.execution.risk.isTripped("zoe", at: g.services.execution.now))

            (code, body) = try await g.call("GET", "/api/v1/admin/users/zoe/risk", token: Self.admin)
            #expect(code == 200 && (body["breaker"] as? [String: Any])?["tripped"] as? Bool == true)
            (code, body) = try await g.call("POST", "/api/v1/admin/users/zoe/risk/reset", token: Self.admin)
            breaker = body["breaker"] as? [String: Any] ?? [:]
            // Trips again at 50 more: 100.
            #expect(code == 200 && breaker["tripped"] as? Bool == false && Self.num(breaker["trips_at_loss"]) == WideDecimal(100), "\(body)")
            (code, _) = try await g.call("POST", "/api/v1/trading/execute", token: zoe, body: small)
            #expect(code == 200)

            // Limits: set one, clear one, bad values are 400, unknown users 404.
            (code, body) = try await g.call(
                "PUT", "/api/v1/admin/users/zoe/risk/limits", token: Self.admin, body: #"{"max_open_orders":1,"max_position_percent":"25"}"#)
            limits = body["limits"] as? [String: Any] ?? [:]
            #expect(code == 200 && limits["max_open_orders"] as? Int == 1 && limits["max_position_percent"] as? String == "25", "\(body)")
            #expect((body["own_limits"] as? [String: Any])?["max_daily_loss_usd"] is NSNull)
            // One order rests already: the limit of 1 is reached.
            (code, body) = try await g.call("POST", "/api/v1/trading/execute", token: zoe, body: small)
            #expect(code == 422 && ((body["error"] as? [String: Any])?["message"] as? String)?.contains("max_open_orders") == true)
            (code, body) = try await g.call("PUT", "/api/v1/admin/users/zoe/risk/limits", token: Self.admin, body: #"{"max_open_orders":null}"#)
            #expect(code == 200 && (body["limits"] as? [String: Any])?["max_open_orders"] is NSNull)
            for bad in [#"{"max_open_orders":0}"#, #"{"max_daily_loss_usd":"-5"}"#, #"{"max_position_percent":"x"}"#, #"{"nope":"1"}"#] {
                #expect(try await g.call("PUT", "/api/v1/admin/users/zoe/risk/limits", token: Self.admin, body: bad).0 == 400, "\(bad)")
            }
            #expect(try await g.call("POST", "/api/v1/admin/users/nobody/risk/reset", token: Self.admin).0 == 404)
            #expect(try await g.call("GET", "/api/v1/admin/users/nobody/risk", token: Self.admin).0 == 404)
        }
    }
}
