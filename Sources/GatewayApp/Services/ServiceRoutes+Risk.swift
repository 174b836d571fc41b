import Hummingbird
import MarketCore
import Services
import Storage

/// Risk limits and the circuit breaker (docs/trading.md "Risk limits and the circuit breaker"):
/// `GET /api/v1/risk` (the token's user); admin: `GET /api/v1/admin/users/{id}/risk`,
/// `PUT /api/v1/admin/users/{id}/risk/limits`, `POST /api/v1/admin/users/{id}/risk/reset`.
extension ServiceAPI {
    func riskOfUser(_ req: Request) async throws -> Response {
        let user = try await user(req)
        return riskResponse(user)
    }

    func riskAdmin(_ req: Request, _ ctx: some RequestContext) async throws -> Response {
        try await admin(req)
        return riskResponse(try knownUser(ctx))
    }

    func riskReset(_ req: Request, _ ctx: some RequestContext) async throws -> Response {
        try await admin(req)
        let user = try knownUser(ctx)
        do { try await services.risk.reset(user: user) } catch { throw Self.noUser(user) }
        return riskResponse(user)
    }

    func riskSetLimits(_ req: Request, _ ctx: some RequestContext) async throws -> Response {
        try await admin(req)
        let user = try knownUser(ctx)
        let f = try await fields(req)
        let known: Set<String> = ["max_position_percent", "max_open_orders", "max_order_notional_usd", "max_daily_loss_usd"]
        if let other = f.values.keys.sorted().first(where: { !known.contains($0) }) {
            throw APIError.badRequest("bad_request", "\(other): unknown field (one of \(known.sorted().joined(separator: ", ")))")
        }
        var own = services.execution.risk.overrides(user)
        // Absent: unchanged; null: back to the configured default; else a positive value.
        func decimal(_ key: String, _ current: WideDecimal?) throws(APIError) -> WideDecimal? {
            switch f[key] {
            case nil: return current
            case .null?: return nil
            default:
                guard let d = try Self.decimal(f, key), d.isPositive else {
                    throw APIError.badRequest("bad_request", "\(key): a positive decimal string, or null for the default")
                }
                return d
            }
        }
        own.maxPositionPercent = try decimal("max_position_percent", own.maxPositionPercent)
        own.maxOrderNotionalUSD = try decimal("max_order_notional_usd", own.maxOrderNotionalUSD)
        own.maxDailyLossUSD = try decimal("max_daily_loss_usd", own.maxDailyLossUSD)
        switch f["max_open_orders"] {
        case nil: break
        case .null?: own.maxOpenOrders = nil
        case .number(let text)?, .string(let text)?:
            guard let n = Int(text), (1...1_000_000).contains(n) else {
                throw APIError.badRequest("bad_request", "max_open_orders: an integer 1…1000000, or null for the default")
            }
            own.maxOpenOrders = n
        default:
            throw APIError.badRequest("bad_request", "max_open_orders: an integer 1…1000000, or null for the default")
        }
        do { try await services.risk.setLimits(user: user, own) } catch { throw Self.noUser(user) }
        return riskResponse(user)
    }

    private func knownUser(_ ctx: some RequestContext) throws -> String {
        let id = ctx.parameters.get("id") ?? ""
        guard services.execution.account(id) != nil else { throw Self.noUser(id) }
        return id
    }

    private static func noUser(_ id: String) -> APIError { APIError(.notFound, code: "unknown_user", message: "no user '\(id)'") }

    /// `{"user","limits":{…},"own_limits":{…},"day_pnl","breaker":{"tripped","tripped_at","loss","reason","trips_at_loss"}}`.
    private func riskResponse(_ user: String) -> Response {
        let book = services.execution.risk
        let now = services.execution.now
        let limits = book.limits(user)
        let own = book.overrides(user)
        let breaker = book.breaker(user)
        let pnl = services.execution.dayPnL(user: user) ?? .zero
        let day = UTCDay.of(now)
        return Self.json { w in
            func write(_ l: RiskLimits) {
                w.beginObject()
                w.key("max_position_percent")
                if let v = l.maxPositionPercent { w.decimal(v) } else { w.null() }
                w.key("max_open_orders")
                if let v = l.maxOpenOrders { w.int(Int64(v)) } else { w.null() }
                w.key("max_order_notional_usd")
                if let v = l.maxOrderNotionalUSD { w.decimal(v) } else { w.null() }
                w.key("max_daily_loss_usd")
                if let v = l.maxDailyLossUSD { w.decimal(v) } else { w.null() }
                w.endObject()
            }
            w.beginObject()
            w.key("user"); w.string(user)
            w.key("limits"); write(limits)
            w.key("own_limits"); write(own)
            w.key("day_pnl"); w.decimal(pnl)
            w.key("breaker")
            w.beginObject()
            let tripped = breaker.isTripped(day: day)
            w.key("tripped"); w.bool(tripped)
            w.key("tripped_at")
            if tripped, let t = breaker.tripped { w.time(t, fractionDigits: 3) } else { w.null() }
            w.key("loss")
            if tripped, let l = breaker.loss { w.decimal(l) } else { w.null() }
            w.key("reason")
            if tripped, let r = breaker.reason { w.string(r) } else { w.null() }
            w.key("trips_at_loss")
            if !tripped, let limit = limits.maxDailyLossUSD { w.decimal(breaker.threshold(limit: limit, day: day)) } else { w.null() }
            w.endObject()
            w.endObject()
        }
    }
}
