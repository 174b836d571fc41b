import Foundation
import MarketCore
import Services
import Storage
import Testing
import _TestSupport

/// Deposits by webhook across a restart (SQLite and PostgreSQL): references, the credit's
/// idempotency by transaction hash, and the suspense list survive it; the fee rate is an option.
@Suite(.serialized) struct DepositServiceTests {
    static func options(fee: String = "0.05") -> ServiceOptions {
        var o = ServiceOptions()
        o.deposits.secret = String(repeating: "s", count: 32)
        o.deposits.feeRate = d(fee)
        return o
    }

    @Test(.timeLimit(.minutes(2)), arguments: Backend.available)
    func aDepositCreditedBeforeARestartIsADuplicateAfterIt(_ backend: Backend) async throws {
        try await backend.withDatabase { open in
            let store1 = try await open()
            let a = Harness(options: Self.options(fee: "0.02"), store: store1)
            try await a.suite.load()
            let journal1 = a.suite.journal
            let running1 = Task { await journal1.run() }
            try await a.user("ida", cash: "0")
            let intent = try await a.suite.deposits.createIntent(user: "ida", asset: "USDC")
            let body = Array(#"{"tx_hash":"0x77","reference":"\#(intent.reference)","asset":"USDC","amount":"250"}"#.utf8)
            // 2 % of 250 = 5.
            #expect(try await a.suite.deposits.receive(body: body) == .credited(txHash: "0x77", asset: "USDC", amount: d("250"), fee: d("5"), stored: true))
            let unmatched = Array(#"{"tx_hash":"0x88","reference":"dep_none","asset":"USDC","amount":"3"}"#.utf8)
            guard case .suspense = try await a.suite.deposits.receive(body: unmatched) else { Issue.record("not held"); return }
            #expect(await waitUntil(seconds: 20) { journal1.pending == 0 })
            running1.cancel()
            await store1.close()

            let store2 = try await open()
            let b = Harness(options: Self.options(fee: "0.02"), store: store2)
            try await b.suite.load()
            let journal2 = b.suite.journal
            let running2 = Task { await journal2.run() }
            #expect(b.suite.deposits.intent(intent.reference)?.userID == "ida")
            #expect(try await b.suite.deposits.receive(body: body) == .duplicate(txHash: "0x77"))
            #expect(b.execution.account("ida")?.balances["USDC"] == d("245"))
            #expect(b.suite.deposits.suspense().map(\.key) == ["0x88"])
            let books = b.execution.books.snapshot
            #expect(books.balance(of: .house(.houseFees, "USDC")) == d("5"))
            #expect(books.balance(of: .house(.suspense, "USDC")) == d("3"))
            #expect(books.reconcile().ok)
            #expect(b.execution.ledgerDisagreements() == [])
            running2.cancel()
            await store2.close()
        }
    }
}
