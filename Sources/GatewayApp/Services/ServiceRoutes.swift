public import Hummingbird
import Foundation
import HTTPTypes
import MarketCore
import Metrics
import NIOCore
public import Services
import Storage

/// The user and trading endpoints (JSON; decimals as exact strings). Authorization is a bearer
/// token: the admin token for `/api/v1/users…`, a user JWT (`sub` = user id) for the rest, whose
/// data is always the token's user's — no parameter names another user.
///
/// - `POST /api/v1/users` (admin) `{"id"?, "name"?}` → 201 `{"id","name","created","token"}`
/// - `POST /api/v1/users/{id}/deposit` (admin) `{"amount", "asset"?}` → `{"user","asset","balance"}`
/// - `POST /api/v1/users/{id}/token` (admin) → `{"user","token"}`
/// - `POST /api/v1/trading/execute` `{symbol, venue, side, type, quantity|quote_amount, limit_price?}`
///   → 200 `{"order_id","status","fills":[execution…],"resting":order|null,"checks":[…],"stored"}`;
///   422 `pretrade_rejected` with every check in `error.checks`
/// - `GET /api/v1/trading/orders`, `DELETE /api/v1/trading/orders/{id}`
/// - `GET /api/v1/trading/history?limit=` (newest first), `GET /api/v1/trading/portfolio`
/// - `GET /api/v1/mood/current`, `GET /api/v1/mood/history?limit=`
/// - `POST /api/v1/agents` `{strategy, venue, symbol, quantity|quote_amount, allocation?}` → 201,
///   `GET /api/v1/agents`, `GET /api/v1/agents/tree`, `DELETE /api/v1/agents/{id}`
/// - `POST /api/v1/deposits/intent` `{"asset"?}` → 201 `{"reference","asset","fee_rate"}`;
///   `GET /api/v1/deposits/suspense` (admin); `POST /api/v1/deposits/suspense/{key}/assign` (admin)
///   `{"user"}` → the assignment, 409 `already_assigned`; `POST /api/v1/webhooks/deposit`
///   (HMAC-signed, no bearer: docs/trading.md "Deposits by webhook")
/// - `POST /api/v1/withdrawals` `{"amount","asset"?,"destination"}` → 201; `GET /api/v1/withdrawals`
///   (the user's); admin: `GET /api/v1/withdrawals/all`, `POST /api/v1/withdrawals/{id}/approve|reject`
/// - `GET /api/v1/ledger/balances` → the user's ledger balances and `reconciled`
/// - `GET /api/v1/risk` → the user's risk limits, day P&L and circuit breaker; admin:
///   `GET /api/v1/admin/users/{id}/risk`, `PUT /api/v1/admin/users/{id}/risk/limits`,
///   `POST /api/v1/admin/users/{id}/risk/reset`
///
/// Errors (docs/trading.md): 400 `bad_request` (names the field), `unknown_venue`, `unknown_symbol`,
/// `unknown_asset`; 401 `unauthorized` (missing, malformed, expired or forged token), 403
/// `forbidden` (a user token on an admin endpoint), 404 `unknown_user` / `no_order` / `no_agent`,
/// 409 `user_exists`, 422 `pretrade_rejected`, `amount_overflow` (an amount beyond the ledger's
/// range: nothing changed), `ledger_invariant`; 503 `auth_not_configured`.
public func addServiceRoutes<Context: RequestContext>(to router: some RouterMethods<Context>, services: ServiceSuite) {
    let api = ServiceAPI(services: services)
    router.post("/api/v1/users") { req, ctx in await api.run { try await api.createUser(req, ctx) } }
    router.post("/api/v1/users/{id}/deposit") { req, ctx in await api.run { try await api.deposit(req, ctx) } }
    router.post("/api/v1/users/{id}/token") { req, ctx in await api.run { try await api.token(req, ctx) } }
    router.post("/api/v1/trading/execute") { req, ctx in await api.run { try await api.execute(req, ctx) } }
    router.get("/api/v1/trading/orders") { req, ctx in await api.run { try await api.orders(req) } }
    router.delete("/api/v1/trading/orders/{id}") { req, ctx in await api.run { try await api.cancel(req, ctx) } }
    router.get("/api/v1/trading/history") { req, ctx in await api.run { try await api.history(req) } }
    router.get("/api/v1/trading/portfolio") { req, ctx in await api.run { try await api.portfolio(req) } }
    router.get("/api/v1/mood/current") { req, ctx in await api.run { try await api.moodCurrent(req) } }
    router.get("/api/v1/mood/history") { req, ctx in await api.run { try await api.moodHistory(req) } }
    router.post("/api/v1/agents") { req, ctx in await api.run { try await api.enableAgent(req, ctx) } }
    router.get("/api/v1/agents") { req, ctx in await api.run { try await api.listAgents(req) } }
    router.get("/api/v1/agents/tree") { req, ctx in await api.run { try await api.agentTree(req) } }
    router.delete("/api/v1/agents/{id}") { req, ctx in await api.run { try await api.disableAgent(req, ctx) } }
    router.post("/api/v1/deposits/intent") { req, ctx in await api.run { try await api.depositIntent(req) } }
    router.get("/api/v1/deposits/suspense") { req, ctx in await api.run { try await api.suspenseDeposits(req) } }
    router.post("/api/v1/deposits/suspense/{key}/assign") { req, ctx in await api.run { try await api.assignSuspense(req, ctx) } }
    router.post("/api/v1/webhooks/deposit") { req, ctx in await api.run { try await api.depositWebhook(req) } }
    router.post("/api/v1/withdrawals") { req, ctx in await api.run { try await api.requestWithdrawal(req) } }
    router.get("/api/v1/withdrawals") { req, ctx in await api.run { try await api.listWithdrawals(req, all: false) } }
    router.get("/api/v1/withdrawals/all") { req, ctx in await api.run { try await api.listWithdrawals(req, all: true) } }
    router.post("/api/v1/withdrawals/{id}/approve") { req, ctx in await api.run { try await api.decideWithdrawal(req, ctx, approve: true) } }
    router.post("/api/v1/withdrawals/{id}/reject") { req, ctx in await api.run { try await api.decideWithdrawal(req, ctx, approve: false) } }
    router.get("/api/v1/ledger/balances") { req, ctx in await api.run { try await api.ledgerBalances(req) } }
    router.get("/api/v1/risk") { req, ctx in await api.run { try await api.riskOfUser(req) } }
    router.get("/api/v1/admin/users/{id}/risk") { req, ctx in await api.run { try await api.riskAdmin(req, ctx) } }
    router.put("/api/v1/admin/users/{id}/risk/limits") { req, ctx in await api.run { try await api.riskSetLimits(req, ctx) } }
    router.post("/api/v1/admin/users/{id}/risk/reset") { req, ctx in await api.run { try await api.riskReset(req, ctx) } }
}

struct ServiceAPI: Sendable {
    let services: ServiceSuite
    static let maxBody = 64 * 1024

    func run(_ body: () async throws -> Response) async -> Response { await APIError.respond(body) }

    // MARK: auth

    private func bearer(_ req: Request) -> String? {
        guard let h = req.headers[.authorization] else { return nil }
        let prefix = "Bearer "
        guard h.hasPrefix(prefix) else { return nil }
        return String(h.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
    }

    private func authority() throws(APIError) -> TokenAuthority {
        guard let a = services.authority else {
            throw APIError(.serviceUnavailable, code: "auth_not_configured", message: "no JWT secret is configured (services.jwt_secret)")
        }
        return a
    }

    /// The user a request's token was issued to.
    func user(_ req: Request) async throws -> String {
        let a = try authority()
        guard let token = bearer(req) else {
            throw APIError(.unauthorized, code: "unauthorized", message: "missing bearer token (Authorization: Bearer <JWT>)")
        }
        switch await a.verify(token) {
        case .success(let user):
            // An agent's sub-account (`user/agent`) is never a token's user.
            guard !SubAccount.isSubAccount(user), services.execution.account(user) != nil else {
                throw APIError(.unauthorized, code: "unauthorized", message: "the token's user does not exist")
            }
            return user
        case .failure(let f):
            throw APIError(.unauthorized, code: "unauthorized", message: f.message)
        }
    }

    func admin(_ req: Request) async throws {
        let a = try authority()
        guard let token = bearer(req) else {
            throw APIError(.unauthorized, code: "unauthorized", message: "missing bearer token (Authorization: Bearer <admin token>)")
        }
        guard a.isAdmin(token) else {
            if case .success = await a.verify(token) {
                throw APIError(.forbidden, code: "forbidden", message: "user tokens cannot manage users")
            }
            throw APIError(.unauthorized, code: "unauthorized", message: "not the admin token")
        }
    }

    func fields(_ req: Request) async throws -> JSONFields {
        var req = req
        let body: ByteBuffer
        do { body = try await req.collectBody(upTo: Self.maxBody) } catch {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "request body over \(Self.maxBody) bytes")
        }
        let bytes = body.readableBytes == 0 ? Array("{}".utf8) : Array(body.readableBytesView)
        guard let f = JSONFields(bytes) else { throw APIError.badRequest("bad_json", "the body must be one JSON object") }
        return f
    }

    private func limit(_ req: Request, default d: Int = 100) throws -> Int {
        guard let text = req.uri.queryParameters.get("limit") else { return d }
        guard let n = Int(text), (1...5000).contains(n) else { throw APIError.badRequest("bad_limit", "limit must be 1...5000") }
        return n
    }

    static func json(_ status: HTTPResponse.Status = .ok, _ write: (inout JSONWriter) -> Void) -> Response {
        var w = JSONWriter()
        write(&w)
        return .json(status, w.bytes)
    }

    // MARK: users (admin)

    func createUser(_ req: Request, _ ctx: some RequestContext) async throws -> Response {
        try await admin(req)
        let f = try await fields(req)
        let id = f.string("id") ?? "u" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        guard id.count <= 64, !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
            throw APIError.badRequest("bad_request", "id: 1–64 characters of A–Z, a–z, 0–9, _ and - (it names the user's channels)")
        }
        let name = f.string("name") ?? ""
        guard name.unicodeScalars.count <= 100, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw APIError.badRequest("bad_request", "name: at most 100 characters, no control characters")
        }
        let user: StoredUser
        do { user = try await services.execution.createUser(id: id, name: name) } catch {
            throw APIError(.conflict, code: "user_exists", message: "user '\(id)' exists")
        }
        let token = try await authority().issue(user: id)
        return Self.json(.created) { w in
            w.beginObject()
            w.key("id"); w.string(user.id)
            w.key("name"); w.string(user.name)
            w.key("created"); w.time(user.createdAt, fractionDigits: 3)
            w.key("token"); w.string(token)
            w.endObject()
        }
    }

    func deposit(_ req: Request, _ ctx: some RequestContext) async throws -> Response {
        try await admin(req)
        let id = ctx.parameters.get("id") ?? ""
        let f = try await fields(req)
        guard let amount = try Self.decimal(f, "amount"), amount.isPositive else {
            throw APIError.badRequest("bad_request", "amount: required, positive")
        }
        let asset = (f.string("asset") ?? services.execution.options.cashAsset).uppercased()
        let balance: WideDecimal
        do {
            balance = try await services.execution.deposit(user: id, asset: asset, amount: amount)
        } catch {
            switch error {
            case .unknown, .exists: throw APIError(.notFound, code: "unknown_user", message: "no user '\(id)'")
            case .invalid(let e): throw Self.fieldError(e)
            case .refused(let e): throw Self.ledgerError(e)
            }
        }
        return Self.json { w in
            w.beginObject()
            w.key("user"); w.string(id)
            w.key("asset"); w.string(asset)
            w.key("balance"); w.decimal(balance)
            w.endObject()
        }
    }

    func token(_ req: Request, _ ctx: some RequestContext) async throws -> Response {
        try await admin(req)
        let id = ctx.parameters.get("id") ?? ""
        guard !SubAccount.isSubAccount(id), services.execution.account(id) != nil else {
            throw APIError(.notFound, code: "unknown_user", message: "no user '\(id)'")
        }
        let token = try await authority().issue(user: id)
        return Self.json { w in
            w.beginObject()
            w.key("user"); w.string(id)
            w.key("token"); w.string(token)
            w.endObject()
        }
    }

    // MARK: deposits

    func depositIntent(_ req: Request) async throws -> Response {
        let user = try await user(req)
        let f = try await fields(req)
        let asset = f.string("asset") ?? services.execution.options.cashAsset
        if let problem = services.execution.assetProblem(asset) { throw Self.fieldError(problem) }
        let intent: StoredDepositIntent
        do { intent = try await services.deposits.createIntent(user: user, asset: asset) } catch {
            throw APIError(.serviceUnavailable, code: "store_unavailable", message: "the reference could not be stored: \(error)")
        }
        return Self.json(.created) { w in
            w.beginObject()
            w.key("reference"); w.string(intent.reference)
            w.key("asset"); w.string(intent.asset)
            w.key("fee_rate"); w.decimal(services.deposits.options.feeRate)
            w.endObject()
        }
    }

    func suspenseDeposits(_ req: Request) async throws -> Response {
        try await admin(req)
        let held = services.deposits.suspense()
        return Self.json { w in
            w.beginObject()
            w.key("deposits")
            w.beginArray()
            for d in held {
                w.beginObject()
                w.key("key"); w.string(d.key)
                w.key("received"); w.time(d.received, fractionDigits: 3)
                for (k, v) in [("tx_hash", d.txHash), ("reference", d.reference), ("asset", d.asset)] {
                    w.key(string: k)
                    if let v { w.string(v) } else { w.null() }
                }
                w.key("amount")
                if let a = d.amount { w.decimal(a) } else { w.null() }
                w.key("reason"); w.string(d.reason)
                w.key("body"); w.string(d.body)
                w.key("assignment")
                if let a = services.deposits.assignment(d.key) { Self.write(a, into: &w) } else { w.null() }
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
    }

    func assignSuspense(_ req: Request, _ ctx: some RequestContext) async throws -> Response {
        try await admin(req)
        let key = ctx.parameters.get("key") ?? ""
        let f = try await fields(req)
        guard let user = f.string("user"), !user.isEmpty else { throw APIError.badRequest("bad_request", "user: required, the id of the user to credit") }
        let a: DepositService.Assignment
        do throws(DepositService.AssignError) { a = try await services.deposits.assign(key: key, to: user) } catch {
            switch error {
            case .notFound: throw APIError(.notFound, code: "no_suspense_deposit", message: "no deposit '\(key)' is held in suspense")
            case .unknownUser: throw APIError(.notFound, code: "unknown_user", message: "no user '\(user)'")
            case .alreadyAssigned(let earlier):
                let to = earlier.map { " to '\($0.user)' (transaction \($0.transaction))" } ?? ""
                throw APIError(.conflict, code: "already_assigned", message: "suspense deposit '\(key)' was assigned already\(to); nothing changed")
            case .notAssignable(let why): throw APIError(.unprocessableContent, code: "not_assignable", message: why)
            case .refused(let why): throw APIError(.unprocessableContent, code: "ledger_invariant", message: why)
            }
        }
        return Self.json { w in Self.write(a, into: &w) }
    }

    static func write(_ a: DepositService.Assignment, into w: inout JSONWriter) {
        w.beginObject()
        w.key("key"); w.string(a.key)
        w.key("user"); w.string(a.user)
        w.key("asset"); w.string(a.asset)
        w.key("amount"); w.decimal(a.amount)
        w.key("fee"); w.decimal(a.fee)
        w.key("credited"); w.decimal(a.credited)
        w.key("transaction"); w.string(a.transaction)
        w.key("time"); w.time(a.time, fractionDigits: 3)
        if let b = a.balance {
            w.key("balance"); w.decimal(b)
        }
        w.key("stored"); w.bool(a.stored)
        w.endObject()
    }

    func depositWebhook(_ req: Request) async throws -> Response {
        var req = req
        let buffer: ByteBuffer
        do { buffer = try await req.collectBody(upTo: Self.maxBody) } catch {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "request body over \(Self.maxBody) bytes")
        }
        let body = Array(buffer.readableBytesView)
        let deposits = services.deposits
        if let failure = deposits.authenticate(
            timestamp: req.headers[HTTPField.Name("X-Deposit-Timestamp")!], signature: req.headers[HTTPField.Name("X-Deposit-Signature")!],
            body: body, now: services.execution.now)
        {
            let (status, code): (HTTPResponse.Status, String) =
                switch failure {
                case .notConfigured: (.serviceUnavailable, "webhook_not_configured")
                case .badSignature: (.unauthorized, "bad_signature")
                case .staleTimestamp: (.unauthorized, "stale_timestamp")
                }
            Counter(label: "deposit_webhooks_total", dimensions: [("result", code)]).increment()
            throw APIError(status, code: code, message: failure.description)
        }
        let outcome: DepositService.Outcome
        do { outcome = try await deposits.receive(body: body) } catch {
            Counter(label: "deposit_webhooks_total", dimensions: [("result", "store_unavailable")]).increment()
            throw APIError(.serviceUnavailable, code: "store_unavailable", message: "the deposit could not be kept; deliver it again: \(error)")
        }
        // Credited in memory but not stored within 5 s: the wallet delivers again (then a duplicate,
        // or credited anew if a crash lost it), so an acknowledged deposit is a stored one.
        if case .credited(_, _, _, _, false) = outcome {
            throw APIError(.serviceUnavailable, code: "store_unavailable", message: "the deposit is not stored yet; deliver it again")
        }
        return Self.json { w in
            w.beginObject()
            switch outcome {
            case .credited(let hash, let asset, let amount, let fee, let stored):
                w.key("status"); w.string("credited")
                w.key("tx_hash"); w.string(hash)
                w.key("asset"); w.string(asset)
                w.key("amount"); w.decimal(amount)
                w.key("fee"); w.decimal(fee)
                w.key("stored"); w.bool(stored)
            case .duplicate(let hash):
                w.key("status"); w.string("duplicate")
                w.key("tx_hash"); w.string(hash)
            case .suspense(let key, let reason):
                w.key("status"); w.string("suspense")
                w.key("key"); w.string(key)
                w.key("reason"); w.string(reason)
            }
            w.endObject()
        }
    }

    // MARK: trading

    func execute(_ req: Request, _ ctx: some RequestContext) async throws -> Response {
        let user = try await user(req)
        let body = try await fields(req)
        let request = try Self.order(body)
        switch await services.execution.execute(user: user, request: request) {
        case .accepted(let id, let fills, let resting, let checks, let stored):
            return Self.json { w in
                w.beginObject()
                w.key("order_id"); w.string(id)
                w.key("status"); w.string(resting == nil ? "filled" : fills.isEmpty ? "resting" : "partially_filled")
                w.key("fills")
                w.beginArray()
                for f in fills { f.writeJSON(into: &w) }
                w.endArray()
                w.key("resting")
                if let resting { resting.writeJSON(into: &w, status: "resting") } else { w.null() }
                Self.writeChecks(checks, into: &w)
                w.key("stored"); w.bool(stored)
                w.endObject()
            }
        case .rejected(let checks):
            let failed = checks.filter { !$0.passed }
            return Self.json(.unprocessableContent) { w in
                w.beginObject()
                w.key("error")
                w.beginObject()
                w.key("code"); w.string("pretrade_rejected")
                w.key("message"); w.string("pre-trade checks failed: " + failed.map { "\($0.check) (\($0.detail))" }.joined(separator: "; "))
                Self.writeChecks(checks, into: &w)
                w.endObject()
                w.endObject()
            }
        case .unknownUser:
            throw APIError(.unauthorized, code: "unauthorized", message: "the token's user does not exist")
        case .invalid(let e):
            throw Self.fieldError(e)
        case .refused(let e):
            throw Self.ledgerError(e)
        }
    }

    static func fieldError(_ e: FieldError) -> APIError { APIError.badRequest(e.code, e.description) }

    /// 422: the request was understood, and the ledger refused it; nothing changed.
    static func ledgerError(_ e: LedgerError) -> APIError { APIError(.unprocessableContent, code: e.code.rawValue, message: e.message) }

    static func decimal(_ f: JSONFields, _ key: String) throws(APIError) -> WideDecimal? {
        do { return try f.decimal(key) } catch { throw APIError.badRequest("bad_request", error.description) }
    }

    static func order(_ f: JSONFields) throws(APIError) -> OrderRequest {
        do { return try OrderRequest(json: f) } catch { throw APIError.badRequest("bad_request", error.description) }
    }

    static func writeChecks(_ checks: [CheckResult], into w: inout JSONWriter) {
        w.key("checks")
        w.beginArray()
        for c in checks {
            w.beginObject()
            w.key("check"); w.string(c.check)
            w.key("passed"); w.bool(c.passed)
            w.key("detail"); w.string(c.detail)
            w.endObject()
        }
        w.endArray()
    }

    func orders(_ req: Request) async throws -> Response {
        let user = try await user(req)
        let orders = services.execution.restingOrders(user: user)
        return Self.json { w in
            w.beginObject()
            w.key("orders")
            w.beginArray()
            for o in orders { o.writeJSON(into: &w, status: "resting") }
            w.endArray()
            w.endObject()
        }
    }

    func cancel(_ req: Request, _ ctx: some RequestContext) async throws -> Response {
        let user = try await user(req)
        let id = ctx.parameters.get("id") ?? ""
        guard let order = await services.execution.cancel(user: user, orderID: id) else {
            throw APIError(.notFound, code: "no_order", message: "no resting order '\(id)' of yours")
        }
        return Self.json { w in order.writeJSON(into: &w, status: "canceled") }
    }

    func history(_ req: Request) async throws -> Response {
        let user = try await user(req)
        let limit = try limit(req)
        let fills: [PaperFill]
        if let store = services.store {
            let stored: [StoredPaperFill]
            do { stored = try await store.paperFills(userID: user, since: nil, limit: limit) } catch { throw APIError.storeUnavailable(error) }
            // The store holds every fill; memory adds what the journal has not written yet.
            let known = Set(stored.map(\.fillID))
            let recent = (services.execution.account(user)?.fills ?? []).filter { !known.contains($0.fillID) }
            let cash = services.execution.options.cashAsset
            fills = Array(
                (recent.reversed() + stored.map { PaperFill(stored: $0, feeAsset: cash) }).prefix(limit))
        } else {
            fills = Array((services.execution.account(user)?.fills ?? []).reversed().prefix(limit))
        }
        return Self.json { w in
            w.beginObject()
            w.key("user"); w.string(user)
            w.key("fills")
            w.beginArray()
            for f in fills { f.writeJSON(into: &w) }
            w.endArray()
            w.endObject()
        }
    }

    func portfolio(_ req: Request) async throws -> Response {
        let user = try await user(req)
        guard let a = services.execution.account(user) else { throw APIError(.unauthorized, code: "unauthorized", message: "unknown user") }
        let market = services.execution.market
        return Self.json { w in
            w.beginObject()
            w.key("user"); w.string(user)
            w.key("balances")
            w.beginArray()
            for (asset, amount) in a.balances.sorted(by: { $0.key < $1.key }) {
                w.beginObject()
                w.key("asset"); w.string(asset)
                w.key("amount"); w.decimal(amount)
                w.key("reserved"); w.decimal(a.reserved[asset] ?? .zero)
                w.key("available"); w.decimal(a.available(asset))
                w.endObject()
            }
            w.endArray()
            w.key("positions")
            w.beginArray()
            var unrealizedTotal = WideDecimal.zero
            for (key, p) in a.positions.sorted(by: { $0.key < $1.key }) where p.qty.isPositive || !p.realizedPnL.isZero {
                w.beginObject()
                w.key("venue"); w.string(key.venue)
                w.key("symbol"); w.string(key.symbol)
                w.key("qty"); w.decimal(p.qty)
                w.key("avg_price"); w.decimal(p.averagePrice)
                w.key("cost_basis"); w.decimal(p.costBasis)
                w.key("realized_pnl"); w.decimal(p.realizedPnL)
                let mid = market.mid(key)
                w.key("mid")
                if let mid { w.decimal(mid) } else { w.null() }
                w.key("unrealized_pnl")
                if let mid, let v = p.qty.multiplied(by: mid), let u = v.subtracting(p.costBasis) {
                    w.decimal(u)
                    unrealizedTotal = unrealizedTotal.adding(u) ?? unrealizedTotal
                } else {
                    w.null()
                }
                w.endObject()
            }
            w.endArray()
            w.key("unrealized_pnl"); w.decimal(unrealizedTotal)
            w.key("performance")
            w.beginArray()
            for (asset, m) in a.performance.sorted(by: { $0.key < $1.key }) {
                w.beginObject()
                w.key("asset"); w.string(asset)
                w.key("realized_pnl"); w.decimal(m.realized)
                w.key("high_water_mark"); w.decimal(m.highWaterMark)
                w.key("fees_paid"); w.decimal(m.feesPaid)
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
    }

    // MARK: mood

    func moodCurrent(_ req: Request) async throws -> Response {
        let user = try await user(req)
        let current = services.mood.current(user)
        let reading = current?.reading ?? services.mood.recompute(user)
        let time = current?.time ?? services.execution.now
        guard let reading else { throw APIError(.notFound, code: "unknown_user", message: "no mood for '\(user)'") }
        return Self.json { w in reading.writeJSON(into: &w, user: user, time: time) }
    }

    func moodHistory(_ req: Request) async throws -> Response {
        let user = try await user(req)
        let limit = try limit(req)
        guard let store = services.store else {
            throw APIError(.serviceUnavailable, code: "store_unavailable", message: "mood history needs a store")
        }
        let rows: [StoredMood]
        do { rows = try await store.moodHistory(userID: user, limit: limit) } catch { throw APIError.storeUnavailable(error) }
        return Self.json { w in
            w.beginObject()
            w.key("user"); w.string(user)
            w.key("history")
            w.beginArray()
            for r in rows {
                w.beginObject()
                w.key("ts"); w.time(r.time, fractionDigits: 3)
                w.key("score"); w.decimal(r.score)
                w.key("state"); w.string(r.state)
                w.key("factors"); w.raw(json: Array(r.factorsJSON.utf8))
                w.key("reason"); w.string(r.reason)
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
    }

    // MARK: agents

    func enableAgent(_ req: Request, _ ctx: some RequestContext) async throws -> Response {
        let user = try await user(req)
        let f = try await fields(req)
        guard let strategy = f.string("strategy"), services.signals.configs.contains(where: { $0.name == strategy }) else {
            if let id = f.string("strategy"), id.hasPrefix("stg_") {
                throw APIError.badRequest(
                    "bad_request", "strategy: \(id) is not a registered strategy that passed its check (GET /api/v1/strategies/\(id))")
            }
            let known = Set(services.signals.configs.filter { $0.label == nil }.map(\.name)).sorted()
            throw APIError.badRequest("bad_request", "strategy: one of the configured strategies \(known)")
        }
        guard let venue = f.string("venue")?.lowercased(), let symbol = f.string("symbol")?.uppercased() else {
            throw APIError.badRequest("bad_request", "venue and symbol are required")
        }
        if let problem = services.execution.instrumentProblem(venue: venue, symbol: symbol) { throw Self.fieldError(problem) }
        if strategy.hasPrefix("stg_"), !services.signals.configs.contains(where: { $0.name == strategy && $0.venue == venue && $0.symbol == symbol }) {
            throw APIError.badRequest("bad_request", "strategy: \(strategy) does not trade \(venue):\(symbol) (see its instruments)")
        }
        let quantity = try Self.decimal(f, "quantity")
        let quote = try Self.decimal(f, "quote_amount")
        guard (quantity == nil) != (quote == nil), let size = quantity ?? quote, size.isPositive else {
            throw APIError.badRequest("bad_request", "give a positive quantity or quote_amount (the size of each order), not both")
        }
        do { _ = try Money.checked(size, "agent order size \(size)") } catch { throw Self.ledgerError(error) }
        let agent: Agent
        if let allocation = try Self.decimal(f, "allocation") {
            do { _ = try Money.checked(allocation, "allocation \(allocation)") } catch { throw Self.ledgerError(error) }
            do {
                agent = try await services.agents.create(
                    user: user, strategy: strategy, venue: venue, symbol: symbol, quantity: quantity, quoteAmount: quote, allocation: allocation)
            } catch { throw Self.agentError(error) }
        } else {
            agent = await services.agents.enable(user: user, strategy: strategy, venue: venue, symbol: symbol, quantity: quantity, quoteAmount: quote)
        }
        return Self.json(.created) { w in agent.writeJSON(into: &w) }
    }

    /// 404 `unknown_user`, 400 for a bad field, 422 when the ledger refuses (short funds, open orders).
    static func agentError(_ e: AgentError) -> APIError {
        switch e {
        case .unknownUser: APIError(.notFound, code: "unknown_user", message: "the user does not exist")
        case .notFound: APIError(.notFound, code: "no_agent", message: "no such agent of yours")
        case .invalid(let f): fieldError(f)
        case .refused(let l): ledgerError(l)
        }
    }

    func agentTree(_ req: Request) async throws -> Response {
        let user = try await user(req)
        let tree = services.agents.tree(user: user)
        return Self.json { w in tree.writeJSON(into: &w) }
    }

    func listAgents(_ req: Request) async throws -> Response {
        let user = try await user(req)
        let agents = services.agents.agents(user: user)
        return Self.json { w in
            w.beginObject()
            w.key("agents")
            w.beginArray()
            for a in agents { a.writeJSON(into: &w) }
            w.endArray()
            w.endObject()
        }
    }

    func disableAgent(_ req: Request, _ ctx: some RequestContext) async throws -> Response {
        let user = try await user(req)
        let id = ctx.parameters.get("id") ?? ""
        let removed: Agent?
        do { removed = try await services.agents.disable(user: user, id: id) } catch { throw Self.agentError(error) }
        guard let a = removed else {
            throw APIError(.notFound, code: "no_agent", message: "no agent '\(id)' of yours")
        }
        return Self.json { w in a.writeJSON(into: &w) }
    }
}
