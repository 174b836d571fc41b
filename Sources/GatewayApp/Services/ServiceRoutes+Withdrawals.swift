import Hummingbird
import MarketCore
import Services
import Storage

/// Withdrawals and the user's ledger balances (docs/trading.md "Withdrawals").
extension ServiceAPI {
    func requestWithdrawal(_ req: Request) async throws -> Response {
        let user = try await user(req)
        let f = try await fields(req)
        guard let amount = try Self.decimal(f, "amount"), amount.isPositive else {
            throw APIError.badRequest("bad_request", "amount: required, a positive decimal string")
        }
        let asset: String
        if f["asset"] == nil {
            asset = services.execution.options.cashAsset
        } else if let a = f.string("asset") {
            asset = a
        } else {
            throw APIError.badRequest("bad_request", "asset: must be a string")
        }
        guard let destination = f.string("destination"), !destination.isEmpty, destination.count <= 200,
            !destination.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw APIError.badRequest("bad_request", "destination: required, 1–200 characters, no control characters")
        }
        let w: StoredWithdrawal
        do {
            w = try await services.execution.requestWithdrawal(user: user, asset: asset, amount: amount, destination: destination)
        } catch {
            throw Self.withdrawalError(error, id: nil)
        }
        return Self.json(.created) { out in Self.write(w, into: &out) }
    }

    func listWithdrawals(_ req: Request, all: Bool) async throws -> Response {
        let user: String? = all ? nil : try await self.user(req)
        if all { try await admin(req) }
        let list = services.execution.withdrawals(user: user)
        return Self.json { w in
            w.beginObject()
            w.key("withdrawals")
            w.beginArray()
            for x in list { Self.write(x, into: &w) }
            w.endArray()
            w.endObject()
        }
    }

    func decideWithdrawal(_ req: Request, _ ctx: some RequestContext, approve: Bool) async throws -> Response {
        try await admin(req)
        let id = ctx.parameters.get("id") ?? ""
        let w: StoredWithdrawal
        do { w = try await services.execution.decideWithdrawal(id: id, approve: approve) } catch {
            throw Self.withdrawalError(error, id: id)
        }
        return Self.json { out in Self.write(w, into: &out) }
    }

    func ledgerBalances(_ req: Request) async throws -> Response {
        let user = try await user(req)
        guard let (balances, reconciled) = services.execution.ledgerBalances(user: user) else {
            throw APIError(.notFound, code: "unknown_user", message: "no user '\(user)'")
        }
        return Self.json { w in
            w.beginObject()
            w.key("user"); w.string(user)
            w.key("balances")
            w.beginArray()
            for (account, amount) in balances {
                w.beginObject()
                w.key("account"); w.string(account.kind.rawValue)
                w.key("asset"); w.string(account.asset)
                w.key("amount"); w.decimal(amount)
                w.endObject()
            }
            w.endArray()
            w.key("reconciled"); w.bool(reconciled)
            w.endObject()
        }
    }

    static func write(_ x: StoredWithdrawal, into w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.string(x.id)
        w.key("user"); w.string(x.userID)
        w.key("asset"); w.string(x.asset)
        w.key("amount"); w.decimal(x.amount)
        w.key("destination"); w.string(x.destination)
        w.key("status"); w.string(x.status.rawValue)
        w.key("requested"); w.time(x.requested, fractionDigits: 3)
        w.key("decided")
        if let d = x.decided { w.time(d, fractionDigits: 3) } else { w.null() }
        w.endObject()
    }

    static func withdrawalError(_ e: ExecutionService.WithdrawalError, id: String?) -> APIError {
        switch e {
        case .invalid(let f): fieldError(f)
        case .unknownUser: APIError(.notFound, code: "unknown_user", message: "the withdrawal's user is not known")
        case .insufficientFunds(let available):
            APIError(.unprocessableContent, code: "insufficient_funds", message: "amount exceeds the available balance (\(available))")
        case .notFound: APIError(.notFound, code: "no_withdrawal", message: "no withdrawal '\(id ?? "")'")
        case .alreadyDecided(let s): APIError(.conflict, code: "already_decided", message: "withdrawal '\(id ?? "")' is \(s.rawValue) already")
        case .refused(let l): ledgerError(l)
        case .dailyLimit(let limit, let used, let requested):
            APIError(
                .unprocessableContent, code: "withdrawal_limit",
                message:
                    "this withdrawal (\(requested) USD) would take today's withdrawals (\(used) USD so far, pending and approved) over the "
                    + "daily limit of \(limit) USD (services.withdrawal_daily_limit_usd); the day resets at 00:00 UTC")
        case .unpriced(let why): APIError(.unprocessableContent, code: "withdrawal_unpriced", message: why)
        }
    }
}
