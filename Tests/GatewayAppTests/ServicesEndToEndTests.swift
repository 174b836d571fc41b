import Bus
import FanOut
import Feeds
import Foundation
import Hummingbird
import Logging
import MarketCore
import Services
import Storage
import Synchronization
import Testing
@testable import GatewayApp
import _TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The services behind the real HTTP server and `/ws`, with a SQLite store: users, tokens,
/// isolation over REST and websocket, and a replayed market stream driving an agent.
@Suite("services end to end", .serialized)
struct ServicesEndToEndTests {
    static let admin = "admin-token-for-tests-0123456789"
    static let secret = String(repeating: "k", count: 48)

    struct Gateway: Sendable {
        let bus: MarketBus
        let services: ServiceSuite
        let store: SQLiteStore
        let port: Int

        func call(_ method: String, _ path: String, token: String?, body: String? = nil) async throws -> (Int, [String: Any]) {
            var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            r.httpMethod = method
            if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            if let body { r.httpBody = Data(body.utf8) }
            let (data, response) = try await URLSession.shared.data(for: r)
            let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            return ((response as! HTTPURLResponse).statusCode, json)
        }

        /// Creates a user with `cash` USDC; returns its token.
        func user(_ id: String, cash: String) async throws -> String {
            let (s, created) = try await call("POST", "/api/v1/users", token: ServicesEndToEndTests.admin, body: #"{"id":"\#(id)"}"#)
            #expect(s == 201)
            let (s2, _) = try await call("POST", "/api/v1/users/\(id)/deposit", token: ServicesEndToEndTests.admin, body: #"{"amount":"\#(cash)"}"#)
            #expect(s2 == 200)
            return try #require(created["token"] as? String)
        }
    }

    func withGateway(
        signals: [SignalConfig] = [], configure: (inout ServiceOptions) -> Void = { _ in }, _ body: (Gateway) async throws -> Void
    ) async throws {
        let dir = try makeTempDirectory("services-e2e")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var logger = Logger(label: "services-e2e")
        logger.logLevel = .warning
        let store = try await SQLiteStore(path: dir + "/g.sqlite", logger: logger)
        _ = try await store.migrate()
        let bus = MarketBus()
        let authority = try await TokenAuthority(secret: Self.secret, adminToken: Self.admin)
        var options = ServiceOptions()
        options.signals = signals
        configure(&options)
        let services = ServiceSuite(options: options, bus: bus, store: store, authority: authority, logger: logger)
        let hub = FanOutHub(
            bus: bus, venues: ["binance"], intervals: ["1m", "5m"],
            sessions: AccessControl.sessionCheck(authority: authority, userExists: { services.execution.account($0) != nil }), logger: logger)
        let router = Router()
        addServiceRoutes(to: router, services: services)
        addNotificationRoutes(to: router, services: services)
        let port = Mutex<Int?>(nil)
        let app = FanOutServer.makeApplication(
            hub: hub, router: router, host: "127.0.0.1", port: 0, logger: logger, onListening: { p in port.withLock { $0 = p } })
        let server = TestHTTPServer(app, logger: logger)
        let running = Task { await services.run() }
        var bound: Int?
        for _ in 0..<500 where bound == nil {
            bound = port.withLock { $0 }
            try await Task.sleep(for: .milliseconds(10))
        }
        do {
            try await body(Gateway(bus: bus, services: services, store: store, port: try #require(bound)))
        } catch {
            Issue.record("\(error)")
        }
        await hub.shutdown()
        await server.stopAndWait()
        running.cancel()
        _ = await running.value
        await store.close()
    }

    @Test func tokensOfOneUserNeverReachAnotherUsersData() async throws {
        try await withGateway { g in
            g.bus.publish(.bookSnapshot(BookSnapshot(
                instrument: Sample.btc, time: .seconds(1_800_000_000),
                bids: [BookLevel(price: FixedDecimal("100.00")!, quantity: FixedDecimal("50")!)],
                asks: [BookLevel(price: FixedDecimal("100.01")!, quantity: FixedDecimal("50")!)], valid: true)))
            let alice = try await g.user("alice", cash: "10000")
            let bob = try await g.user("bob", cash: "10000")
            try await eventuallyTrue("book reaches the services") { g.services.market.book(InstrumentKey(venue: "binance", symbol: "BTC-USDT")) != nil }

            let order = #"{"venue":"binance","symbol":"BTC-USDT","side":"buy","type":"market","quantity":"0.5"}"#
            let (s, placed) = try await g.call("POST", "/api/v1/trading/execute", token: bob, body: order)
            #expect(s == 200 && placed["status"] as? String == "filled" && placed["stored"] as? Bool == true)

            // alice sees none of bob's activity, however she asks.
            for path in ["/api/v1/trading/history", "/api/v1/trading/history?user=bob", "/api/v1/trading/portfolio?user=bob"] {
                let (code, body) = try await g.call("GET", path, token: alice)
                #expect(code == 200)
                #expect((body["fills"] as? [Any])?.isEmpty ?? true, "\(path): \(body)")
                #expect((body["positions"] as? [Any])?.isEmpty ?? true, "\(path): \(body)")
                #expect(body["user"] as? String == "alice")
            }
            let (_, bobHistory) = try await g.call("GET", "/api/v1/trading/history", token: bob)
            #expect((bobHistory["fills"] as? [[String: Any]])?.count == 1)
            let (_, mood) = try await g.call("GET", "/api/v1/mood/current", token: alice)
            #expect(mood["user"] as? String == "alice" && mood["state"] as? String == "learning")

            // Missing, forged, expired tokens; a user token on an admin endpoint.
            let forger = try await TokenAuthority(secret: String(repeating: "x", count: 48), adminToken: nil)
            let forged = try await forger.issue(user: "bob")
            let expired = try await g.services.authority!.issue(user: "bob", lifetime: .seconds(-60))
            for (token, message) in [(nil, "missing bearer token"), (forged, "signature"), (expired, "expired"), ("garbage", "malformed")] as [(String?, String)] {
                let (code, body) = try await g.call("GET", "/api/v1/trading/history", token: token)
                let error = body["error"] as? [String: Any]
                #expect(code == 401 && error?["code"] as? String == "unauthorized", "\(message): \(body)")
                #expect((error?["message"] as? String)?.contains(message) == true, "\(message): \(body)")
            }
            let (adminCode, _) = try await g.call("POST", "/api/v1/users", token: alice, body: #"{"id":"mallory"}"#)
            #expect(adminCode == 403)
            let (depositCode, _) = try await g.call("POST", "/api/v1/users/alice/deposit", token: bob, body: #"{"amount":"1"}"#)
            #expect(depositCode == 403)

            // Over the websocket: alice may not subscribe to bob's executions, and never gets one.
            let ws = try RawWebSocket(port: g.port)
            ws.send(#"{"op":"subscribe","id":1,"channels":["executions.alice"]}"#)
            #expect(ws.readJSON()?["code"] as? String == "unauthorized")
            // auth and subscribe pipelined: the subscribe waits for the (async) token check.
            ws.send(#"{"op":"auth","id":2,"token":"\#(alice)"}"#)
            ws.send(#"{"op":"subscribe","id":3,"channels":["executions.bob","mood.bob"]}"#)
            ws.send(#"{"op":"subscribe","id":4,"channels":["executions.alice"]}"#)
            #expect(ws.readJSON()?["user"] as? String == "alice")
            #expect(ws.readJSON()?["code"] as? String == "forbidden")
            #expect(ws.readJSON()?["type"] as? String == "ack")
            ws.send(#"{"op":"subscribe","id":5,"channels":["executions.*"]}"#)
            #expect(ws.readJSON()?["code"] as? String == "forbidden")
            _ = try await g.call("POST", "/api/v1/trading/execute", token: bob, body: order)
            _ = try await g.call("POST", "/api/v1/trading/execute", token: alice, body: order)
            let frame = try #require(ws.readJSON())
            #expect(frame["ch"] as? String == "executions.alice")
            #expect((frame["data"] as? [String: Any])?["user"] as? String == "alice")
            ws.send(#"{"op":"ping","id":6}"#)
            #expect(ws.readJSON()?["type"] as? String == "pong", "nothing of bob's arrived in between")
            ws.close()
        }
    }

    /// `GET /api/v1/agents/tree` after an agent with an allocation earned exactly its spawn
    /// threshold: buy 1 BTC at 954.02 (cost 954.97402 with the 0.1 % fee), sell at 1005.98
    /// (proceeds 1004.97402): earned 50 = 1 % of 5000; the child got 20 of it.
    @Test(.timeLimit(.minutes(2))) func theAgentTreeShowsBalancesEarningsChildrenAndThePortfolio() async throws {
        let signals = [
            SignalConfig(strategy: .rsi(period: 2, oversold: WideDecimal(30), overbought: WideDecimal(55)), venue: "binance", symbol: "BTC-USDT", interval: "1m")
        ]
        try await withGateway(signals: signals, configure: { o in
            o.agents.spawnEvery = WideDecimal(50)
            o.agents.spawnFunding = WideDecimal(20)
        }) { g in
            let key = InstrumentKey(venue: "binance", symbol: "BTC-USDT")
            func publishBook(_ bid: String, _ ask: String) async throws {
                g.bus.publish(.bookSnapshot(BookSnapshot(
                    instrument: Sample.btc, time: .seconds(1_800_000_000),
                    bids: [BookLevel(price: FixedDecimal(bid)!, quantity: FixedDecimal("10")!)],
                    asks: [BookLevel(price: FixedDecimal(ask)!, quantity: FixedDecimal("10")!)], valid: true)))
                try await eventuallyTrue("book \(bid)/\(ask) reaches the services") {
                    g.services.market.book(key)?.bids.first?.price == FixedDecimal(bid)!
                }
            }
            func signal(_ side: String, _ price: String) -> TradeSignal {
                TradeSignal(
                    strategy: "rsi", venue: "binance", symbol: "BTC-USDT", interval: "1m", side: side == "buy" ? .buy : .sell,
                    price: WideDecimal.parse(price)!, time: .seconds(1_800_000_000), values: [:], reason: "t")
            }
            let hal = try await g.user("hal", cash: "10000")
            let ivy = try await g.user("ivy", cash: "100")
            let (tooMuch, refused) = try await g.call(
                "POST", "/api/v1/agents", token: hal, body: #"{"strategy":"rsi","venue":"binance","symbol":"BTC-USDT","quantity":"1","allocation":"10000.01"}"#)
            #expect(tooMuch == 422, "\(refused)")
            let (code, created) = try await g.call(
                "POST", "/api/v1/agents", token: hal, body: #"{"strategy":"rsi","venue":"binance","symbol":"BTC-USDT","quantity":"1","allocation":"5000"}"#)
            #expect(code == 201, "\(created)")
            #expect(created["allocation"] as? String == "5000" && created["generation"] as? Int == 1)
            let parentID = try #require(created["id"] as? String)

            try await publishBook("954.00", "954.02")
            await g.services.agents.handle(signal("buy", "954.02"))
            let (_, holding) = try await g.call("GET", "/api/v1/agents/tree", token: hal)
            let open = ((holding["agents"] as? [[String: Any]])?.first?["open_trades"] as? [[String: Any]]) ?? []
            #expect(open.count == 1 && open.first?["qty"] as? String == "1" && open.first?["symbol"] as? String == "BTC-USDT", "\(holding)")
            try await publishBook("1005.98", "1006.00")
            await g.services.agents.handle(signal("sell", "1005.98"))

            let (s, tree) = try await g.call("GET", "/api/v1/agents/tree", token: hal)
            #expect(s == 200)
            #expect(tree["user"] as? String == "hal" && tree["asset"] as? String == "USDC")
            let roots = try #require(tree["agents"] as? [[String: Any]])
            #expect(roots.count == 1)
            let parent = try #require(roots.first)
            #expect(parent["id"] as? String == parentID && parent["generation"] as? Int == 1)
            #expect(parent["balance"] as? String == "5030" && parent["earned"] as? String == "50" && parent["earned_pct"] as? String == "1", "\(parent)")
            #expect((parent["open_trades"] as? [Any])?.isEmpty == true)
            let children = try #require(parent["children"] as? [[String: Any]])
            #expect(children.count == 1)
            #expect(children.first?["generation"] as? Int == 2 && children.first?["parent"] as? String == parentID)
            #expect(children.first?["balance"] as? String == "20" && children.first?["allocation"] as? String == "20")
            #expect(children.first?["earned"] as? String == "0" && children.first?["earned_pct"] as? String == "0")
            let portfolio = try #require(tree["portfolio"] as? [String: Any])
            // 5000 own + 5030 + 20 = 10050 = 10000 deposited + 50 earned.
            #expect(portfolio["unallocated"] as? String == "5000" && portfolio["cash"] as? String == "10050" && portfolio["value"] as? String == "10050")

            // Another user sees only their own (empty) tree.
            let (_, other) = try await g.call("GET", "/api/v1/agents/tree", token: ivy)
            #expect((other["agents"] as? [Any])?.isEmpty == true)
            #expect((other["portfolio"] as? [String: Any])?["cash"] as? String == "100")
            let (gone, _) = try await g.call("DELETE", "/api/v1/agents/\(parentID)", token: ivy)
            #expect(gone == 404)
            #expect(g.services.execution.books.reconcile().ok)
        }
    }

    @Test func aReplayedMarketDrivesAUsersAgentToExecutionsAndMoodOnItsChannelsAndInTheStore() async throws {
        // RSI(2) with 30/55 bands: the capture's 12 one-minute closes (a slow slide with two bounces) cross them.
        let signals = [
            SignalConfig(strategy: .rsi(period: 2, oversold: WideDecimal(30), overbought: WideDecimal(55)), venue: "binance", symbol: "BTC-USDT", interval: "1m")
        ]
        try await withGateway(signals: signals) { g in
            let token = try await g.user("ann", cash: "100000")
            let (code, agent) = try await g.call(
                "POST", "/api/v1/agents", token: token, body: #"{"strategy":"rsi","venue":"binance","symbol":"BTC-USDT","quote_amount":"1000"}"#)
            #expect(code == 201, "\(agent)")
            let ws = try RawWebSocket(port: g.port)
            ws.send(#"{"op":"auth","id":1,"token":"\#(token)"}"#)
            ws.send(#"{"op":"subscribe","id":2,"channels":["executions.ann","mood.ann","signals.rsi.BTC-USDT"]}"#)
            #expect(ws.readJSON()?["type"] as? String == "ack")
            #expect(ws.readJSON()?["type"] as? String == "ack")

            let events = try ReplayedEvents(paths: [Fixtures.path("binance/spot-btcusdt-2024-08-08.jsonl.gz")], emit: [.trades, .candles, .books, .status])
            // The signals an independent Wilder RSI(2) of the replay's closed 1m candles gives (Double is
            // enough: no value lands near a band).
            var closes: [Double] = []
            var seen = Set<Int64>()
            for case .candle(let c) in events.events where c.closed && c.interval.name == "1m" && seen.insert(c.start.rawValue).inserted {
                closes.append(Double(c.close.description)!)
            }
            var expectedCrosses = 0
            var gain = 0.0
            var loss = 0.0
            var previous = -1.0
            for i in 1..<closes.count {
                let change = closes[i] - closes[i - 1]
                if i <= 2 {
                    gain += max(change, 0) / 2
                    loss += max(-change, 0) / 2
                    if i < 2 { continue }
                } else {
                    gain = (gain + max(change, 0)) / 2
                    loss = (loss + max(-change, 0)) / 2
                }
                let rsi = loss == 0 ? 100 : 100 * gain / (gain + loss)
                let intoOversold = previous >= 30 && rsi < 30
                let intoOverbought = previous >= 0 && previous <= 55 && rsi > 55
                if intoOversold || intoOverbought { expectedCrosses += 1 }
                previous = rsi
            }
            try #require(expectedCrosses >= 2, "the capture should cross the RSI bands at least twice")
            for e in events.events {
                g.bus.publish(e)
                // Let the consumers keep pace with the bus, as a live feed would.
                if case .candle = e { try await Task.sleep(for: .milliseconds(20)) }
            }
            var kinds: [String: Int] = [:]
            var executions: [(user: String, fillID: String, source: String)] = []
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline, kinds["signal", default: 0] < expectedCrosses || executions.isEmpty || kinds["mood_update"] == nil {
                // Blocking reads off the cooperative pool, as raw frames (Sendable).
                guard let raw = await onThread({ ws.readFrame(timeout: 2) }),
                    let f = (try? JSONSerialization.jsonObject(with: Data(raw.payload))) as? [String: Any], let type = f["type"] as? String
                else { continue }
                kinds[type, default: 0] += 1
                if type == "execution", let d = f["data"] as? [String: Any] {
                    executions.append((d["user"] as? String ?? "", d["fill_id"] as? String ?? "", d["source"] as? String ?? ""))
                }
            }
            #expect(kinds["signal"] == expectedCrosses, "\(kinds)")
            #expect(!executions.isEmpty, "\(kinds)")
            #expect(kinds["mood_update", default: 0] >= 1, "\(kinds)")
            #expect(executions.allSatisfy { $0.user == "ann" && $0.source.hasPrefix("agent-") })
            // The same executions are in the database, and the mood history too.
            let executed = executions.count
            try await eventuallyTrue("fills stored") {
                (try? await g.store.paperFills(userID: "ann", since: nil, limit: 100).count) ?? 0 >= executed
            }
            let stored = try await g.store.paperFills(userID: "ann", since: nil, limit: 100)
            #expect(Set(stored.map(\.fillID)).isSuperset(of: executions.map(\.fillID)))
            try await eventuallyTrue("mood stored") { (try? await g.store.moodHistory(userID: "ann", limit: 10).isEmpty) == false }
            let (_, portfolio) = try await g.call("GET", "/api/v1/trading/portfolio", token: token)
            #expect(portfolio["user"] as? String == "ann")
            ws.close()
        }
    }
}

func eventuallyTrue(_ what: String, seconds: Double = 20, _ condition: @Sendable () async -> Bool) async throws {
    guard await waitUntil(seconds: seconds, condition) else {
        Issue.record("timed out waiting for \(what)")
        throw CancellationError()
    }
}
