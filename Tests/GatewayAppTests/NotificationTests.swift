import Bus
import Foundation
import Hummingbird
import Logging
import MarketCore
import NIOCore
import Services
@testable import Storage
import Synchronization
import Testing
@testable import GatewayApp
import _TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A stand-in for api.telegram.org on 127.0.0.1: records every `sendMessage` and answers from a
/// script (then 200 `{"ok":true}`, or `fallback`).
final class FakeTelegram: Sendable {
    struct Request: Sendable {
        let path: String
        let body: String
        let at: ContinuousClock.Instant
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
        var text: String? { json["text"] as? String }
    }

    final class Locked<T: Sendable>: Sendable {
        let m: Mutex<T>
        init(_ v: T) { m = Mutex(v) }
        func get() -> T { m.withLock { $0 } }
        func update(_ f: (inout T) -> Void) { m.withLock { f(&$0) } }
    }

    private let recorded: Locked<[Request]>
    private let portBox: Locked<Int?>
    private let server: TestHTTPServer

    var requests: [Request] { recorded.get() }
    var port: Int { portBox.get() ?? 0 }
    var base: String { "http://127.0.0.1:\(port)" }

    init(script: [(Int, String)] = [], fallback: (Int, String) = (200, #"{"ok":true,"result":{"message_id":1}}"#)) async throws {
        let scripted = Scripted(script: script, fallback: fallback)
        let recorded = Locked<[Request]>([])
        self.recorded = recorded
        let router = Router()
        router.post("/{bot}/sendMessage") { req, _ -> Response in
            var req = req
            let body = try await req.collectBody(upTo: 1 << 20)
            recorded.update {
                $0.append(Request(path: req.uri.path, body: String(decoding: body.readableBytesView, as: UTF8.self), at: .now))
            }
            let (status, text) = scripted.next()
            return Response(
                status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        var logger = Logger(label: "fake-telegram")
        logger.logLevel = .critical
        let box = Locked<Int?>(nil)
        portBox = box
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in box.update { $0 = channel.localAddress?.port } }, logger: logger)
        server = TestHTTPServer(app, logger: logger)
        _ = await waitUntil(seconds: 10) { box.get() != nil }
    }

    func stop() { server.stop() }

    final class Scripted: Sendable {
        let state: Mutex<[(Int, String)]>
        let fallback: (Int, String)
        init(script: [(Int, String)], fallback: (Int, String)) {
            state = Mutex(script)
            self.fallback = fallback
        }
        func next() -> (Int, String) { state.withLock { $0.isEmpty ? fallback : $0.removeFirst() } }
    }
}

final class ClockBox: Sendable {
    let now: Mutex<UnixNanos>
    init(_ t: UnixNanos) { now = Mutex(t) }
    func set(_ t: UnixNanos) { now.withLock { $0 = t } }
    func get() -> UnixNanos { now.withLock { $0 } }
}

/// Notifications end to end: the services with a SQLite (or PostgreSQL) store, a real HTTP client,
/// and ``FakeTelegram`` playing the Bot API (docs/notifications.md).
@Suite("notifications", .serialized)
struct NotificationTests {
    static let token = "123456:TEST-bot-token"
    static let btc = InstrumentKey(venue: "binance", symbol: "BTC-USDT")
    static let quiet: Logger = {
        var l = Logger(label: "notification-tests")
        l.logLevel = .critical
        return l
    }()

    struct Rig: Sendable {
        let bus: MarketBus
        let services: ServiceSuite
        let clock: ClockBox?
    }

    /// The services on `store` with notifications to `telegram`, running for the body.
    static func withRig(
        store: (any MarketStore & AccountStore)?, telegram: FakeTelegram, clock: UnixNanos? = nil,
        configure: (inout ServiceOptions) -> Void = { _ in }, _ body: (Rig) async throws -> Void
    ) async throws {
        var options = ServiceOptions()
        options.execution.feeRate = .zero
        options.notifications.botToken = token
        options.notifications.apiBase = telegram.base
        options.notifications.initialBackoff = .milliseconds(20)
        options.notifications.maxBackoff = .milliseconds(200)
        options.notifications.summaryCheckEvery = .milliseconds(20)
        configure(&options)
        let box = clock.map(ClockBox.init)
        var now: (@Sendable () -> UnixNanos)?
        if let box { now = { box.get() } }
        let bus = MarketBus()
        let services = ServiceSuite(options: options, bus: bus, store: store, authority: nil, logger: quiet, clock: now)
        try await services.load()
        let running = Task { await services.run() }
        try await eventuallyTrue("notifications listen to the bus") { services.notifications.isListening }
        do {
            try await body(Rig(bus: bus, services: services, clock: box))
        } catch {
            Issue.record("\(error)")
        }
        running.cancel()
        _ = await running.value
    }

    /// A book of 100.00 / 100.01 (50 each) at `time`, once the services have it.
    static func book(_ rig: Rig, at time: UnixNanos) async throws {
        rig.bus.publish(
            .bookSnapshot(
                BookSnapshot(
                    instrument: Sample.btc, time: time, bids: [BookLevel(price: FixedDecimal("100.00")!, quantity: FixedDecimal("50")!)],
                    asks: [BookLevel(price: FixedDecimal("100.01")!, quantity: FixedDecimal("50")!)], valid: true)))
        try await eventuallyTrue("book reaches the services") { rig.services.market.book(btc)?.time == time }
    }

    static func user(_ rig: Rig, _ id: String, cash: String = "10000") async throws {
        _ = try await rig.services.execution.createUser(id: id, name: id)
        _ = try await rig.services.execution.deposit(user: id, asset: "USDC", amount: WideDecimal.parse(cash)!)
    }

    static func market(_ rig: Rig, _ user: String, _ side: Side, _ qty: String) async throws {
        let outcome = await rig.services.execution.execute(
            user: user, request: OrderRequest(venue: "binance", symbol: "BTC-USDT", side: side, type: .market, quantity: WideDecimal.parse(qty)!))
        guard case .accepted(_, let fills, _, _, _) = outcome, !fills.isEmpty else {
            throw TestServerError("order not filled: \(outcome)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func anExecutionSendsExactlyOneMessageToTheUsersChat() async throws {
        let telegram = try await FakeTelegram()
        defer { telegram.stop() }
        try await Self.withRig(store: nil, telegram: telegram) { rig in
            try await Self.book(rig, at: .now())
            try await Self.user(rig, "ann")
            try await rig.services.notifications.setSettings(user: "ann", NotificationSettings(chatID: "4242", kinds: [.executions]))
            try await Self.market(rig, "ann", .buy, "0.5")
            try await eventuallyTrue("one sendMessage") { telegram.requests.count >= 1 }
            // Nothing more arrives for it.
            try await Task.sleep(for: .milliseconds(300))
            let requests = telegram.requests
            #expect(requests.count == 1)
            let r = try #require(requests.first)
            #expect(r.path == "/bot\(Self.token)/sendMessage")
            // The chat id goes as a JSON integer; the text names side, quantity, symbol, price (one level at the ask).
            #expect((r.json["chat_id"] as? NSNumber)?.int64Value == 4242 && !(r.json["chat_id"] is String))
            #expect(r.text == "Execution: BUY 0.5 BTC-USDT @ 100.01 on binance")
            #expect(r.json["parse_mode"] == nil)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func optedOutKindsAndUsersSendNothing() async throws {
        let telegram = try await FakeTelegram()
        defer { telegram.stop() }
        try await Self.withRig(store: nil, telegram: telegram) { rig in
            try await Self.book(rig, at: .now())
            try await Self.user(rig, "ann")
            try await Self.user(rig, "bea")
            try await Self.user(rig, "cid")
            // ann wants mood and summaries only; cid set nothing; bea wants executions.
            try await rig.services.notifications.setSettings(user: "ann", NotificationSettings(chatID: "1", kinds: [.mood, .dailySummary]))
            try await rig.services.notifications.setSettings(user: "bea", NotificationSettings(chatID: "2", kinds: [.executions]))
            try await Self.market(rig, "ann", .buy, "0.2")
            try await Self.market(rig, "cid", .buy, "0.2")
            #expect(rig.services.notifications.notify(user: "ann", kind: .breaker, text: "breaker") == .notOptedIn)
            #expect(rig.services.notifications.notify(user: "cid", kind: .breaker, text: "breaker") == .notOptedIn)
            try await Self.market(rig, "bea", .buy, "0.3")
            // One worker delivers in order: bea's message arriving alone means ann's and cid's were never queued.
            try await eventuallyTrue("bea's message") { telegram.requests.count >= 1 }
            try await Task.sleep(for: .milliseconds(300))
            #expect(telegram.requests.map(\.text) == ["Execution: BUY 0.3 BTC-USDT @ 100.01 on binance"])
            #expect((telegram.requests.first?.json["chat_id"] as? NSNumber)?.int64Value == 2)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func serverErrorsAreRetriedAndTheMessageDeliveredOnce() async throws {
        let error = #"{"ok":false,"error_code":500,"description":"Internal Server Error"}"#
        let telegram = try await FakeTelegram(script: [(500, error), (502, "bad gateway"), (500, error)])
        defer { telegram.stop() }
        let dir = try makeTempDirectory("notify-retry")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteStore(path: dir + "/n.sqlite", logger: Self.quiet)
        _ = try await store.migrate()
        try await Self.withRig(store: store, telegram: telegram) { rig in
            try await rig.services.notifications.setSettings(user: "ann", NotificationSettings(chatID: "@ann_channel", kinds: [.breaker]))
            #expect(rig.services.notifications.notify(user: "ann", kind: .breaker, text: "Circuit breaker: trading paused") == .queued)
            try await eventuallyTrue("delivered after three failures") { telegram.requests.count >= 4 }
            try await Task.sleep(for: .milliseconds(300))
            let requests = telegram.requests
            #expect(requests.count == 4, "three failed attempts, one success, nothing after")
            #expect(requests.allSatisfy { $0.text == "Circuit breaker: trading paused" && $0.json["chat_id"] as? String == "@ann_channel" })
            try await eventuallyTrue("outbox row sent") {
                (try? await store.execute("SELECT status, attempts FROM notification_outbox")) == [["sent", "4"]]
            }
            #expect(rig.services.notifications.queueDepth == 0)
        }
        await store.close()
    }

    @Test(.timeLimit(.minutes(1)))
    func aRefusedMessageIsNotRetriedAndIsKeptAsFailed() async throws {
        let telegram = try await FakeTelegram(script: [(400, #"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#)])
        defer { telegram.stop() }
        let dir = try makeTempDirectory("notify-refused")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteStore(path: dir + "/n.sqlite", logger: Self.quiet)
        _ = try await store.migrate()
        try await Self.withRig(store: store, telegram: telegram) { rig in
            try await rig.services.notifications.setSettings(user: "ann", NotificationSettings(chatID: "99", kinds: [.breaker]))
            rig.services.notifications.notify(user: "ann", kind: .breaker, text: "one")
            rig.services.notifications.notify(user: "ann", kind: .breaker, text: "two")
            try await eventuallyTrue("both rows final") {
                (try? await store.execute("SELECT text, status, attempts FROM notification_outbox ORDER BY created_ns, id"))
                    == [["one", "failed", "1"], ["two", "sent", "1"]]
            }
            #expect(telegram.requests.map(\.text) == ["one", "two"])
            let error = try await store.execute("SELECT last_error FROM notification_outbox WHERE text = 'one'")
            #expect(error.first?.first??.contains("chat not found") == true, "\(error)")
        }
        await store.close()
    }

    @Test(.timeLimit(.minutes(1)))
    func a429sRetryAfterIsHonoured() async throws {
        let telegram = try await FakeTelegram(script: [
            (429, #"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 2","parameters":{"retry_after":2}}"#)
        ])
        defer { telegram.stop() }
        try await Self.withRig(store: nil, telegram: telegram) { rig in
            try await rig.services.notifications.setSettings(user: "ann", NotificationSettings(chatID: "7", kinds: [.breaker]))
            rig.services.notifications.notify(user: "ann", kind: .breaker, text: "slow down")
            try await eventuallyTrue("delivered after the 429") { telegram.requests.count >= 2 }
            let r = telegram.requests
            #expect(r.count == 2 && r.allSatisfy { $0.text == "slow down" })
            // The backoff alone would retry within 200 ms; retry_after says 2 s.
            let gap = r[1].at - r[0].at
            #expect(gap >= .seconds(2) && gap < .seconds(5), "\(gap)")
        }
    }

    @Test(.timeLimit(.minutes(2)), arguments: ["sqlite", "postgres"])
    func pendingNotificationsSurviveARestart(_ backend: String) async throws {
        if backend == "postgres" {
            try await ScratchDatabase.with { config in
                try await Self.restart(open: {
                    let s = PostgresStore(configuration: config, logger: Self.quiet)
                    _ = try await s.migrate()
                    return s
                }, count: { s in
                    try await sqlValue("SELECT count(*)::text FROM notification_outbox WHERE status = '\(s)'", on: config) ?? "?"
                })
            }
        } else {
            let dir = try makeTempDirectory("notify-restart")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let open: @Sendable () async throws -> SQLiteStore = {
                let s = try await SQLiteStore(path: dir + "/n.sqlite", logger: Self.quiet)
                _ = try await s.migrate()
                return s
            }
            try await Self.restart(open: open, count: { s in
                let store = try await open()
                defer { Task { await store.close() } }
                let rows = try await store.execute("SELECT count(*) FROM notification_outbox WHERE status = '\(s)'")
                return (rows.first?.first).flatMap { $0 } ?? "?"
            })
        }
    }

    /// Three notifications queued while the endpoint is down, the process stopped, started again
    /// with the endpoint up: each is delivered once, in order.
    static func restart(
        open: @escaping @Sendable () async throws -> any MarketStore & AccountStore, count: @escaping @Sendable (String) async throws -> String
    ) async throws {
        let down = try await FakeTelegram(fallback: (503, #"{"ok":false,"error_code":503,"description":"down"}"#))
        let first = try await open()
        try await withRig(store: first, telegram: down, configure: { $0.notifications.maxAttempts = 1000 }) { rig in
            try await rig.services.notifications.setSettings(user: "ann", NotificationSettings(chatID: "31", kinds: [.breaker]))
            for t in ["first", "second", "third"] { #expect(rig.services.notifications.notify(user: "ann", kind: .breaker, text: t) == .queued) }
            try await eventuallyTrue("stored as pending") { (try? await count("pending")) == "3" }
            try await eventuallyTrue("the endpoint tried") { down.requests.count >= 2 }
        }
        await first.close()
        down.stop()
        #expect(try await count("pending") == "3")

        let up = try await FakeTelegram()
        defer { up.stop() }
        let second = try await open()
        try await withRig(store: second, telegram: up) { rig in
            // The settings came back too.
            #expect(rig.services.notifications.settings(user: "ann") == NotificationSettings(chatID: "31", kinds: [.breaker]))
            try await eventuallyTrue("delivered after the restart") { up.requests.count >= 3 }
            try await Task.sleep(for: .milliseconds(300))
            #expect(up.requests.map(\.text) == ["first", "second", "third"])
            #expect(up.requests.allSatisfy { ($0.json["chat_id"] as? NSNumber)?.int64Value == 31 })
            try await eventuallyTrue("all sent") { (try? await count("sent")) == "3" }
        }
        await second.close()
    }

    @Test(.timeLimit(.minutes(1)))
    func theDailySummaryGoesOutAtTheUTCBoundaryWithTheDaysFigures() async throws {
        let telegram = try await FakeTelegram()
        defer { telegram.stop() }
        // 2026-03-10T00:00:00Z.
        let day: Int64 = 1_773_100_800_000_000_000
        let hour: Int64 = 3_600_000_000_000
        try await Self.withRig(store: nil, telegram: telegram, clock: UnixNanos(day - hour)) { rig in
            let clock = try #require(rig.clock)
            try await Self.user(rig, "ann")
            try await rig.services.notifications.setSettings(user: "ann", NotificationSettings(chatID: "5", kinds: [.dailySummary]))
            // 2026-03-09 23:00: buy 0.1 at 100.01.
            try await Self.book(rig, at: UnixNanos(day - hour))
            try await Self.market(rig, "ann", .buy, "0.1")
            try await Task.sleep(for: .milliseconds(100))
            #expect(telegram.requests.isEmpty, "no summary before midnight")
            // Midnight passes: the summary of 2026-03-09.
            clock.set(UnixNanos(day + 1_000_000))
            try await eventuallyTrue("summary of 03-09") { telegram.requests.count >= 1 }
            // 2026-03-10 12:00: buy 1 at 100.01, sell 0.4 at 100.00 (no fees).
            clock.set(UnixNanos(day + 12 * hour))
            try await Self.book(rig, at: UnixNanos(day + 12 * hour))
            try await Self.market(rig, "ann", .buy, "1")
            try await Self.market(rig, "ann", .sell, "0.4")
            clock.set(UnixNanos(day + 24 * hour - 1))
            try await Task.sleep(for: .milliseconds(100))
            #expect(telegram.requests.count == 1, "nothing before the next midnight")
            clock.set(UnixNanos(day + 24 * hour))
            try await eventuallyTrue("summary of 03-10") { telegram.requests.count >= 2 }
            try await Task.sleep(for: .milliseconds(200))
            // By hand: 03-09: one fill, no realized P&L; USDC 10000 − 0.1 × 100.01 = 9989.999, position 0.1.
            // 03-10: two fills; cost basis 100.01 a coin, so selling 0.4 at 100.00 realizes 0.4 × (100.00 − 100.01) = −0.004;
            // USDC 9989.999 − 100.01 + 40 = 9929.989, position 0.1 + 1 − 0.4 = 0.7.
            #expect(
                telegram.requests.map(\.text) == [
                    "Daily summary 2026-03-09 (UTC)\nFills: 1\nRealized P&L: 0 USDC\nBalances: USDC 9989.999\nPositions: BTC-USDT 0.1 on binance",
                    "Daily summary 2026-03-10 (UTC)\nFills: 2\nRealized P&L: -0.004 USDC\nBalances: USDC 9929.989\nPositions: BTC-USDT 0.7 on binance",
                ])
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aMoodStateChangeIsSentButNotTheFirstReadingOrAScoreChange() async throws {
        let telegram = try await FakeTelegram()
        defer { telegram.stop() }
        try await Self.withRig(store: nil, telegram: telegram) { rig in
            try await rig.services.notifications.setSettings(user: "ann", NotificationSettings(chatID: "8", kinds: [.mood]))
            // Typed mood updates, as the mood meter publishes them (the service reads the value, not JSON).
            func mood(_ state: MoodState, _ score: String) {
                let zero = WideDecimal.parse("0.00")!
                let reading = MoodReading(
                    score: WideDecimal.parse(score)!, state: state, factors: MoodFactors(pnl: zero, winRate: zero, overtrading: zero, market: zero),
                    reason: "why \(state)")
                rig.bus.publish(.mood(MoodUpdate(user: "ann", time: UnixNanos(0), reading: reading)), channel: ChannelName(kind: .mood, scope: "ann"))
            }
            mood(.confident, "80.00")
            mood(.confident, "72.00")
            mood(.conservative, "31.50")
            try await eventuallyTrue("one mood message") { telegram.requests.count >= 1 }
            try await Task.sleep(for: .milliseconds(300))
            #expect(telegram.requests.map(\.text) == ["Mood: confident → conservative (score 31.5)\nwhy conservative"])
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aFullQueueDropsAndCountsNewNotifications() async throws {
        // An endpoint that never answers 2xx: the first notification stays in flight.
        let telegram = try await FakeTelegram(fallback: (503, "{}"))
        defer { telegram.stop() }
        try await Self.withRig(store: nil, telegram: telegram, configure: {
            $0.notifications.queueCapacity = 3
            $0.notifications.maxAttempts = 1000
        }) { rig in
            let n = rig.services.notifications
            try await n.setSettings(user: "ann", NotificationSettings(chatID: "9", kinds: [.breaker]))
            let outcomes = (1...5).map { n.notify(user: "ann", kind: .breaker, text: "n\($0)") }
            #expect(outcomes == [.queued, .queued, .queued, .dropped, .dropped])
            #expect(n.droppedCount == 2 && n.queueDepth == 3)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func withoutABotTokenNothingIsSent() async throws {
        let telegram = try await FakeTelegram()
        defer { telegram.stop() }
        var options = ServiceOptions()
        options.notifications.apiBase = telegram.base
        let services = ServiceSuite(options: options, bus: MarketBus(), store: nil, authority: nil, logger: Self.quiet)
        try await services.notifications.setSettings(user: "ann", NotificationSettings(chatID: "1", kinds: [.breaker]))
        #expect(!services.notifications.isEnabled)
        #expect(services.notifications.notify(user: "ann", kind: .breaker, text: "x") == .disabled)
        #expect(telegram.requests.isEmpty)
    }
}

/// `GET/PUT /api/v1/notifications/settings` over real HTTP: the token's user only, clear 400s,
/// and `enabled: false` with a note when no bot token is configured.
@Suite("notification settings endpoints", .serialized)
struct NotificationSettingsRoutesTests {
    @Test(.timeLimit(.minutes(1)))
    func settingsAreTheTokenUsersAndBadInputIsRefusedByName() async throws {
        let telegram = try await FakeTelegram()
        defer { telegram.stop() }
        try await ServicesEndToEndTests().withGateway(configure: {
            $0.notifications.botToken = NotificationTests.token
            $0.notifications.apiBase = telegram.base
        }) { g in
            let ann = try await g.user("ann", cash: "100")
            let bob = try await g.user("bob", cash: "100")
            let path = "/api/v1/notifications/settings"
            let (c0, empty) = try await g.call("GET", path, token: ann)
            #expect(c0 == 200 && empty["user"] as? String == "ann" && empty["enabled"] as? Bool == true && empty["chat_id"] is NSNull)
            #expect(empty["kinds"] as? [String] == [] && empty["available_kinds"] as? [String] == ["breaker", "daily_summary", "executions", "mood"])
            #expect(empty["note"] == nil)

            let (c1, set) = try await g.call("PUT", path, token: ann, body: #"{"chat_id":123456789,"kinds":["mood","executions","mood"]}"#)
            #expect(c1 == 200 && set["chat_id"] as? String == "123456789" && set["kinds"] as? [String] == ["executions", "mood"], "\(set)")
            #expect(g.services.notifications.settings(user: "ann") == NotificationSettings(chatID: "123456789", kinds: [.executions, .mood]))
            // bob's view is bob's.
            let (_, bobs) = try await g.call("GET", path, token: bob)
            #expect(bobs["user"] as? String == "bob" && bobs["chat_id"] is NSNull)
            // Stored: the row is in the database.
            #expect(try await g.store.execute("SELECT user_id, chat_id, kinds FROM notification_settings") == [["ann", "123456789", "executions,mood"]])

            for (body, words) in [
                (#"{"kinds":["mood"]}"#, "chat_id is required"),
                (#"{"chat_id":"12ab","kinds":["mood"]}"#, "chat_id must be"),
                (#"{"chat_id":true,"kinds":["mood"]}"#, "chat_id must be a string or an integer"),
                (#"{"chat_id":"5"}"#, "kinds is required"),
                (#"{"chat_id":"5","kinds":"mood"}"#, "kinds must be an array"),
                (#"{"chat_id":"5","kinds":["weather"]}"#, "unknown kind 'weather'"),
                (#"{"chat_id":"5","kinds":[1]}"#, "kinds must hold strings"),
                (#"{"chat_id":null,"kinds":["mood"]}"#, "kinds need a chat_id"),
                (#"{"chat_id":"5","kinds":[],"user":"bob"}"#, "unknown field 'user'"),
                (#"[1]"#, "one JSON object"),
            ] {
                let (code, answer) = try await g.call("PUT", path, token: ann, body: body)
                let error = answer["error"] as? [String: Any]
                #expect(code == 400 && (error?["message"] as? String)?.contains(words) == true, "\(body): \(code) \(answer)")
            }
            // Unchanged by the refused ones.
            #expect(g.services.notifications.settings(user: "ann")?.chatID == "123456789")
            let (noToken, _) = try await g.call("GET", path, token: nil)
            #expect(noToken == 401)

            // Off again.
            let (c2, off) = try await g.call("PUT", path, token: ann, body: #"{"chat_id":null,"kinds":[]}"#)
            #expect(c2 == 200 && off["chat_id"] is NSNull && off["kinds"] as? [String] == [])
            #expect(g.services.notifications.settings(user: "ann") == nil)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func withoutABotTokenTheAnswerSaysSoAndSettingsAreKept() async throws {
        try await ServicesEndToEndTests().withGateway { g in
            let ann = try await g.user("ann", cash: "100")
            let (code, answer) = try await g.call("PUT", "/api/v1/notifications/settings", token: ann, body: #"{"chat_id":"@ann_alerts","kinds":["breaker"]}"#)
            #expect(code == 200 && answer["enabled"] as? Bool == false && answer["chat_id"] as? String == "@ann_alerts")
            #expect((answer["note"] as? String)?.contains("no bot token is configured (services.telegram_bot_token)") == true, "\(answer)")
        }
    }
}

extension NotificationSettingsRoutesTests {
    /// Ops list the outbox's failed notifications and queue one again; user tokens may not.
    @Test(.timeLimit(.minutes(1)))
    func opsListFailedNotificationsAndRetryOne() async throws {
        let telegram = try await FakeTelegram(script: [(400, #"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#)])
        defer { telegram.stop() }
        try await ServicesEndToEndTests().withGateway(configure: {
            $0.notifications.botToken = NotificationTests.token
            $0.notifications.apiBase = telegram.base
        }) { g in
            let admin = ServicesEndToEndTests.admin
            let ann = try await g.user("ann", cash: "100")
            let (c0, _) = try await g.call("PUT", "/api/v1/notifications/settings", token: ann, body: #"{"chat_id":"77","kinds":["breaker"]}"#)
            #expect(c0 == 200)
            g.services.notifications.notify(user: "ann", kind: .breaker, text: "breaker tripped")
            try await eventuallyTrue("the refused message is listed as failed") {
                ((try? await g.call("GET", "/api/v1/notifications/failed", token: admin))?.1["notifications"] as? [Any])?.count == 1
            }
            let failed = try await g.call("GET", "/api/v1/notifications/failed", token: admin).1["notifications"] as? [[String: Any]] ?? []
            let row = try #require(failed.first)
            #expect(row["user"] as? String == "ann" && row["chat_id"] as? String == "77" && row["kind"] as? String == "breaker")
            #expect(row["status"] as? String == "failed" && row["attempts"] as? Int == 1 && row["text"] as? String == "breaker tripped")
            #expect((row["last_error"] as? String)?.contains("chat not found") == true, "\(row)")
            let id = try #require(row["id"] as? String)
            let (userList, _) = try await g.call("GET", "/api/v1/notifications/failed", token: ann)
            #expect(userList == 403)
            let (userRetry, _) = try await g.call("POST", "/api/v1/notifications/failed/\(id)/retry", token: ann)
            #expect(userRetry == 403)
            let (none, e) = try await g.call("POST", "/api/v1/notifications/failed/n-none/retry", token: admin)
            #expect(none == 404 && (e["error"] as? [String: Any])?["code"] as? String == "no_failed_notification")

            // The server answers 200 now: the retry delivers it and the outbox row becomes sent.
            let (c1, queued) = try await g.call("POST", "/api/v1/notifications/failed/\(id)/retry", token: admin)
            #expect(c1 == 202 && queued["status"] as? String == "pending" && queued["attempts"] as? Int == 0, "\(queued)")
            try await eventuallyTrue("delivered and stored as sent") {
                (try? await g.store.execute("SELECT status, attempts FROM notification_outbox WHERE id = '\(id)'")) == [["sent", "1"]]
            }
            #expect(telegram.requests.map(\.text) == ["breaker tripped", "breaker tripped"])
            let (_, after) = try await g.call("GET", "/api/v1/notifications/failed", token: admin)
            #expect((after["notifications"] as? [Any])?.isEmpty == true)
            let (again, _) = try await g.call("POST", "/api/v1/notifications/failed/\(id)/retry", token: admin)
            #expect(again == 404)
        }
    }
}

/// `services.telegram_*` reach the notification options `gateway serve` (and the demo) run with.
@Suite("notification configuration")
struct NotificationConfigurationTests {
    @Test func theBotTokenAndURLReachTheServicesAndBadOnesAreNamed() throws {
        let yaml = "services:\n  telegram_bot_token: \"42:abc-DEF\"\n  telegram_api_url: http://127.0.0.1:9/tg/\n"
        let c = try GatewayConfiguration.parse(yaml: yaml, environment: [:])
        let o = ServeRun(configuration: c).serviceOptions().notifications
        #expect(o.botToken == "42:abc-DEF" && o.apiBase == "http://127.0.0.1:9/tg" && o.isEnabled)
        #expect(!ServeRun(configuration: GatewayConfiguration()).serviceOptions().notifications.isEnabled)
        #expect(!String(reflecting: c.services).contains("abc-DEF"))
        for (bad, words) in [("telegram_bot_token: \"no colon\"", "telegram_bot_token"), ("telegram_api_url: ftp://x", "telegram_api_url")] {
            #expect {
                try GatewayConfiguration.parse(yaml: "services:\n  \(bad)\n", environment: [:])
            } throws: { "\($0)".contains(words) }
        }
    }
}
