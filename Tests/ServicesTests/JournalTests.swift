import Foundation
import Logging
import MarketCore
import Services
import Storage
import Testing
import _TestSupport

/// The account journal against real stores: an entry the database refuses must not hold up the
/// entries behind it, and a shutdown must not wait forever for a database that is away.
@Suite(.serialized) struct JournalTests {
    static let t0 = UnixNanos.seconds(1_800_000_000)

    /// What each database refuses for good: PostgreSQL cannot store NUL in text or jsonb; SQLite's
    /// json() refuses malformed JSON (NUL is fine there).
    static func poison(_ backend: Backend) -> StoredPreTrade {
        switch backend {
        case .postgres:
            StoredPreTrade(
                time: t0, userID: "u1", venue: "binance", symbol: "BTC-USDT\u{0}", passed: false, failuresJSON: "[]",
                requestJSON: #"{"symbol":"BTC-USDT\u0000"}"#)
        case .sqlite:
            StoredPreTrade(
                time: t0, userID: "u1", venue: "binance", symbol: "BTC-USDT", passed: false, failuresJSON: "[", requestJSON: "{")
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: Backend.available)
    func aPoisonEntryDoesNotHoldUpTheEntriesBehindIt(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store = try await open()
            let journal = AccountJournal(store: store, logger: quiet)
            let runner = Task { await journal.run() }
            journal.append(.user(StoredUser(id: "u1", name: "one", createdAt: Self.t0)))
            journal.append(.preTrade(Self.poison(backend)))
            let later = journal.append(.user(StoredUser(id: "u2", name: "two", createdAt: Self.t0)))
            // Before the fix the poison entry was retried forever and nothing behind it was stored.
            #expect(await journal.waitStored(later, timeout: .seconds(20)))
            #expect(try await store.users().map(\.id) == ["u1", "u2"])
            #expect(journal.pending == 0)
            journal.finish()
            #expect(await finishes(runner, within: 20))
            await store.close()
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func shutdownDoesNotWaitForeverForADatabaseThatIsAway() async throws {
        // Nothing listens on port 1: every write fails with a connection error (transient).
        let store = PostgresStore(configuration: try PostgresConfiguration(url: "postgres://nobody@127.0.0.1:1/none"), logger: quiet)
        let journal = AccountJournal(store: store, logger: quiet)
        journal.append(.user(StoredUser(id: "u1", name: "one", createdAt: Self.t0)))
        journal.finish()
        let start = ContinuousClock.now
        let runner = Task { await journal.run() }
        // Before the fix run() retried the entry forever after finish(): a stop hung.
        #expect(await finishes(runner, within: 40), "the journal's run() did not return after finish() within 40 s")
        #expect(ContinuousClock.now - start < .seconds(40))
        await store.close()
    }
}
