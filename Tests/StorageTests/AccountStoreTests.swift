import Foundation
import MarketCore
import Storage
import Testing
import _TestSupport

/// The stores under test: SQLite always, PostgreSQL when the test server is configured
/// (`bash scripts/test.sh`; otherwise `TestPostgres.isConfigured` prints why it is skipped).
enum AccountBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    static var available: [AccountBackend] { TestPostgres.isConfigured ? [.sqlite, .postgres] : [.sqlite] }

    /// A migrated store on a fresh SQLite file or a fresh PostgreSQL database, removed afterwards.
    func withStore(_ body: @Sendable (any AccountStore) async throws -> Void) async throws {
        switch self {
        case .sqlite:
            try await withTemporarySQLiteStore { store, _ in try await body(store) }
        case .postgres:
            try await ScratchDatabase.with { config in
                let store = PostgresStore(configuration: config, logger: quietLogger)
                do {
                    _ = try await store.migrate()
                    try await body(store)
                    await store.close()
                } catch {
                    await store.close()
                    throw error
                }
            }
        }
    }
}

private func d(_ text: String) -> WideDecimal {
    guard let v = WideDecimal.parse(text) else { fatalError("bad decimal literal \(text)") }
    return v
}

/// A base time (2024-08-09T00:00:00Z) plus whole microseconds, so both backends store it exactly.
private func at(_ micros: Int64) -> UnixNanos { UnixNanos(1_723_161_600_000_000_000 + micros * 1_000) }

private func fill(
    _ user: String, _ id: String, at time: UnixNanos, side: Side = .buy, qty: String = "0.5", price: String = "61837.63",
    fee: String = "0.03091881", slippage: String? = nil, realized: String? = nil
) -> StoredPaperFill {
    StoredPaperFill(
        time: time, userID: user, orderID: "o-\(id)", fillID: id, venue: "binance", symbol: "BTC-USDT", side: side, qty: d(qty),
        price: d(price), fee: d(fee), slippageBps: slippage.map(d), realizedPnL: realized.map(d))
}

private func mood(_ user: String, at time: UnixNanos, score: String = "50", state: String = "calm") -> StoredMood {
    StoredMood(time: time, userID: user, score: d(score), state: state, factorsJSON: #"{"drawdown": 0}"#, reason: "r\(time.rawValue)")
}

private func preTrade(_ user: String, at time: UnixNanos, passed: Bool = true) -> StoredPreTrade {
    StoredPreTrade(
        time: time, userID: user, venue: "binance", symbol: "BTC-USDT", passed: passed, failuresJSON: "[]",
        requestJSON: #"{"side":"buy"}"#)
}

/// JSON texts with the same content (jsonb and SQLite's json() reformat whitespace and key order).
private func canonicalJSON(_ text: String) throws -> String {
    let value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
    return String(decoding: data, as: UTF8.self)
}

@Suite("AccountStore", .serialized)
struct AccountStoreTests {
    static let alice = StoredUser(id: "alice", name: "Alice", createdAt: at(1))
    static let bob = StoredUser(id: "bob", name: "Bob", createdAt: at(2))

    @Test(arguments: AccountBackend.available)
    func creatingAUserTwiceReturnsFalseAndKeepsTheFirst(_ backend: AccountBackend) async throws {
        // `throws` spelled out: a closure whose every `try` is inside #expect is otherwise inferred non-throwing.
        try await backend.withStore { store async throws in
            #expect(try await store.createUser(Self.alice))
            #expect(try await !store.createUser(StoredUser(id: "alice", name: "Impostor", createdAt: at(99))))
            #expect(try await store.createUser(Self.bob))
            #expect(try await store.users() == [Self.alice, Self.bob])
        }
    }

    @Test(arguments: AccountBackend.available)
    func committedBalancesPositionsAndFillsReadBackExactly(_ backend: AccountBackend) async throws {
        try await backend.withStore { store in
            _ = try await store.createUser(Self.alice)
            _ = try await store.createUser(Self.bob)
            let balances = [
                StoredBalance(userID: "alice", asset: "BTC", amount: d("0.000123456789012345")),
                StoredBalance(userID: "alice", asset: "USDC", amount: d("61837.63000000")),
                StoredBalance(userID: "bob", asset: "USDC", amount: d("123456789012345678901234.123456789012")),
            ]
            let positions = [
                StoredPosition(
                    userID: "alice", venue: "binance", symbol: "BTC-USDT", qty: d("0.000123456789012345"),
                    avgPrice: d("61837.63000000"), realizedPnL: d("-12.345678901234567890")),
                StoredPosition(userID: "bob", venue: "kraken", symbol: "ETH-USD", qty: d("0"), avgPrice: d("0"), realizedPnL: d("0.5")),
            ]
            let buy = fill("alice", "f1", at: at(10), qty: "0.000123456789012345", fee: "0.000000001", slippage: "1.25")
            let sell = fill("alice", "f2", at: at(20), side: .sell, price: "61800.1", slippage: "-0.75", realized: "-18.765")
            try await store.commit(LedgerWrite(balances: balances, positions: positions, fills: [buy, sell], time: at(20)))

            #expect(try await store.balances() == balances)
            #expect(try await store.positions() == positions)
            #expect(try await store.paperFills(userID: "alice", since: nil, limit: 10) == [sell, buy])
            // Values, not texts: PostgreSQL may print a different scale, the value is the same.
            let pnl = try #require(try await store.positions().first?.realizedPnL)
            #expect(pnl < .zero && pnl == d("-12.34567890123456789"))

            // Upserts replace the full values; rows are not added.
            let updated = StoredBalance(userID: "alice", asset: "USDC", amount: d("-0.01"))
            let closed = StoredPosition(
                userID: "alice", venue: "binance", symbol: "BTC-USDT", qty: d("0"), avgPrice: d("0"), realizedPnL: d("-31.11"))
            try await store.commit(LedgerWrite(balances: [updated], positions: [closed], time: at(30)))
            #expect(try await store.balances() == [balances[0], updated, balances[2]])
            #expect(try await store.positions() == [closed, positions[1]])
        }
    }

    @Test(arguments: AccountBackend.available)
    func aFillStoredTwiceIsStoredOnce(_ backend: AccountBackend) async throws {
        try await backend.withStore { store in
            _ = try await store.createUser(Self.alice)
            let f1 = fill("alice", "f1", at: at(10))
            let f2 = fill("alice", "f2", at: at(11))
            // The key is (user, fill id, time): the same id at another time is another fill.
            let f1Later = fill("alice", "f1", at: at(12), qty: "0.25")
            let usdc = StoredBalance(userID: "alice", asset: "USDC", amount: d("100"))
            try await store.commit(LedgerWrite(balances: [usdc], fills: [f1], time: at(10)))
            try await store.commit(LedgerWrite(balances: [usdc], fills: [f1, f2, f1Later], time: at(12)))
            try await store.commit(LedgerWrite(balances: [usdc], fills: [f2], time: at(13)))
            #expect(try await store.paperFills(userID: "alice", since: nil, limit: 100) == [f1Later, f2, f1])
        }
    }

    @Test(arguments: AccountBackend.available)
    func aFailingWriteStoresNothing(_ backend: AccountBackend) async throws {
        try await backend.withStore { store in
            _ = try await store.createUser(Self.alice)
            let before = StoredBalance(userID: "alice", asset: "USDC", amount: d("1000"))
            try await store.commit(LedgerWrite(balances: [before], time: at(1)))

            let after = StoredBalance(userID: "alice", asset: "USDC", amount: d("900"))
            let position = StoredPosition(
                userID: "alice", venue: "binance", symbol: "ETH-USDT", qty: d("0.04"), avgPrice: d("2500"), realizedPnL: d("0"))
            let f = fill("alice", "f1", at: at(5))
            // The last row written references a user that does not exist (foreign key): the fill,
            // the position and alice's new balance written before it must be rolled back.
            let ghost = StoredBalance(userID: "ghost", asset: "USDC", amount: d("5"))
            let bad = LedgerWrite(balances: [after, ghost], positions: [position], fills: [f], time: at(5))
            await #expect(throws: (any Error).self) { try await store.commit(bad) }

            #expect(try await store.balances() == [before])
            #expect(try await store.positions().isEmpty)
            #expect(try await store.paperFills(userID: "alice", since: nil, limit: 10).isEmpty)

            // The store is usable afterwards (the transaction was ended), and the same write without the bad row lands.
            try await store.commit(LedgerWrite(balances: [after], positions: [position], fills: [f], time: at(6)))
            #expect(try await store.balances() == [after])
            #expect(try await store.positions() == [position])
            #expect(try await store.paperFills(userID: "alice", since: nil, limit: 10) == [f])
        }
    }

    @Test(arguments: AccountBackend.available)
    func readsReturnOnlyThatUsersRows(_ backend: AccountBackend) async throws {
        try await backend.withStore { store in
            _ = try await store.createUser(Self.alice)
            _ = try await store.createUser(Self.bob)
            let aliceFill = fill("alice", "same-id", at: at(10))
            let bobFill = fill("bob", "same-id", at: at(10), qty: "2")
            try await store.commit(LedgerWrite(balances: [], fills: [aliceFill, bobFill], time: at(10)))
            let aliceMood = mood("alice", at: at(11), score: "80", state: "euphoric")
            let bobMood = mood("bob", at: at(12), score: "10", state: "fearful")
            let alicePre = preTrade("alice", at: at(13), passed: true)
            let bobPre = preTrade("bob", at: at(14), passed: false)
            for m in [aliceMood, bobMood] { try await store.logMood(m) }
            for p in [alicePre, bobPre] { try await store.logPreTrade(p) }

            #expect(try await store.paperFills(userID: "alice", since: nil, limit: 10) == [aliceFill])
            #expect(try await store.paperFills(userID: "bob", since: nil, limit: 10) == [bobFill])
            #expect(try await store.moodHistory(userID: "alice", limit: 10).map(\.state) == ["euphoric"])
            #expect(try await store.moodHistory(userID: "bob", limit: 10).map(\.state) == ["fearful"])
            #expect(try await store.preTradeLog(userID: "alice", limit: 10).map(\.passed) == [true])
            #expect(try await store.preTradeLog(userID: "bob", limit: 10).map(\.passed) == [false])
            #expect(try await store.paperFills(userID: "carol", since: nil, limit: 10).isEmpty)
            #expect(try await store.moodHistory(userID: "carol", limit: 10).isEmpty)
            #expect(try await store.preTradeLog(userID: "carol", limit: 10).isEmpty)
        }
    }

    @Test(arguments: AccountBackend.available)
    func logsAreNewestFirstLimitedAndFillsFilterBySince(_ backend: AccountBackend) async throws {
        try await backend.withStore { store in
            _ = try await store.createUser(Self.alice)
            // Stored out of time order, so the order of the reads comes from the times.
            let fills = [30, 10, 50, 20, 40].map { fill("alice", "f\($0)", at: at(Int64($0))) }
            try await store.commit(LedgerWrite(balances: [], fills: fills, time: at(60)))
            for t in [3, 1, 2] as [Int64] {
                try await store.logMood(mood("alice", at: at(t)))
                try await store.logPreTrade(preTrade("alice", at: at(t)))
            }

            func ids(since: UnixNanos?, limit: Int) async throws -> [String] {
                try await store.paperFills(userID: "alice", since: since, limit: limit).map(\.fillID)
            }
            #expect(try await ids(since: nil, limit: 10) == ["f50", "f40", "f30", "f20", "f10"])
            #expect(try await ids(since: nil, limit: 3) == ["f50", "f40", "f30"])
            #expect(try await ids(since: at(30), limit: 10) == ["f50", "f40", "f30"])  // at or after
            #expect(try await ids(since: at(31), limit: 10) == ["f50", "f40"])
            #expect(try await ids(since: at(20), limit: 2) == ["f50", "f40"])
            #expect(try await ids(since: at(51), limit: 10) == [])
            #expect(try await ids(since: nil, limit: 0) == [])
            #expect(try await store.moodHistory(userID: "alice", limit: 2).map(\.time) == [at(3), at(2)])
            #expect(try await store.preTradeLog(userID: "alice", limit: 2).map(\.time) == [at(3), at(2)])
            #expect(try await store.moodHistory(userID: "alice", limit: 10).count == 3)
        }
    }

    @Test(arguments: AccountBackend.available)
    func moodAndPreTradeRecordsRoundTrip(_ backend: AccountBackend) async throws {
        try await backend.withStore { store in
            let factors = """
                { "drawdown":  -0.042, "winStreak": 3,
                  "labels": ["tilt", "fomo"], "nested": {"a": null, "b": true} }
                """
            let m = StoredMood(time: at(7), userID: "alice", score: d("-12.5000"), state: "anxious", factorsJSON: factors, reason: "3 losses in a row")
            let failures = #"[ {"check": "max_notional", "limit": "10000.00"}, {"check": "price_band"} ]"#
            let request = #"{"symbol":"BTC-USDT","side":"sell","type":"limit","qty":"0.000123456789012345","price":"61837.63000000"}"#
            let p = StoredPreTrade(
                time: at(8), userID: "alice", venue: "binance", symbol: "BTC-USDT", passed: false, failuresJSON: failures, requestJSON: request)
            try await store.logMood(m)
            try await store.logPreTrade(p)

            let moods = try await store.moodHistory(userID: "alice", limit: 10)
            try #require(moods.count == 1)
            #expect(moods[0].time == m.time && moods[0].userID == "alice" && moods[0].state == m.state && moods[0].reason == m.reason)
            #expect(moods[0].score == d("-12.5"))
            #expect(try canonicalJSON(moods[0].factorsJSON) == canonicalJSON(factors))

            let checks = try await store.preTradeLog(userID: "alice", limit: 10)
            try #require(checks.count == 1)
            #expect(checks[0].time == p.time && checks[0].venue == p.venue && checks[0].symbol == p.symbol && !checks[0].passed)
            #expect(try canonicalJSON(checks[0].failuresJSON) == canonicalJSON(failures))
            #expect(try canonicalJSON(checks[0].requestJSON) == canonicalJSON(request))

            // Text that is not JSON is refused by both backends (jsonb; json() in SQLite).
            await #expect(throws: (any Error).self) {
                try await store.logMood(StoredMood(time: at(9), userID: "alice", score: d("1"), state: "x", factorsJSON: "{oops", reason: ""))
            }
            #expect(try await store.moodHistory(userID: "alice", limit: 10).count == 1)
        }
    }

    /// SQLite keeps nanoseconds; PostgreSQL keeps microseconds (truncated). A `since` equal to a
    /// fill's own time finds the fill on both.
    @Test(arguments: AccountBackend.available)
    func timesKeepTheBackendsPrecision(_ backend: AccountBackend) async throws {
        try await backend.withStore { store in
            let t = UnixNanos(1_723_161_255_342_123_789)
            let user = StoredUser(id: "alice", name: "", createdAt: t)
            _ = try await store.createUser(user)
            let f = fill("alice", "f1", at: t)
            try await store.commit(LedgerWrite(balances: [], fills: [f], time: t))
            try await store.logMood(mood("alice", at: t))

            let expected = backend == .postgres ? UnixNanos(1_723_161_255_342_123_000) : t
            #expect(try await store.users().map(\.createdAt) == [expected])
            #expect(try await store.paperFills(userID: "alice", since: t, limit: 10).map(\.time) == [expected])
            #expect(try await store.paperFills(userID: "alice", since: UnixNanos(t.rawValue + 1_000), limit: 10).isEmpty)
            #expect(try await store.moodHistory(userID: "alice", limit: 10).map(\.time) == [expected])
        }
    }
}
