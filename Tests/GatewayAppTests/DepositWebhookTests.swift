import Foundation
import FoundationNetworking
import MarketCore
import Services
import Storage
import Testing
@testable import GatewayApp
import _TestSupport

/// `POST /api/v1/deposits/intent` and the signed deposit webhook over real HTTP: a delivery credits
/// its user once however often it comes (in turn or at once), less the 5 % fee to the house; bad
/// signatures and stale timestamps move nothing; unmatched and malformed deliveries are kept in
/// suspense and listed for ops.
@Suite("deposit webhook", .serialized)
struct DepositWebhookTests {
    static let admin = ServicesEndToEndTests.admin
    static let secret = "webhook-secret-for-tests-0123456789abcdef"

    func configure(_ o: inout ServiceOptions) { o.deposits.secret = Self.secret }

    /// Delivers `body` signed with `secret` at `time` (Unix seconds, default now).
    static func deliver(
        _ g: ServicesEndToEndTests.Gateway, _ body: String, secret: String = secret, time: Int? = nil, signature: String? = nil
    ) async throws -> (Int, [String: Any]) {
        let ts = String(time ?? Int(Date().timeIntervalSince1970))
        var r = URLRequest(url: URL(string: "http://127.0.0.1:\(g.port)/api/v1/webhooks/deposit")!)
        r.httpMethod = "POST"
        r.httpBody = Data(body.utf8)
        r.setValue(ts, forHTTPHeaderField: "X-Deposit-Timestamp")
        r.setValue(
            signature ?? DepositService.signature(secret: secret, timestamp: ts, body: Array(body.utf8)), forHTTPHeaderField: "X-Deposit-Signature")
        let (data, response) = try await URLSession.shared.data(for: r)
        return ((response as! HTTPURLResponse).statusCode, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
    }

    static func usdc(_ g: ServicesEndToEndTests.Gateway, _ user: String) -> Decimal {
        Decimal(string: g.services.execution.account(user)?.balances["USDC"]?.description ?? "0")!
    }

    static func ledger(_ g: ServicesEndToEndTests.Gateway, _ a: LedgerAccount) -> Decimal {
        Decimal(string: g.services.execution.books.balance(of: a).description)!
    }

    static func reference(_ g: ServicesEndToEndTests.Gateway, _ token: String) async throws -> String {
        let (code, body) = try await g.call("POST", "/api/v1/deposits/intent", token: token, body: "{}")
        #expect(code == 201 && body["asset"] as? String == "USDC" && body["fee_rate"] as? String == "0.05", "\(code) \(body)")
        return try #require(body["reference"] as? String)
    }

    @Test(.timeLimit(.minutes(1)))
    func theSameDepositDeliveredFiveTimesOrConcurrentlyCreditsOnce() async throws {
        try await ServicesEndToEndTests().withGateway(configure: configure) { g in
            let token = try await g.user("wes", cash: "10")
            let ref = try await Self.reference(g, token)
            let first = #"{"tx_hash":"0xAAA1","reference":"\#(ref)","asset":"USDC","amount":"100"}"#
            var statuses: [String] = []
            for _ in 0..<5 {
                let (code, body) = try await Self.deliver(g, first)
                #expect(code == 200)
                statuses.append(body["status"] as? String ?? "?")
            }
            #expect(statuses == ["credited", "duplicate", "duplicate", "duplicate", "duplicate"])
            // 100 less 5 % (5) = 95 on top of 10.
            #expect(Self.usdc(g, "wes") == Decimal(105))

            let second = #"{"tx_hash":"0xbbb2","reference":"\#(ref)","asset":"USDC","amount":"20.02"}"#
            let results = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<5 { group.addTask { (try await Self.deliver(g, second)).1["status"] as? String ?? "?" } }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(results.filter { $0 == "credited" }.count == 1 && results.filter { $0 == "duplicate" }.count == 4, "\(results)")
            // 20.02 − 1.001 = 19.019.
            #expect(Self.usdc(g, "wes") == Decimal(string: "124.019")!)
            // The same hash in other letters is the same transaction.
            #expect(try await Self.deliver(g, first.replacingOccurrences(of: "0xAAA1", with: "0xaaa1")).1["status"] as? String == "duplicate")

            #expect(Self.ledger(g, .user("wes", .available, "USDC")) == Decimal(string: "124.019")!)
            #expect(Self.ledger(g, .house(.houseFees, "USDC")) == Decimal(string: "6.001")!)  // 5 + 1.001
            #expect(Self.ledger(g, .house(.housePool, "USDC")) == Decimal(string: "-130.02")!)  // 10 + 100 + 20.02
            #expect(g.services.execution.books.reconcile().ok)
            #expect(g.services.execution.ledgerDisagreements() == [])
            // Stored with the balance: the ledger rows are in the database.
            try await eventuallyTrue("ledger stored") {
                let ids = (try? await g.store.ledgerTransactions().map(\.id)) ?? []
                return ids.contains("webhook-0xaaa1") && ids.contains("webhook-0xbbb2")
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func forgedOrStaleDeliveriesAreRefusedAndMoveNothing() async throws {
        try await ServicesEndToEndTests().withGateway(configure: configure) { g in
            let token = try await g.user("fay", cash: "1")
            let ref = try await Self.reference(g, token)
            let body = #"{"tx_hash":"0xccc3","reference":"\#(ref)","asset":"USDC","amount":"50"}"#
            let now = Int(Date().timeIntervalSince1970)
            let wrongKey = try await Self.deliver(g, body, secret: String(repeating: "x", count: 40))
            #expect(wrongKey.0 == 401 && (wrongKey.1["error"] as? [String: Any])?["code"] as? String == "bad_signature")
            let stale = try await Self.deliver(g, body, time: now - 301)
            #expect(stale.0 == 401 && (stale.1["error"] as? [String: Any])?["code"] as? String == "stale_timestamp")
            let future = try await Self.deliver(g, body, time: now + 301)
            #expect(future.0 == 401 && (future.1["error"] as? [String: Any])?["code"] as? String == "stale_timestamp")
            // Signed for one body, sent with another.
            let ts = String(now)
            let tampered = try await Self.deliver(
                g, body.replacingOccurrences(of: "\"50\"", with: "\"5000\""), time: now,
                signature: DepositService.signature(secret: Self.secret, timestamp: ts, body: Array(body.utf8)))
            #expect(tampered.0 == 401)
            let garbage = try await Self.deliver(g, body, signature: "sha256=zz")
            #expect(garbage.0 == 401)
            #expect(Self.usdc(g, "fay") == Decimal(1))
            #expect(g.services.deposits.suspense().isEmpty)
            // Signed correctly at the edge of the window: credited (50 − 2.5).
            let edge = try await Self.deliver(g, body, time: now - 299)
            #expect(edge.0 == 200 && edge.1["status"] as? String == "credited" && edge.1["fee"] as? String == "2.5", "\(edge)")
            #expect(Self.usdc(g, "fay") == Decimal(string: "48.5")!)
        }
        // No secret configured: the webhook is off.
        try await ServicesEndToEndTests().withGateway { g in
            let (code, body) = try await Self.deliver(g, #"{"tx_hash":"0x1"}"#)
            #expect(code == 503 && (body["error"] as? [String: Any])?["code"] as? String == "webhook_not_configured")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func unmatchedAndMalformedDeliveriesAreHeldInSuspenseAndListedForOps() async throws {
        try await ServicesEndToEndTests().withGateway(configure: configure) { g in
            let token = try await g.user("gus", cash: "1")
            _ = try await Self.reference(g, token)
            let unmatched = #"{"tx_hash":"0xddd4","reference":"dep_nobody","asset":"USDC","amount":"77.7"}"#
            for _ in 0..<3 {
                let (code, body) = try await Self.deliver(g, unmatched)
                #expect(code == 200 && body["status"] as? String == "suspense", "\(body)")
            }
            let notJSON = "this is not json"
            #expect(try await Self.deliver(g, notJSON).1["status"] as? String == "suspense")
            let badAmount = #"{"tx_hash":"0xeee5","reference":"dep_x","asset":"USDC","amount":"-3"}"#
            #expect(try await Self.deliver(g, badAmount).1["status"] as? String == "suspense")

            // Only the unmatched one has money to hold: 77.7, once.
            #expect(Self.ledger(g, .house(.suspense, "USDC")) == Decimal(string: "77.7")!)
            #expect(Self.ledger(g, .house(.housePool, "USDC")) == Decimal(string: "-78.7")!)  // 1 + 77.7
            #expect(Self.usdc(g, "gus") == Decimal(1))
            #expect(g.services.execution.books.reconcile().ok)

            let (forbidden, _) = try await g.call("GET", "/api/v1/deposits/suspense", token: token)
            #expect(forbidden == 403)
            let (code, list) = try await g.call("GET", "/api/v1/deposits/suspense", token: Self.admin)
            let held = list["deposits"] as? [[String: Any]] ?? []
            #expect(code == 200 && held.count == 3, "\(list)")
            let byKey = Dictionary(held.map { ($0["key"] as? String ?? "?", $0) }, uniquingKeysWith: { a, _ in a })
            #expect((byKey["0xddd4"]?["reason"] as? String)?.hasPrefix("unmatched") == true)
            #expect(byKey["0xddd4"]?["amount"] as? String == "77.7")
            #expect(byKey["0xeee5"]?["amount"] is NSNull)
            #expect(held.contains { ($0["key"] as? String)?.hasPrefix("body-") == true && $0["body"] as? String == notJSON })
            // Kept in the database too.
            #expect(try await g.store.suspenseDeposits().count == 3)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func opsAssignASuspenseDepositToAUserOnceOverHTTP() async throws {
        try await ServicesEndToEndTests().withGateway(configure: configure) { g in
            let token = try await g.user("hal", cash: "1")
            _ = try await g.user("ivy", cash: "1")
            let unmatched = #"{"tx_hash":"0xabc9","reference":"dep_typo","asset":"USDC","amount":"200"}"#
            #expect(try await Self.deliver(g, unmatched).1["status"] as? String == "suspense")
            let path = "/api/v1/deposits/suspense/0xabc9/assign"
            let (forbidden, _) = try await g.call("POST", path, token: token, body: #"{"user":"hal"}"#)
            #expect(forbidden == 403)
            let (noUser, e1) = try await g.call("POST", path, token: Self.admin, body: "{}")
            #expect(noUser == 400 && (e1["error"] as? [String: Any])?["code"] as? String == "bad_request")
            let (unknown, e2) = try await g.call("POST", path, token: Self.admin, body: #"{"user":"zed"}"#)
            #expect(unknown == 404 && (e2["error"] as? [String: Any])?["code"] as? String == "unknown_user")
            let (missing, e3) = try await g.call("POST", "/api/v1/deposits/suspense/0xnone/assign", token: Self.admin, body: #"{"user":"hal"}"#)
            #expect(missing == 404 && (e3["error"] as? [String: Any])?["code"] as? String == "no_suspense_deposit")

            let (code, a) = try await g.call("POST", path, token: Self.admin, body: #"{"user":"hal"}"#)
            // 200 less 5 % = 190 on top of 1.
            #expect(code == 200 && a["user"] as? String == "hal" && a["amount"] as? String == "200" && a["fee"] as? String == "10", "\(a)")
            #expect(a["credited"] as? String == "190" && a["balance"] as? String == "191" && a["transaction"] as? String == "suspense-assign-0xabc9")
            #expect(Self.usdc(g, "hal") == Decimal(191))
            let (twice, e4) = try await g.call("POST", path, token: Self.admin, body: #"{"user":"ivy"}"#)
            #expect(twice == 409 && (e4["error"] as? [String: Any])?["code"] as? String == "already_assigned", "\(e4)")
            #expect(Self.usdc(g, "ivy") == Decimal(1))
            #expect(Self.ledger(g, .house(.suspense, "USDC")) == 0)
            #expect(g.services.execution.books.reconcile().ok)
            // The listing says to whom.
            let (_, list) = try await g.call("GET", "/api/v1/deposits/suspense", token: Self.admin)
            let held = (list["deposits"] as? [[String: Any]])?.first
            #expect((held?["assignment"] as? [String: Any])?["user"] as? String == "hal", "\(list)")
        }
    }
}
