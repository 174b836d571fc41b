import ExchangeSimulator
import Foundation
import Logging
import MarketCore
import Storage
import Testing
import _TestSupport

#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `gateway serve` SIGKILLed and started again on the same database (SQLite and PostgreSQL), while
/// the local exchange keeps trading: resting limit orders, their reservations and agents come
/// back as they were, and an order that filled just before the kill does not fill again.
@Suite("paper trading survives SIGKILL", .serialized)
struct TradingKillTests {
    enum Store: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
        static var available: [Store] { TestServer.timescale.adminURL != nil ? [.sqlite, .postgres] : [.sqlite] }
    }

    static let admin = "admin-token-for-kill-tests-0123456789"

    /// A running `gateway serve` process and its HTTP port.
    struct Gateway {
        let pid: pid_t
        let port: Int
        let stderr: String

        func call(_ method: String, _ path: String, token: String?, body: String? = nil) async throws -> (Int, [String: Any]) {
            var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            r.httpMethod = method
            r.timeoutInterval = 10
            if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            if let body { r.httpBody = Data(body.utf8) }
            let (data, response) = try await URLSession.shared.data(for: r)
            return ((response as! HTTPURLResponse).statusCode, (try? JSONSerialization.jsonObject(with: Data(data))) as? [String: Any] ?? [:])
        }
    }

    static func start(_ binary: String, config: String, dir: String, run: Int) async throws -> Gateway {
        let err = "\(dir)/stderr-\(run)"
        let pid = try Command.spawn([binary, "serve", "--config", config], stdinPath: "/dev/null", stdoutPath: "\(dir)/stdout-\(run)", stderrPath: err)
        var port: Int?
        for _ in 0..<600 where port == nil {
            try await Task.sleep(for: .milliseconds(100))
            let text = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
            if let range = text.range(of: "API listening on http://127.0.0.1:") {
                port = Int(text[range.upperBound...].prefix { $0.isNumber })
            }
        }
        guard let port else {
            kill(pid, SIGKILL)
            _ = Command.wait(pid)
            throw CommandError("gateway serve did not listen: \((try? String(contentsOfFile: err, encoding: .utf8)) ?? "")")
        }
        return Gateway(pid: pid, port: port, stderr: err)
    }

    /// What the API says of the user: resting orders, balances (amount, reserved), fills, agents.
    struct Snapshot: Equatable {
        var orders: [String]
        var balances: [String]
        var fills: [String]
        var agents: [String]
    }

    static func snapshot(_ g: Gateway, _ token: String) async throws -> Snapshot {
        let (_, o) = try await g.call("GET", "/api/v1/trading/orders", token: token)
        let (_, p) = try await g.call("GET", "/api/v1/trading/portfolio", token: token)
        let (_, h) = try await g.call("GET", "/api/v1/trading/history?limit=1000", token: token)
        let (_, a) = try await g.call("GET", "/api/v1/agents", token: token)
        func rows(_ list: Any?, _ keys: [String]) -> [String] {
            ((list as? [[String: Any]]) ?? []).map { r in keys.map { "\(r[$0] ?? "-")" }.joined(separator: " ") }.sorted()
        }
        return Snapshot(
            orders: rows(o["orders"], ["order_id", "side", "limit_price", "quantity", "remaining", "reserved"]),
            balances: rows(p["balances"], ["asset", "amount", "reserved", "available"]),
            fills: rows(h["fills"], ["fill_id", "qty", "price", "notional", "fee"]),
            agents: rows(a["agents"], ["id", "strategy", "symbol", "quantity"]))
    }

    @Test(.timeLimit(.minutes(4)), arguments: Store.available)
    func restingOrdersReservationsAndAgentsSurviveSigkillAndNothingFillsTwice(_ store: Store) async throws {
        let binary = try #require(ReplayTests.gatewayBinary(), "gateway binary not built next to the tests")
        let dir = try makeTempDirectory("trading-kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Fixtures.excerpt("binance/spot-btcusdt-2024-08-08.jsonl.gz", seconds: 120, to: "\(dir)/excerpt.jsonl")
        let sim = ExchangeSimulator(speed: 2, loop: true)
        try sim.addVenue(.binance, captures: ["\(dir)/excerpt.jsonl"])
        try await sim.start()
        defer { Task { await sim.stop() } }

        let body: @Sendable (String) async throws -> Void = { url in
            let config = "\(dir)/gateway.yaml"
            try """
                log_level: warning
                venues:
                  binance:
                    symbols: [BTC-USDT]
                    ws_url: \(sim.wsURL(venue: .binance, path: "ws"))
                    rest_url: \(sim.restBaseURL(venue: .binance))
                    stale_after: 10s
                storage:
                  url: \(url)
                  spill_dir: \(dir)/spill
                server:
                  port: 0
                services:
                  jwt_secret: \(String(repeating: "s", count: 40))
                  admin_token: \(Self.admin)
                  max_trades_per_hour: 1000
                  signals: ["rsi:14:30:70 binance BTC-USDT 1m"]
                """.write(toFile: config, atomically: true, encoding: .utf8)

            // Run 1: a user with resting orders on both sides, an agent, and an order that rests and then fills.
            let g1 = try await Self.start(binary, config: config, dir: dir, run: 1)
            let (created, user) = try await g1.call("POST", "/api/v1/users", token: Self.admin, body: #"{"id":"kim"}"#)
            #expect(created == 201, "\(user)")
            let token = try #require(user["token"] as? String)
            _ = try await g1.call("POST", "/api/v1/users/kim/deposit", token: Self.admin, body: #"{"amount":"100000"}"#)
            // Wait for a valid book: a market buy of 0.01 BTC is accepted once there is one.
            var bought = false
            for _ in 0..<300 where !bought {
                let (code, _) = try await g1.call(
                    "POST", "/api/v1/trading/execute", token: token,
                    body: #"{"venue":"binance","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.01"}"#)
                bought = code == 200
                if !bought { try await Task.sleep(for: .milliseconds(200)) }
            }
            try #require(bought, "no valid book from the simulator")
            for order in [
                #"{"venue":"binance","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":"0.05","limit_price":"1000.5"}"#,
                #"{"venue":"binance","symbol":"BTC-USDT","side":"sell","type":"limit","quantity":"0.004","limit_price":"9000000"}"#,
            ] {
                let (code, placed) = try await g1.call("POST", "/api/v1/trading/execute", token: token, body: order)
                #expect(code == 200 && placed["status"] as? String == "resting" && placed["stored"] as? Bool == true, "\(placed)")
            }
            let (agentCode, agent) = try await g1.call(
                "POST", "/api/v1/agents", token: token, body: #"{"strategy":"rsi","venue":"binance","symbol":"BTC-USDT","quantity":"0.001"}"#)
            #expect(agentCode == 201, "\(agent)")
            // A buy resting just under the market: placed 0.02 % under the ask, it rests and fills
            // when the price dips (the capture moves several dollars a second).
            var filledOrder: String?
            for _ in 0..<60 where filledOrder == nil {
                let (_, book) = try await g1.call("GET", "/api/v1/trading/portfolio", token: token)
                let mid = ((book["positions"] as? [[String: Any]])?.first?["mid"] as? String).flatMap(Double.init)
                guard let mid else { continue }
                let price = String(format: "%.2f", mid * 0.9998)
                let (code, placed) = try await g1.call(
                    "POST", "/api/v1/trading/execute", token: token,
                    body: #"{"venue":"binance","symbol":"BTC-USDT","side":"buy","type":"limit","quantity":"0.0005","limit_price":"\#(price)"}"#)
                guard code == 200, placed["status"] as? String == "resting", let id = placed["order_id"] as? String else { continue }
                // Wait until it has filled completely and the fill is stored (history reads the store).
                for _ in 0..<200 {
                    let (_, orders) = try await g1.call("GET", "/api/v1/trading/orders", token: token)
                    let open = ((orders["orders"] as? [[String: Any]]) ?? []).contains { $0["order_id"] as? String == id }
                    if !open { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                let (_, orders) = try await g1.call("GET", "/api/v1/trading/orders", token: token)
                if ((orders["orders"] as? [[String: Any]]) ?? []).contains(where: { $0["order_id"] as? String == id }) {
                    _ = try await g1.call("DELETE", "/api/v1/trading/orders/\(id)", token: token)
                    continue
                }
                filledOrder = id
            }
            let filled = try #require(filledOrder, "no resting order filled within the time allowed")
            // The fill is in the database before the kill (read directly, not through the gateway).
            let reader = try await StoreLocation(parsing: url).open(logger: Logger(label: "kill-test"))
            let accounts = try #require(reader as? any AccountStore)
            let stored = await waitUntil(seconds: 20) {
                ((try? await accounts.paperFills(userID: "kim", since: nil, limit: 100)) ?? []).contains { $0.orderID == filled }
            }
            await reader.close()
            #expect(stored, "the fill of \(filled) was not stored within 20 s")
            let before = try await Self.snapshot(g1, token)
            #expect(before.orders.count == 2 && before.agents.count == 1, "\(before)")
            kill(g1.pid, SIGKILL)
            #expect(Command.wait(g1.pid) == 128 + SIGKILL)

            // Run 2 on the same database, with the exchange still trading through the filled price.
            let g2 = try await Self.start(binary, config: config, dir: dir, run: 2)
            try await Task.sleep(for: .seconds(6))
            let after = try await Self.snapshot(g2, token)
            #expect(after.orders == before.orders, "resting orders: before \(before.orders), after \(after.orders)")
            #expect(after.balances == before.balances, "balances: before \(before.balances), after \(after.balances)")
            #expect(after.agents == before.agents, "agents: before \(before.agents), after \(after.agents)")
            #expect(after.fills == before.fills, "fills: before \(before.fills.count), after \(after.fills.count)")
            kill(g2.pid, SIGTERM)
            #expect(Command.wait(g2.pid) == 0, "\((try? String(contentsOfFile: g2.stderr, encoding: .utf8))?.suffix(2000) ?? "")")
        }
        switch store {
        case .sqlite: try await body("sqlite:\(dir)/gateway.sqlite")
        case .postgres:
            // A fresh database on the test server; the gateway gets its URL.
            let admin = try #require(TestServer.timescale.adminURL.flatMap { URLComponents(string: $0) })
            try await ScratchDatabase.with { config in
                var url = admin
                url.path = "/" + (config.database ?? "")
                try await body(try #require(url.string))
            }
        }
    }
}
