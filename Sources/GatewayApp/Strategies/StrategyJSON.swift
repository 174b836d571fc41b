import Foundation
import MarketCore
import Services
import Storage

/// A strategy definition as JSON (docs/strategies.md). Parameter values may be strings or numbers;
/// numbers keep their exact text.
struct StrategyUpload {
    var definition: StrategyDefinition
    var parent: String?

    static func parse(_ bytes: [UInt8]) throws(APIError) -> StrategyUpload {
        guard let f = JSONFields(bytes) else { throw APIError.badRequest("bad_json", "the body must be one JSON object") }
        let known: Set<String> = ["name", "version", "kind", "parameters", "instruments", "intervals", "parent"]
        if let unknown = f.values.keys.sorted().first(where: { !known.contains($0) }) {
            throw APIError.badRequest("bad_request", "\(unknown): unknown field (known: \(known.sorted().joined(separator: ", ")))")
        }
        guard let name = f.string("name") else { throw APIError.badRequest("bad_request", "name: required, a string") }
        guard let kindText = f.string("kind"), let kind = StrategyDefinition.Kind(rawValue: kindText) else {
            let kinds = StrategyDefinition.Kind.allCases.map(\.rawValue).joined(separator: ", ")
            throw APIError.badRequest("bad_request", "kind: required, one of \(kinds)")
        }
        var version = 1
        if case .number(let text)? = f["version"] {
            guard let v = Int(text) else { throw APIError.badRequest("bad_request", "version: a whole number") }
            version = v
        } else if f["version"] != nil {
            throw APIError.badRequest("bad_request", "version: a whole number")
        }
        var parameters: [String: String] = [:]
        switch f["parameters"] {
        case nil, .null?: break
        case .nested(let text)?:
            guard let p = JSONFields(Array(text.utf8)) else {
                throw APIError.badRequest("bad_request", "parameters: an object of names to numbers")
            }
            for (key, value) in p.values {
                switch value {
                case .number(let n), .string(let n): parameters[key] = n
                default: throw APIError.badRequest("bad_request", "parameters.\(key): a number")
                }
            }
        default: throw APIError.badRequest("bad_request", "parameters: an object of names to numbers")
        }
        let instruments = try strings(f, "instruments", required: true)
        let intervals = try strings(f, "intervals", required: false) ?? ["1m"]
        let parent: String?
        switch f["parent"] {
        case nil, .null?: parent = nil
        case .string(let p)?: parent = p
        default: throw APIError.badRequest("bad_request", "parent: a strategy id")
        }
        return StrategyUpload(
            definition: StrategyDefinition(
                name: name, version: version, kind: kind, parameters: parameters, instruments: instruments ?? [], intervals: intervals),
            parent: parent)
    }

    private static func strings(_ f: JSONFields, _ key: String, required: Bool) throws(APIError) -> [String]? {
        switch f[key] {
        case nil, .null?:
            if required { throw APIError.badRequest("bad_request", "\(key): required, an array of strings") }
            return nil
        case .nested(let text)?:
            guard let array = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any],
                let list = array as? [String]
            else { throw APIError.badRequest("bad_request", "\(key): an array of strings") }
            return list
        default: throw APIError.badRequest("bad_request", "\(key): an array of strings")
        }
    }
}

extension StrategyDefinition {
    func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("name"); w.string(name)
        w.key("version"); w.int(Int64(version))
        w.key("kind"); w.string(kind.rawValue)
        w.key("parameters"); w.beginObject()
        for key in parameters.keys.sorted() { w.key(string: key); w.string(parameters[key]!) }
        w.endObject()
        w.key("instruments"); w.beginArray(); for i in instruments { w.string(i) }; w.endArray()
        w.key("intervals"); w.beginArray(); for i in intervals { w.string(i) }; w.endArray()
        w.endObject()
    }
}

extension RegisteredStrategy {
    func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.string(id)
        w.key("content_hash"); w.string(contentHash)
        w.key("creator"); w.string(creator)
        w.key("parent"); if let parent { w.string(parent) } else { w.null() }
        w.key("generation"); w.int(Int64(generation))
        w.key("created"); w.time(created, fractionDigits: 3)
        w.key("definition"); definition.writeJSON(into: &w)
        w.key("check"); w.beginObject()
        w.key("passed"); w.bool(check.passed)
        w.key("reasons"); w.beginArray(); for r in check.reasons { w.string(r) }; w.endArray()
        w.key("round_trips"); w.int(Int64(check.trades))
        w.key("max_drawdown"); w.decimal(check.maxDrawdown)
        w.key("total_return"); w.decimal(check.totalReturn)
        w.key("candles"); w.int(Int64(check.candles))
        w.endObject()
        w.endObject()
    }
}

/// One instrument and interval of a backtest, as the CLI and the endpoint print it.
struct BacktestReport {
    var instrument: String
    var interval: String
    var candles: Int
    var result: BacktestResult
    var risk: MonteCarloRisk?

    func writeJSON(into w: inout JSONWriter, equity: Bool) {
        w.beginObject()
        w.key("instrument"); w.string(instrument)
        w.key("interval"); w.string(interval)
        w.key("candles"); w.int(Int64(candles))
        w.key("trades"); w.beginArray()
        for t in result.trades {
            w.beginObject()
            w.key("time"); w.time(t.time, fractionDigits: 3)
            w.key("side"); w.string(t.side.text)
            w.key("price"); w.decimal(t.price)
            w.key("quantity"); w.decimal(t.quantity)
            w.key("fee"); w.decimal(t.fee)
            w.key("cash"); w.decimal(t.cash)
            w.key("reason"); w.string(t.reason)
            w.endObject()
        }
        w.endArray()
        if equity {
            w.key("equity"); w.beginArray(); for e in result.equity { w.decimal(e) }; w.endArray()
        }
        w.key("final_equity"); w.decimal(result.finalEquity)
        w.key("total_return"); w.decimal(result.totalReturn)
        w.key("max_drawdown"); w.decimal(result.maxDrawdown)
        w.key("round_trip_returns"); w.beginArray(); for r in result.roundTripReturns { w.decimal(r) }; w.endArray()
        w.key("sharpe"); writeRatio(result.sharpe, into: &w)
        w.key("risk")
        if let risk {
            w.beginObject()
            w.key("paths"); w.int(Int64(risk.paths))
            w.key("var_95"); writeRatio(risk.var95, into: &w)
            w.key("cvar_95"); writeRatio(risk.cvar95, into: &w)
            w.key("var_99"); writeRatio(risk.var99, into: &w)
            w.key("cvar_99"); writeRatio(risk.cvar99, into: &w)
            w.endObject()
        } else {
            w.null()
        }
        w.endObject()
    }

    /// Statistics (not amounts) rounded to 6 digits; `null` when not finite or absent.
    private func writeRatio(_ x: Double?, into w: inout JSONWriter) {
        guard let x, x.isFinite else { return w.null() }
        w.raw(json: Array(String(format: "%.6f", x).utf8))
    }
}

/// The closed candles of `venue:SYMBOL` from a store, oldest first, paging through its limit.
func storeHistory(_ store: any MarketStore) -> StrategyRegistry.History {
    { instrument, intervalName, from, to in
        guard let (venue, symbol) = StrategyDefinition.instrument(instrument), let interval = Interval(intervalName) else { return [] }
        var out: [BacktestBar] = []
        var cursor = from
        while true {
            let page = try await store.candles(
                CandleQuery(venue: venue, symbol: symbol, interval: interval, from: cursor, to: to, limit: CandleQuery.maxLimit))
            out.append(contentsOf: page.map { BacktestBar(time: $0.start, close: $0.close) })
            guard page.count == CandleQuery.maxLimit, let last = page.last else { break }
            cursor = UnixNanos(last.start.rawValue + 1)
        }
        return out
    }
}
