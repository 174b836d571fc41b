import Bus
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MarketCore
import NIOCore
import Services
import Storage
import Testing
@testable import GatewayApp
import _TestSupport

/// The strategy endpoints and `gateway backtest` on the candles a replay stored, checked against
/// the candles the replay printed (another path to the same closes) and against the breakout rule
/// recomputed here.
@Suite("strategy registry over HTTP and the store", .serialized)
struct StrategyRoutesTests {
    static let admin = "admin-token-for-tests-0123456789"
    static let secret = String(repeating: "s", count: 48)

    /// The 1m closes the replay printed, oldest first (from its JSON lines, not from the store).
    static func printedBars(_ fixture: StoredReplay) throws -> [BacktestBar] {
        try fixture.candles1m.map { line in
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let startText = try #require(o["start"] as? String)
            let closeText = try #require(o["close"] as? String)
            let start = try #require(UnixNanos.parseISO8601(startText))
            let close = try #require(WideDecimal.parse(closeText))
            return BacktestBar(time: start, close: close)
        }
    }

    @Test("The store's history is the replay's printed candles; breakout trades obey the rule", .timeLimit(.minutes(2)))
    func storeHistoryMatchesReplay() async throws {
        let fixture = try await StoredReplay.shared.value
        let printed = try Self.printedBars(fixture)
        let history = storeHistory(fixture.store)
        let stored = try await history("binance:BTC-USDT", "1m", .seconds(0), .seconds(4_000_000_000))
        #expect(stored == printed)
        #expect(stored.count >= 10)

        let runs = try await BacktestRun.run(
            StrategyDefinition(name: "b", kind: .breakout, parameters: ["lookback": "2"], instruments: ["binance:BTC-USDT"]),
            history: history, from: .seconds(0), to: .seconds(4_000_000_000), options: BacktestOptions())
        let run = try #require(runs.first)
        #expect(runs.count == 1 && run.candles == printed.count)
        // Each trade, recomputed from the closes: a buy when flat and the close is above both
        // previous closes, a sell when long and below both; sides alternate starting with a buy.
        var expected: [(UnixNanos, Side)] = []
        var long = false
        var lastBreak: Side?
        for i in 2..<printed.count {
            let c = printed[i].close
            let prev = [printed[i - 1].close, printed[i - 2].close]
            let side: Side? = c > prev.max()! ? .buy : c < prev.min()! ? .sell : nil
            guard let side, side != lastBreak else { continue }
            lastBreak = side
            if side == .buy, !long { expected.append((printed[i].time, .buy)); long = true }
            if side == .sell, long { expected.append((printed[i].time, .sell)); long = false }
        }
        #expect(expected.count >= 2, "the capture should make the rule trade")
        #expect(run.result.trades.map(\.time) == expected.map(\.0))
        #expect(run.result.trades.map(\.side) == expected.map(\.1))
        #expect(run.result.equity.count == printed.count)
    }

    @Test("Upload, check, refuse, derive and backtest over HTTP", .timeLimit(.minutes(2)))
    func endpoints() async throws {
        let fixture = try await StoredReplay.shared.value
        var logger = Logger(label: "strategy-routes")
        logger.logLevel = .warning
        let authority = try await TokenAuthority(secret: Self.secret, adminToken: Self.admin)
        var serviceOptions = ServiceOptions()
        serviceOptions.execution.instruments = [InstrumentKey(venue: "binance", symbol: "BTC-USDT"), InstrumentKey(venue: "okx", symbol: "BTC-USDT")]
        let services = ServiceSuite(options: serviceOptions, bus: MarketBus(), store: fixture.store, authority: authority, logger: logger)
        var policy = StrategyCheckPolicy()
        policy.days = 3650  // the capture is from 2024
        policy.minimumTrades = 1
        let registry = StrategyRegistry(policy: policy, history: storeHistory(fixture.store))
        let router = Router()
        addServiceRoutes(to: router, services: services)
        addStrategyRoutes(to: router, services: services, registry: registry, store: fixture.store)
        let app = Application(router: router, logger: logger)
        let printed = try Self.printedBars(fixture)

        try await app.test(.router) { client in
            func call(_ method: HTTPRequest.Method, _ uri: String, token: String?, body: String? = nil) async throws -> (Int, [String: Any]) {
                var headers = HTTPFields()
                if let token { headers[.authorization] = "Bearer \(token)" }
                return try await client.execute(
                    uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }
                ) { response in
                    let json = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:]
                    return (Int(response.status.code), json)
                }
            }
            let (created, user) = try await call(.post, "/api/v1/users", token: Self.admin, body: #"{"id":"alice"}"#)
            #expect(created == 201)
            let alice = try #require(user["token"] as? String)
            let (created2, user2) = try await call(.post, "/api/v1/users", token: Self.admin, body: #"{"id":"bob"}"#)
            #expect(created2 == 201)
            let bob = try #require(user2["token"] as? String)

            let body = #"{"name":"break2","kind":"breakout","parameters":{"lookback":2},"instruments":["binance:BTC-USDT"]}"#
            let (noToken, denied) = try await call(.post, "/api/v1/strategies", token: nil, body: body)
            #expect(noToken == 401 && (denied["error"] as? [String: Any])?["code"] as? String == "unauthorized")

            let (status, entry) = try await call(.post, "/api/v1/strategies", token: alice, body: body)
            #expect(status == 201, "\(entry)")
            let id = try #require(entry["id"] as? String)
            #expect(entry["creator"] as? String == "alice" && entry["generation"] as? Int == 1)
            let check = try #require(entry["check"] as? [String: Any])
            // The check's round trips equal a backtest over the printed candles.
            let independent = try Backtester().run(Breakout(lookback: 2), bars: printed)
            #expect(check["round_trips"] as? Int == independent.roundTripReturns.count)
            #expect(check["candles"] as? Int == printed.count)
            #expect(check["passed"] as? Bool == (independent.roundTripReturns.count >= 1 && independent.maxDrawdown <= WideDecimal.parse("0.25")!))
            #expect(check["passed"] as? Bool == true)

            // Accepted, so it runs live under its id and an agent can follow it; on its own instrument only.
            #expect(services.signals.configs.contains { $0.name == id && $0.venue == "binance" && $0.symbol == "BTC-USDT" && $0.interval == "1m" })
            let (agentStatus, agent) = try await call(
                .post, "/api/v1/agents", token: alice, body: #"{"strategy":"\#(id)","venue":"binance","symbol":"BTC-USDT","quantity":"0.01"}"#)
            #expect(agentStatus == 201 && agent["strategy"] as? String == id, "\(agent)")
            let (elsewhere, elsewhereBody) = try await call(
                .post, "/api/v1/agents", token: alice, body: #"{"strategy":"\#(id)","venue":"okx","symbol":"BTC-USDT","quantity":"0.01"}"#)
            #expect(elsewhere == 400, "\(elsewhereBody)")
            // A live closed candle of the instrument reaches the strategy under its id.
            var signalled: [TradeSignal] = []
            for bar in printed {
                let candle = Candle(
                    instrument: Sample.btc, interval: .oneMinute, start: bar.time,
                    open: bar.close.narrowed()!, high: bar.close.narrowed()!, low: bar.close.narrowed()!, close: bar.close.narrowed()!,
                    volume: WideDecimal(1), quoteVolume: bar.close, trades: 1, takerBuyVolume: .zero, closed: true, revision: 0,
                    complete: true)
                signalled += services.signals.handle(.candle(candle)).filter { $0.strategy == id }
            }
            #expect(signalled.map(\.side) == independent.signals.map(\.side))

            // The same content under another name, from another user: a duplicate.
            let (dup, dupBody) = try await call(
                .post, "/api/v1/strategies", token: bob,
                body: #"{"name":"mine","kind":"breakout","parameters":{"lookback":"2"},"instruments":["binance:BTC-USDT"]}"#)
            #expect(dup == 409 && (dupBody["error"] as? [String: Any])?["code"] as? String == "duplicate_strategy")

            // Every problem named.
            let (bad, badBody) = try await call(
                .post, "/api/v1/strategies", token: bob,
                body: #"{"name":"x","kind":"ema_cross","parameters":{"fast":30,"slow":10},"instruments":["mars:BTC-USDT"]}"#)
            let error = try #require(badBody["error"] as? [String: Any])
            #expect(bad == 400 && error["code"] as? String == "invalid_strategy")
            let message = try #require(error["message"] as? String)
            #expect(message.contains("parameters.slow: must be greater than fast (30)"))
            #expect(message.contains("instruments[0]: \"mars:BTC-USDT\""))
            // A strategy that fails its check is stored and shown, but no agent may follow it.
            let (idleStatus, idle) = try await call(
                .post, "/api/v1/strategies", token: bob,
                body: #"{"name":"idle","kind":"ema_cross","parameters":{"fast":50,"slow":100},"instruments":["binance:BTC-USDT"]}"#)
            let idleID = try #require(idle["id"] as? String)
            #expect(idleStatus == 201 && (idle["check"] as? [String: Any])?["passed"] as? Bool == false)
            let (refused, refusedBody) = try await call(
                .post, "/api/v1/agents", token: bob, body: #"{"strategy":"\#(idleID)","venue":"binance","symbol":"BTC-USDT","quantity":"0.01"}"#)
            #expect(refused == 400)
            #expect(((refusedBody["error"] as? [String: Any])?["message"] as? String)?.contains("is not a registered strategy that passed its check") == true)
            #expect(!services.signals.configs.contains { $0.name == idleID })

            let (unknownField, _) = try await call(.post, "/api/v1/strategies", token: bob, body: #"{"name":"x","kind":"breakout","code":"rm -rf /"}"#)
            #expect(unknownField == 400)

            // bob derives from alice's strategy; an unknown parent is refused.
            let (derived, child) = try await call(
                .post, "/api/v1/strategies", token: bob,
                body: #"{"name":"break3","kind":"breakout","parameters":{"lookback":3},"instruments":["binance:BTC-USDT"],"parent":"\#(id)"}"#)
            #expect(derived == 201 && child["parent"] as? String == id && child["generation"] as? Int == 2)
            let (orphan, _) = try await call(
                .post, "/api/v1/strategies", token: bob,
                body: #"{"name":"break4","kind":"breakout","parameters":{"lookback":4},"instruments":["binance:BTC-USDT"],"parent":"stg_0000000000000000"}"#)
            #expect(orphan == 404)

            let (listed, list) = try await call(.get, "/api/v1/strategies", token: bob)
            #expect(listed == 200 && (list["strategies"] as? [[String: Any]])?.count == 3)
            let (missing, _) = try await call(.get, "/api/v1/strategies/stg_nope", token: bob)
            #expect(missing == 404)

            // The backtest endpoint over the capture's window.
            let from = printed.first!.time.rawValue / 1_000_000
            let to = printed.last!.time.rawValue / 1_000_000 + 1
            let (tested, report) = try await call(.get, "/api/v1/strategies/\(id)/backtest?from=\(from)&to=\(to)", token: bob)
            #expect(tested == 200, "\(report)")
            let run = try #require((report["runs"] as? [[String: Any]])?.first)
            #expect((run["trades"] as? [Any])?.count == independent.trades.count)
            #expect(run["final_equity"] as? String == independent.finalEquity.description)
            #expect((run["equity"] as? [Any])?.count == printed.count)
            let (badRange, _) = try await call(.get, "/api/v1/strategies/\(id)/backtest?from=\(to)&to=\(from)", token: bob)
            #expect(badRange == 400)
        }
    }

    @Test("gateway backtest reads a strategy file and a store", .timeLimit(.minutes(2)))
    func command() async throws {
        let fixture = try await StoredReplay.shared.value
        let dir = try makeTempDirectory("backtest-cli")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/s.json"
        try Data(#"{"name":"b","kind":"breakout","parameters":{"lookback":2},"instruments":["binance:BTC-USDT"]}"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        let printed = try Self.printedBars(fixture)
        let out = try await BacktestCommand.run(
            strategyFile: file, store: fixture.store, from: "2024-01-01T00:00:00Z", to: "2025-01-01T00:00:00Z", cash: "1000")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(out)) as? [String: Any])
        var options = BacktestOptions()
        options.initialCash = WideDecimal(1000)
        let independent = try Backtester(options: options).run(Breakout(lookback: 2), bars: printed)
        let run = try #require((doc["runs"] as? [[String: Any]])?.first)
        #expect(run["candles"] as? Int == printed.count)
        #expect(run["final_equity"] as? String == independent.finalEquity.description)
        #expect((run["trades"] as? [Any])?.count == independent.trades.count)
        await #expect(throws: BacktestCommandError.self) {
            _ = try await BacktestCommand.run(strategyFile: dir + "/none.json", store: fixture.store, from: "0", to: "1", cash: nil)
        }
        await #expect(throws: BacktestCommandError.self) {
            _ = try await BacktestCommand.run(strategyFile: file, store: fixture.store, from: "2025-01-01T00:00:00Z", to: "2024-01-01T00:00:00Z", cash: nil)
        }
    }
}
