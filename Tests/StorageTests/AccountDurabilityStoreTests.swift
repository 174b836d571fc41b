import Foundation
import MarketCore
import Storage
import Testing

private func d(_ text: String) -> WideDecimal { WideDecimal.parse(text)! }
private func at(_ micros: Int64) -> UnixNanos { UnixNanos(1_723_161_600_000_000_000 + micros * 1_000) }

/// Migration 10 on both backends: fill details, resting orders in the ledger's transaction, agents
/// and dead letters read back exactly.
@Suite("AccountStore durability", .serialized)
struct AccountDurabilityStoreTests {
    static let kim = StoredUser(id: "kim", name: "Kim", createdAt: at(1))

    static func order(_ id: String, remaining: String, reserved: String, fills: Int = 0) -> StoredRestingOrder {
        StoredRestingOrder(
            orderID: id, userID: "kim", venue: "binance", symbol: "BTC-USDT", side: .buy, limitPrice: d("61000.50"), quantity: d("0.50000"),
            remaining: d(remaining), reserved: d(reserved), reservedAsset: "USDC", placed: at(5), source: "agent-1:rsi", fills: fills)
    }

    @Test(arguments: AccountBackend.available)
    func fillsKeepWhatWasReportedAndOrdersChangeInTheLedgersTransaction(_ backend: AccountBackend) async throws {
        try await backend.withStore { store in
            _ = try await store.createUser(Self.kim)
            let placed = Self.order("o-1", remaining: "0.50000", reserved: "30530.7752500")
            try await store.commit(LedgerWrite(balances: [], orders: [placed], time: at(5)))
            #expect(try await store.restingOrders() == [placed])

            // A partial fill: the fill with its details, the balance, and the order's new state together.
            let details = StoredPaperFill.Details(
                notional: d("12200.1000"), levels: 1, orderType: "limit", liquidity: "resting", remaining: d("0.30000"), feeAsset: "USDC",
                source: "agent-1:rsi")
            let fill = StoredPaperFill(
                time: at(10), userID: "kim", orderID: "o-1", fillID: "o-1-1", venue: "binance", symbol: "BTC-USDT", side: .buy, qty: d("0.20000"),
                price: d("61000.5"), fee: d("12.2001"), slippageBps: nil, realizedPnL: nil, details: details)
            let partial = Self.order("o-1", remaining: "0.30000", reserved: "18318.4651500", fills: 1)
            try await store.commit(
                LedgerWrite(balances: [StoredBalance(userID: "kim", asset: "USDC", amount: d("87787.6999"))], fills: [fill], orders: [partial], time: at(10)))
            #expect(try await store.restingOrders() == [partial])
            let read = try await store.paperFills(userID: "kim", since: nil, limit: 10)
            #expect(read == [fill])
            // Trailing zeros of the notional are kept.
            #expect(read.first?.details?.notional.description == "12200.1000")

            // The last fill closes it.
            try await store.commit(LedgerWrite(balances: [], closedOrders: ["o-1"], time: at(20)))
            #expect(try await store.restingOrders().isEmpty)
        }
    }

    @Test(arguments: AccountBackend.available)
    func aFailingLedgerWriteLeavesTheOrderAsItWas(_ backend: AccountBackend) async throws {
        try await backend.withStore { store in
            _ = try await store.createUser(Self.kim)
            let placed = Self.order("o-1", remaining: "0.5", reserved: "30530.77525")
            try await store.commit(LedgerWrite(balances: [], orders: [placed], time: at(5)))
            // The same write closes the order and names a user that does not exist: all of it fails.
            let bad = StoredBalance(userID: "nobody", asset: "USDC", amount: d("1"))
            await #expect(throws: (any Error).self) {
                try await store.commit(LedgerWrite(balances: [bad], closedOrders: ["o-1"], time: at(6)))
            }
            #expect(try await store.restingOrders() == [placed])
        }
    }

    @Test(arguments: AccountBackend.available)
    func agentsAndDeadLettersReadBack(_ backend: AccountBackend) async throws {
        try await backend.withStore { store in
            _ = try await store.createUser(Self.kim)
            var agent = StoredAgent(
                id: "agent-7", userID: "kim", strategy: "rsi", venue: "binance", symbol: "BTC-USDT", quantity: nil, quoteAmount: d("100.50"),
                created: at(3), orders: 0, rejected: 0, lastResult: nil)
            try await store.saveAgent(agent)
            agent.orders = 2
            agent.rejected = 1
            agent.lastResult = "rejected: spread"
            try await store.saveAgent(agent)
            #expect(try await store.agents() == [agent])
            try await store.removeAgent(id: "agent-7")
            #expect(try await store.agents().isEmpty)

            // Any text can be dead-lettered, NUL included (PostgreSQL text cannot hold NUL: it is escaped).
            let letter = StoredDeadLetter(time: at(9), kind: "pretrade", payload: #"{"symbol":"BTC-USDT\u0000"}"#, error: "SQLSTATE 22021: invalid byte sequence \u{0}")
            try await store.deadLetter(letter)
            let read = try await store.deadLetters(limit: 10)
            #expect(read.count == 1)
            #expect(read.first?.kind == "pretrade" && read.first?.payload == letter.payload && read.first?.time == letter.time)
            #expect(read.first?.error == "SQLSTATE 22021: invalid byte sequence \\u0000")
        }
    }
}
