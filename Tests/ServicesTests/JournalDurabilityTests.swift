import Foundation
import Logging
import MarketCore
import Services
import Storage
import Synchronization
import Testing
import _TestSupport

/// The journal's handling of what the database refuses, of a database that is away, and of a stop
/// while it is away (docs/trading.md "The account journal").
@Suite(.serialized) struct JournalDurabilityTests {
    static let t0 = UnixNanos.seconds(1_800_000_000)

    static func options(spill: String? = nil, flush: Duration = .seconds(2)) -> AccountJournal.Options {
        var o = AccountJournal.Options()
        o.spillPath = spill
        o.flushTimeout = flush
        o.maxBackoff = .milliseconds(400)
        return o
    }

    @Test(.timeLimit(.minutes(1)), arguments: Backend.available)
    func aRefusedEntryIsKeptAsADeadLetterAndCounted(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store = try await open()
            let journal = AccountJournal(store: store, logger: quiet, options: Self.options())
            let runner = Task { await journal.run() }
            journal.append(.user(StoredUser(id: "u1", name: "one", createdAt: Self.t0)))
            let poison = JournalTests.poison(backend)
            let settled = Mutex(false)
            let id = journal.append(.preTrade(poison), then: { settled.withLock { $0 = true } })
            #expect(await journal.waitStored(id, timeout: .seconds(20)))
            #expect(settled.withLock { $0 })
            let letters = try await store.deadLetters(limit: 10)
            #expect(letters.count == 1)
            let letter = try #require(letters.first)
            #expect(letter.kind == "pretrade")
            #expect(letter.error.contains(backend == .postgres ? "SQLSTATE 22" : "malformed JSON"), "\(letter.error)")
            // The payload is the entry itself, readable back.
            guard case .preTrade(let kept) = try JournalCoding.decode(letter.payload) else { Issue.record("\(letter.payload)"); return }
            #expect(kept == poison)
            #expect(try await store.preTradeLog(userID: "u1", limit: 10).isEmpty)
            journal.finish()
            await runner.value
            await store.close()
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: Backend.available)
    func whatAStopCannotStoreIsSpilledAndStoredAtTheNextStart(_ backend: Backend) async throws {
        let dir = try makeTempDirectory("journal-spill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spill = "\(dir)/accounts.journal"
        // A stop while the database is away (nothing listens on port 1): bounded, then spilled.
        let away = PostgresStore(configuration: try PostgresConfiguration(url: "postgres://nobody@127.0.0.1:1/none"), logger: quiet)
        let stopping = AccountJournal(store: away, logger: quiet, options: Self.options(spill: spill))
        let user = StoredUser(id: "sam", name: "Sam", createdAt: Self.t0)
        let write = LedgerWrite(
            balances: [StoredBalance(userID: "sam", asset: "USDC", amount: WideDecimal.parse("1234.500")!)],
            orders: [
                StoredRestingOrder(
                    orderID: "o-9", userID: "sam", venue: "binance", symbol: "BTC-USDT", side: .buy, limitPrice: WideDecimal.parse("100")!,
                    quantity: WideDecimal.parse("2")!, remaining: WideDecimal.parse("2")!, reserved: WideDecimal.parse("200.2")!,
                    reservedAsset: "USDC", placed: Self.t0, source: nil, fills: 0)
            ], time: Self.t0)
        stopping.append(.user(user))
        stopping.append(.ledger(write))
        let runner = Task { await stopping.run() }
        stopping.finish()
        let start = ContinuousClock.now
        await runner.value
        #expect(ContinuousClock.now - start < .seconds(15))
        await away.close()
        let lines = try String(contentsOfFile: spill, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)

        try await backend.withDatabase { open in
            let store = try await open()
            let starting = AccountJournal(store: store, logger: quiet, options: Self.options(spill: spill))
            try await starting.replaySpill()
            #expect(try await store.users() == [user])
            #expect(try await store.balances() == write.balances)
            #expect(try await store.restingOrders() == write.orders)
            #expect(!FileManager.default.fileExists(atPath: spill))
            await store.close()
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func whileTheDatabaseIsAwayEntriesWaitInOrderAndNoneIsDeadLettered() async throws {
        let cluster = try OwnCluster()
        defer { cluster.destroy() }
        let store = PostgresStore(configuration: try PostgresConfiguration(url: cluster.url), logger: quiet)
        _ = try await store.migrate()
        let journal = AccountJournal(store: store, logger: quiet, options: Self.options())
        let runner = Task { await journal.run() }
        try cluster.stop()
        journal.append(.user(StoredUser(id: "ada", name: "", createdAt: Self.t0)))
        var last = 0
        for i in 1...5 {
            last = journal.append(
                .ledger(LedgerWrite(balances: [StoredBalance(userID: "ada", asset: "USDC", amount: WideDecimal(i))], time: Self.t0)))
        }
        #expect(await !journal.waitStored(last, timeout: .seconds(3)), "stored while the database was down?")
        try cluster.start()
        #expect(await journal.waitStored(last, timeout: .seconds(30)))
        // The last full value written wins: the entries were stored in order.
        #expect(try await store.balances().map(\.amount) == [WideDecimal(5)])
        #expect(try await store.deadLetters(limit: 10).isEmpty)
        journal.finish()
        await runner.value
        await store.close()
    }

    @Test func entriesRoundTripThroughTheirJSON() throws {
        let fill = StoredPaperFill(
            time: Self.t0, userID: "u\u{0}", orderID: "o", fillID: "o-1", venue: "binance", symbol: "BTC-USDT", side: .sell,
            qty: WideDecimal.parse("0.500")!, price: WideDecimal.parse("61000.123456789012")!, fee: WideDecimal.parse("30.5")!,
            slippageBps: WideDecimal.parse("-1.2500")!, realizedPnL: WideDecimal.parse("-0.000000000000000001")!,
            details: StoredPaperFill.Details(
                notional: WideDecimal.parse("30500.0617283945060")!, levels: 3, orderType: "market", liquidity: "taker",
                remaining: WideDecimal.zero, feeAsset: "USDC", source: "agent-2:rsi"))
        let entries: [AccountJournal.Entry] = [
            .user(StoredUser(id: "u", name: "Zoë \"quote\" \\", createdAt: Self.t0)),
            .ledger(
                LedgerWrite(
                    balances: [StoredBalance(userID: "u", asset: "USDC", amount: WideDecimal.parse("99999999999999999999.999999999999999999")!)],
                    positions: [
                        StoredPosition(
                            userID: "u", venue: "kraken", symbol: "ETH-USD", qty: WideDecimal.parse("1.5")!, avgPrice: WideDecimal.parse("2500")!,
                            realizedPnL: WideDecimal.parse("-3")!)
                    ], fills: [fill], closedOrders: ["a", "b"], time: Self.t0)),
            .preTrade(JournalTests.poison(.postgres)),
            .mood(StoredMood(time: Self.t0, userID: "u", score: WideDecimal.parse("55.50")!, state: "cautious", factorsJSON: "{}", reason: "r")),
            .agent(
                StoredAgent(
                    id: "agent-1", userID: "u", strategy: "rsi", venue: "binance", symbol: "BTC-USDT", quantity: WideDecimal.parse("0.1")!,
                    quoteAmount: nil, created: Self.t0, orders: 3, rejected: 1, lastResult: "ok")),
            .agentRemoved("agent-1"),
        ]
        for e in entries {
            let text = JournalCoding.encode(e)
            #expect(!text.utf8.contains(0), "NUL escaped")
            let back = try JournalCoding.decode(text)
            #expect(JournalCoding.encode(back) == text)
        }
    }
}
