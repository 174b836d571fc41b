import Foundation
import FoundationNetworking
import MarketCore
import Services
import Storage
import Testing
@testable import GatewayApp
import _TestSupport

/// Withdrawals and `GET /api/v1/ledger/balances` over real HTTP: concurrent requests reserve only
/// what the user has, an admin approves or rejects once, users see only their own, bad input is a
/// 4xx.
@Suite("withdrawal routes", .serialized)
struct WithdrawalRoutesTests {
    static let admin = ServicesEndToEndTests.admin

    static func balances(_ body: [String: Any]) -> [String: String] {
        var out: [String: String] = [:]
        for b in body["balances"] as? [[String: Any]] ?? [] {
            out["\(b["account"] as? String ?? "?")/\(b["asset"] as? String ?? "?")"] = b["amount"] as? String
        }
        return out
    }

    @Test(.timeLimit(.minutes(1)))
    func concurrentRequestsApproveRejectAndBalances() async throws {
        try await ServicesEndToEndTests().withGateway { g in
            let wes = try await g.user("wes", cash: "50")
            let ann = try await g.user("ann", cash: "20")
            // 12 requests of 6 at once (72 > 50): exactly 8 fit (48), 2 left.
            let codes = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for i in 0..<12 {
                    group.addTask {
                        let (c, b) = try await g.call(
                            "POST", "/api/v1/withdrawals", token: wes, body: #"{"amount":"6","destination":"bank \#(i)"}"#)
                        return (c, b["id"] as? String ?? (b["error"] as? [String: Any])?["code"] as? String)
                    }
                }
                return try await group.reduce(into: [(Int, String?)]()) { $0.append($1) }
            }
            #expect(codes.filter { $0.0 == 201 }.count == 8, "\(codes)")
            #expect(codes.filter { $0.0 == 422 && $0.1 == "insufficient_funds" }.count == 4, "\(codes)")
            let ids = codes.filter { $0.0 == 201 }.compactMap(\.1)
            #expect(g.services.execution.account("wes")?.available("USDC") == WideDecimal.parse("2")!)

            var (code, body) = try await g.call("GET", "/api/v1/ledger/balances", token: wes)
            #expect(code == 200)
            #expect(Self.balances(body) == ["available/USDC": "2", "reserved/USDC": "48"])
            #expect(body["reconciled"] as? Bool == true)
            #expect(body["user"] as? String == "wes")

            // Approve one, reject one; each only once.
            (code, body) = try await g.call("POST", "/api/v1/withdrawals/\(ids[0])/approve", token: Self.admin)
            #expect(code == 200 && body["status"] as? String == "approved", "\(code) \(body)")
            (code, body) = try await g.call("POST", "/api/v1/withdrawals/\(ids[1])/reject", token: Self.admin)
            #expect(code == 200 && body["status"] as? String == "rejected", "\(code) \(body)")
            for path in ["\(ids[0])/approve", "\(ids[0])/reject", "\(ids[1])/reject", "\(ids[1])/approve"] {
                (code, body) = try await g.call("POST", "/api/v1/withdrawals/\(path)", token: Self.admin)
                #expect(code == 409 && (body["error"] as? [String: Any])?["code"] as? String == "already_decided", "\(path) \(code)")
            }
            #expect(try await g.call("POST", "/api/v1/withdrawals/nope/approve", token: Self.admin).0 == 404)
            #expect(try await g.call("POST", "/api/v1/withdrawals/\(ids[2])/approve", token: wes).0 == 403)
            #expect(try await g.call("POST", "/api/v1/withdrawals/\(ids[2])/approve", token: nil).0 == 401)
            #expect(g.services.execution.account("wes")?.balances["USDC"] == WideDecimal.parse("44")!)
            #expect(g.services.execution.account("wes")?.reserved["USDC"] == WideDecimal.parse("36")!)

            (code, body) = try await g.call("GET", "/api/v1/ledger/balances", token: wes)
            // 50 − 6 paid out = 44 held; 6 × 6 = 36 still reserved; 8 available.
            #expect(Self.balances(body) == ["available/USDC": "8", "reserved/USDC": "36"])
            #expect(body["reconciled"] as? Bool == true)
            (code, body) = try await g.call("GET", "/api/v1/ledger/balances", token: ann)
            #expect(Self.balances(body) == ["available/USDC": "20"])

            // Lists: the user's own; all for the admin only.
            (code, body) = try await g.call("GET", "/api/v1/withdrawals", token: ann)
            #expect(code == 200 && (body["withdrawals"] as? [Any])?.count == 0)
            (code, body) = try await g.call("GET", "/api/v1/withdrawals", token: wes)
            let mine = body["withdrawals"] as? [[String: Any]] ?? []
            #expect(mine.count == 8 && mine.allSatisfy { $0["user"] as? String == "wes" })
            #expect(mine.filter { $0["status"] as? String == "pending" }.count == 6)
            #expect(try await g.call("GET", "/api/v1/withdrawals/all", token: wes).0 == 403)
            (code, body) = try await g.call("GET", "/api/v1/withdrawals/all", token: Self.admin)
            #expect(code == 200 && (body["withdrawals"] as? [Any])?.count == 8)

            // The pool moved by the approved 6 only: −(50 + 20 − 6).
            #expect(g.services.execution.books.balance(of: .house(.housePool, "USDC")) == WideDecimal.parse("-64")!)
            #expect(g.services.execution.books.reconcile().ok)

            // Client mistakes are 4xx.
            for bad in [
                #"{"amount":"-1","destination":"x"}"#, #"{"amount":"1"}"#, #"{"amount":"abc","destination":"x"}"#,
                #"{"amount":"1","destination":""}"#, #"{"amount":"1","destination":"a\u0000b"}"#, #"{"amount":"1","asset":"nope","destination":"x"}"#,
                #"{"amount":"1","asset":"ZZZZ","destination":"x"}"#, "not json",
            ] {
                (code, _) = try await g.call("POST", "/api/v1/withdrawals", token: ann, body: bad)
                #expect(code == 400, "\(bad): \(code)")
            }
            (code, body) = try await g.call("POST", "/api/v1/withdrawals", token: ann, body: #"{"amount":"1e30","destination":"x"}"#)
            #expect(code == 400, "\(code)")
            (code, body) = try await g.call("POST", "/api/v1/withdrawals", token: ann, body: #"{"amount":"20.5","destination":"x"}"#)
            #expect(code == 422)
            #expect(try await g.call("GET", "/api/v1/ledger/balances", token: nil).0 == 401)

            // A posting the account does not know (forged straight into the books): wes no longer
            // reconciles; ann, whom it does not touch, still does.
            try g.services.execution.books.append(
                LedgerTransaction(
                    id: "forged-1", time: g.services.execution.now, kind: .adjustment,
                    postings: [
                        LedgerPosting(.user("wes", .available, "USDC"), WideDecimal.parse("1")!),
                        LedgerPosting(.house(.housePool, "USDC"), WideDecimal.parse("-1")!),
                    ]))
            (code, body) = try await g.call("GET", "/api/v1/ledger/balances", token: wes)
            #expect(code == 200 && body["reconciled"] as? Bool == false, "\(body)")
            #expect(Self.balances(body)["available/USDC"] == "9")
            (code, body) = try await g.call("GET", "/api/v1/ledger/balances", token: ann)
            #expect(body["reconciled"] as? Bool == true)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func overTheDailyLimitIsA422NamingTheLimit() async throws {
        try await ServicesEndToEndTests().withGateway(configure: { $0.execution.withdrawalDailyLimitUSD = WideDecimal.parse("25")! }) { g in
            let wes = try await g.user("wes", cash: "100")
            let (c1, _) = try await g.call("POST", "/api/v1/withdrawals", token: wes, body: #"{"amount":"20","destination":"bank"}"#)
            #expect(c1 == 201)
            let (c2, over) = try await g.call("POST", "/api/v1/withdrawals", token: wes, body: #"{"amount":"5.01","destination":"bank"}"#)
            let error = over["error"] as? [String: Any]
            #expect(c2 == 422 && error?["code"] as? String == "withdrawal_limit", "\(over)")
            #expect((error?["message"] as? String)?.contains("daily limit of 25 USD") == true, "\(over)")
            #expect((error?["message"] as? String)?.contains("20 USD so far") == true, "\(over)")
            let (c3, _) = try await g.call("POST", "/api/v1/withdrawals", token: wes, body: #"{"amount":"5","destination":"bank"}"#)
            #expect(c3 == 201)
        }
    }

    @Test func theDailyLimitIsReadFromTheConfigurationAndReachesTheServices() throws {
        let c = try GatewayConfiguration.parse(yaml: "services:\n  withdrawal_daily_limit_usd: 2500.5\n", environment: [:])
        #expect(c.services.withdrawalDailyLimitUSD == WideDecimal.parse("2500.5"))
        #expect(ServeRun(configuration: c).serviceOptions().execution.withdrawalDailyLimitUSD == WideDecimal.parse("2500.5"))
        // Off by default, and `off` from the environment.
        #expect(ServeRun(configuration: GatewayConfiguration()).serviceOptions().execution.withdrawalDailyLimitUSD == nil)
        let off = try GatewayConfiguration.parse(yaml: "", environment: ["GATEWAY_SERVICES_WITHDRAWAL_DAILY_LIMIT_USD": "off"])
        #expect(off.services.withdrawalDailyLimitUSD == nil)
        for bad in ["-5", "0", "lots"] {
            #expect {
                try GatewayConfiguration.parse(yaml: "services:\n  withdrawal_daily_limit_usd: \(bad)\n", environment: [:])
            } throws: { "\($0)".contains("withdrawal_daily_limit_usd") }
        }
    }
}
