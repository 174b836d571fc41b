public import Hummingbird
import Foundation
import MarketCore
import NIOCore
public import Services
import Storage

/// The strategy registry's endpoints (docs/strategies.md). Uploading needs a user token (the
/// uploader is the token's user); reading is open to any user token, since strategies are shared
/// so that others can derive from them.
///
/// - `POST /api/v1/strategies` `{name, version?, kind, parameters?, instruments, intervals?, parent?}`
///   → 201 the registered strategy with its check; 400 `invalid_strategy` (every problem in the
///   message, one per line), 404 `unknown_parent`, 409 `duplicate_strategy`, 503 `history_unavailable`, `store_unavailable`
/// - `GET /api/v1/strategies` → `{"strategies":[…]}`; `GET /api/v1/strategies/{id}` → one, 404 `no_strategy`
/// - `GET /api/v1/strategies/{id}/backtest?from=&to=` → `{"strategy","from","to","runs":[report…]}`
///   for each instrument and interval (ISO-8601 or epoch milliseconds; default the check's window)
public func addStrategyRoutes<Context: RequestContext>(
    to router: some RouterMethods<Context>, services: ServiceSuite, registry: StrategyRegistry, store: any MarketStore
) {
    let api = StrategyAPI(service: ServiceAPI(services: services), registry: registry, store: store)
    router.post("/api/v1/strategies") { req, _ in await api.service.run { try await api.upload(req) } }
    router.get("/api/v1/strategies") { req, _ in await api.service.run { try await api.list(req) } }
    router.get("/api/v1/strategies/{id}") { req, ctx in
        await api.service.run { try await api.one(req, id: ctx.parameters.get("id") ?? "") }
    }
    router.get("/api/v1/strategies/{id}/backtest") { req, ctx in
        await api.service.run { try await api.backtest(req, id: ctx.parameters.get("id") ?? "") }
    }
}

struct StrategyAPI: Sendable {
    let service: ServiceAPI
    let registry: StrategyRegistry
    let store: any MarketStore

    func upload(_ req: Request) async throws -> Response {
        let user = try await service.user(req)
        var req = req
        let body: ByteBuffer
        do { body = try await req.collectBody(upTo: ServiceAPI.maxBody) } catch {
            throw APIError(.contentTooLarge, code: "body_too_large", message: "request body over \(ServiceAPI.maxBody) bytes")
        }
        let upload = try StrategyUpload.parse(Array(body.readableBytesView))
        do {
            let entry = try await registry.upload(upload.definition, creator: user, parent: upload.parent, now: .now())
            // Accepted: it runs live from the next closed candle, on signals.<id>.<SYMBOL>.
            service.services.signals.add(SignalConfig.configs(for: entry))
            return Self.json(.created) { entry.writeJSON(into: &$0) }
        } catch {
            throw Self.apiError(error)
        }
    }

    func list(_ req: Request) async throws -> Response {
        _ = try await service.user(req)
        let all = await registry.all()
        return Self.json(.ok) { w in
            w.beginObject()
            w.key("strategies"); w.beginArray(); for s in all { s.writeJSON(into: &w) }; w.endArray()
            w.endObject()
        }
    }

    func one(_ req: Request, id: String) async throws -> Response {
        _ = try await service.user(req)
        guard let s = await registry.strategy(id) else { throw APIError(.notFound, code: "no_strategy", message: "no strategy \(id)") }
        return Self.json(.ok) { s.writeJSON(into: &$0) }
    }

    func backtest(_ req: Request, id: String) async throws -> Response {
        _ = try await service.user(req)
        guard let s = await registry.strategy(id) else { throw APIError(.notFound, code: "no_strategy", message: "no strategy \(id)") }
        let now = UnixNanos.now()
        let q = req.uri.queryParameters
        let to = try Self.time(q.get("to"), "to") ?? now
        let from = try Self.time(q.get("from"), "from") ?? UnixNanos(to.rawValue - Int64(registry.policy.days) * 86_400_000_000_000)
        guard from < to else { throw APIError.badRequest("bad_range", "from must be before to") }
        let runs: [BacktestReport]
        do {
            runs = try await BacktestRun.run(s.definition, history: storeHistory(store), from: from, to: to, options: registry.policy.backtest)
        } catch {
            throw Self.apiError(error)
        }
        return Self.json(.ok) { w in
            w.beginObject()
            w.key("strategy"); w.string(s.id)
            w.key("from"); w.time(from, fractionDigits: 3)
            w.key("to"); w.time(to, fractionDigits: 3)
            w.key("runs"); w.beginArray(); for r in runs { r.writeJSON(into: &w, equity: true) }; w.endArray()
            w.endObject()
        }
    }

    static func time(_ text: String?, _ name: String) throws(APIError) -> UnixNanos? {
        guard let text else { return nil }
        if let ms = Int64(text) { return .milliseconds(ms) }
        guard let t = UnixNanos.parseISO8601(text) else {
            throw APIError.badRequest("bad_time", "\(name): ISO-8601 UTC (2024-08-08T23:55:00Z) or epoch milliseconds")
        }
        return t
    }

    static func apiError(_ e: StrategyRegistryError) -> APIError {
        switch e.code {
        case .invalid: APIError(.badRequest, code: "invalid_strategy", message: e.message)
        case .duplicate: APIError(.conflict, code: "duplicate_strategy", message: e.message)
        case .unknownParent: APIError(.notFound, code: "unknown_parent", message: e.message)
        case .notFound: APIError(.notFound, code: "no_strategy", message: e.message)
        case .rejected: APIError(.unprocessableContent, code: "strategy_rejected", message: e.message)
        case .unavailable: APIError(.serviceUnavailable, code: "history_unavailable", message: e.message)
        case .notStored: APIError(.serviceUnavailable, code: "store_unavailable", message: e.message)
        }
    }

    static func json(_ status: HTTPResponse.Status, _ write: (inout JSONWriter) -> Void) -> Response {
        var w = JSONWriter()
        write(&w)
        return .json(status, w.bytes)
    }
}

/// A backtest of every instrument and interval of a definition, with the Monte Carlo risk of each.
enum BacktestRun {
    static func run(
        _ definition: StrategyDefinition, history: @escaping StrategyRegistry.History, from: UnixNanos, to: UnixNanos,
        options: BacktestOptions
    ) async throws(StrategyRegistryError) -> [BacktestReport] {
        try await StrategyRegistry.backtest(definition, history: history, from: from, to: to, options: options).map { run in
            BacktestReport(
                instrument: run.instrument, interval: run.interval, candles: run.candles, result: run.result,
                risk: MonteCarloRisk(returns: run.result.roundTripReturns.compactMap { Double($0.description) }))
        }
    }
}

/// `gateway backtest`: a strategy file over a store's candles, as one JSON document on stdout.
public enum BacktestCommand {
    /// - Returns: the JSON document; throws a message naming what is wrong.
    public static func run(
        strategyFile: String, store: any MarketStore, from: String, to: String, cash: String?
    ) async throws -> [UInt8] {
        guard let bytes = FileManager.default.contents(atPath: strategyFile) else {
            throw BacktestCommandError("cannot read \(strategyFile)")
        }
        let upload: StrategyUpload
        do { upload = try StrategyUpload.parse(Array(bytes)) } catch { throw BacktestCommandError("\(strategyFile): \(error.message)") }
        let start: UnixNanos?
        let end: UnixNanos?
        do {
            start = try StrategyAPI.time(from, "--from")
            end = try StrategyAPI.time(to, "--to")
        } catch { throw BacktestCommandError(error.message) }
        guard let start, let end, start < end else { throw BacktestCommandError("--from must be before --to") }
        var options = BacktestOptions()
        if let cash {
            guard let c = WideDecimal.parse(cash), c.isPositive else { throw BacktestCommandError("--cash must be a positive decimal") }
            options.initialCash = c
        }
        let runs: [BacktestReport]
        do {
            runs = try await BacktestRun.run(upload.definition, history: storeHistory(store), from: start, to: end, options: options)
        } catch { throw BacktestCommandError(error.message) }
        var w = JSONWriter()
        w.beginObject()
        w.key("strategy"); (try? upload.definition.validated())?.writeJSON(into: &w)
        w.key("from"); w.time(start, fractionDigits: 3)
        w.key("to"); w.time(end, fractionDigits: 3)
        w.key("initial_cash"); w.decimal(options.initialCash)
        w.key("fee_rate"); w.decimal(options.feeRate)
        w.key("runs"); w.beginArray(); for r in runs { r.writeJSON(into: &w, equity: false) }; w.endArray()
        w.endObject()
        w.bytes.append(0x0A)
        return w.bytes
    }
}

public struct BacktestCommandError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
