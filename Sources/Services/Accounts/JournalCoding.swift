import Foundation
public import MarketCore
public import Storage

/// Journal entries as JSON objects: the payload of a dead letter, and one line of the spill file
/// that holds what a stop could not store (read back and stored at the next start). Decimals and
/// nanosecond times are strings, so nothing is rounded; strings are escaped (`\u0000`).
public enum JournalCoding {
    public static func kind(_ e: AccountJournal.Entry) -> String {
        switch e {
        case .user: "user"
        case .ledger: "ledger"
        case .preTrade: "pretrade"
        case .mood: "mood"
        case .agent: "agent"
        case .agentRemoved: "agent_removed"
        }
    }

    public static func encode(_ e: AccountJournal.Entry) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("kind"); w.string(kind(e))
        switch e {
        case .user(let u):
            w.key("id"); w.string(u.id)
            w.key("name"); w.string(u.name)
            time(&w, "created_ns", u.createdAt)
        case .ledger(let l):
            time(&w, "time_ns", l.time)
            w.key("balances")
            w.beginArray()
            for b in l.balances {
                w.beginObject()
                w.key("user"); w.string(b.userID)
                w.key("asset"); w.string(b.asset)
                decimal(&w, "amount", b.amount)
                w.endObject()
            }
            w.endArray()
            w.key("positions")
            w.beginArray()
            for p in l.positions {
                w.beginObject()
                w.key("user"); w.string(p.userID)
                w.key("venue"); w.string(p.venue)
                w.key("symbol"); w.string(p.symbol)
                decimal(&w, "qty", p.qty)
                decimal(&w, "avg_price", p.avgPrice)
                decimal(&w, "realized_pnl", p.realizedPnL)
                w.endObject()
            }
            w.endArray()
            w.key("fills")
            w.beginArray()
            for f in l.fills { fill(&w, f) }
            w.endArray()
            w.key("orders")
            w.beginArray()
            for o in l.orders { order(&w, o) }
            w.endArray()
            w.key("closed_orders")
            w.beginArray()
            for id in l.closedOrders { w.string(id) }
            w.endArray()
            if !l.ledger.isEmpty {
                w.key("ledger")
                w.beginArray()
                for t in l.ledger { ledgerTransaction(&w, t) }
                w.endArray()
            }
            if !l.withdrawals.isEmpty {
                w.key("withdrawals")
                w.beginArray()
                for x in l.withdrawals { withdrawal(&w, x) }
                w.endArray()
            }
            if !l.marks.isEmpty {
                w.key("marks")
                w.beginArray()
                for m in l.marks { mark(&w, m) }
                w.endArray()
            }
        case .preTrade(let p):
            time(&w, "time_ns", p.time)
            w.key("user"); w.string(p.userID)
            w.key("venue"); w.string(p.venue)
            w.key("symbol"); w.string(p.symbol)
            w.key("passed"); w.bool(p.passed)
            w.key("failures"); w.string(p.failuresJSON)
            w.key("request"); w.string(p.requestJSON)
            w.key("checks"); w.string(p.checksJSON)
        case .mood(let m):
            time(&w, "time_ns", m.time)
            w.key("user"); w.string(m.userID)
            decimal(&w, "score", m.score)
            w.key("state"); w.string(m.state)
            w.key("factors"); w.string(m.factorsJSON)
            w.key("reason"); w.string(m.reason)
        case .agent(let a):
            w.key("id"); w.string(a.id)
            w.key("user"); w.string(a.userID)
            w.key("strategy"); w.string(a.strategy)
            w.key("venue"); w.string(a.venue)
            w.key("symbol"); w.string(a.symbol)
            if let q = a.quantity { decimal(&w, "quantity", q) }
            if let q = a.quoteAmount { decimal(&w, "quote_amount", q) }
            time(&w, "created_ns", a.created)
            w.key("orders"); w.int(Int64(a.orders))
            w.key("rejected"); w.int(Int64(a.rejected))
            if let r = a.lastResult { w.key("last_result"); w.string(r) }
            if let p = a.parentID { w.key("parent"); w.string(p) }
            w.key("generation"); w.int(Int64(a.generation))
            if let x = a.allocation { decimal(&w, "allocation", x) }
            w.key("spawned"); w.int(Int64(a.spawned))
        case .agentRemoved(let id):
            w.key("id"); w.string(id)
        }
        w.endObject()
        return String(decoding: w.bytes, as: UTF8.self)
    }

    private static func time(_ w: inout JSONWriter, _ key: String, _ t: UnixNanos) {
        w.key(string: key)
        w.string(String(t.rawValue))
    }

    private static func decimal(_ w: inout JSONWriter, _ key: String, _ d: WideDecimal) {
        w.key(string: key)
        w.string(d.description)
    }

    private static func fill(_ w: inout JSONWriter, _ f: StoredPaperFill) {
        w.beginObject()
        time(&w, "time_ns", f.time)
        w.key("user"); w.string(f.userID)
        w.key("order_id"); w.string(f.orderID)
        w.key("fill_id"); w.string(f.fillID)
        w.key("venue"); w.string(f.venue)
        w.key("symbol"); w.string(f.symbol)
        w.key("side"); w.string(f.side.text)
        decimal(&w, "qty", f.qty)
        decimal(&w, "price", f.price)
        decimal(&w, "fee", f.fee)
        if let s = f.slippageBps { decimal(&w, "slippage_bps", s) }
        if let r = f.realizedPnL { decimal(&w, "realized_pnl", r) }
        if let d = f.details {
            decimal(&w, "notional", d.notional)
            w.key("levels"); w.int(Int64(d.levels))
            w.key("order_type"); w.string(d.orderType)
            w.key("liquidity"); w.string(d.liquidity)
            decimal(&w, "remaining", d.remaining)
            w.key("fee_asset"); w.string(d.feeAsset)
            if let s = d.source { w.key("source"); w.string(s) }
        }
        w.endObject()
    }

    private static func order(_ w: inout JSONWriter, _ o: StoredRestingOrder) {
        w.beginObject()
        w.key("order_id"); w.string(o.orderID)
        w.key("user"); w.string(o.userID)
        w.key("venue"); w.string(o.venue)
        w.key("symbol"); w.string(o.symbol)
        w.key("side"); w.string(o.side.text)
        decimal(&w, "limit_price", o.limitPrice)
        decimal(&w, "quantity", o.quantity)
        decimal(&w, "remaining", o.remaining)
        decimal(&w, "reserved", o.reserved)
        w.key("reserved_asset"); w.string(o.reservedAsset)
        time(&w, "placed_ns", o.placed)
        if let s = o.source { w.key("source"); w.string(s) }
        w.key("fills"); w.int(Int64(o.fills))
        w.endObject()
    }

    // MARK: decoding

    public struct DecodingError: Error, CustomStringConvertible {
        public let description: String
    }

    /// An entry back from ``encode(_:)``'s text.
    public static func decode(_ text: String) throws(DecodingError) -> AccountJournal.Entry {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)), let o = object as? [String: Any] else {
            throw DecodingError(description: "not a JSON object: \(text.prefix(80))")
        }
        let r = Reader(o)
        switch try r.string("kind") {
        case "user":
            return .user(StoredUser(id: try r.string("id"), name: try r.string("name"), createdAt: try r.time("created_ns")))
        case "ledger":
            return .ledger(
                LedgerWrite(
                    balances: try r.objects("balances").map { b throws(DecodingError) in
                        StoredBalance(userID: try b.string("user"), asset: try b.string("asset"), amount: try b.decimal("amount"))
                    },
                    positions: try r.objects("positions").map { p throws(DecodingError) in
                        StoredPosition(
                            userID: try p.string("user"), venue: try p.string("venue"), symbol: try p.string("symbol"),
                            qty: try p.decimal("qty"), avgPrice: try p.decimal("avg_price"), realizedPnL: try p.decimal("realized_pnl"))
                    },
                    fills: try r.objects("fills").map { f throws(DecodingError) in try fill(f) },
                    orders: try r.objects("orders").map { o throws(DecodingError) in try order(o) },
                    closedOrders: try r.strings("closed_orders"), time: try r.time("time_ns"),
                    ledger: r.has("ledger") ? try r.objects("ledger").map { t throws(DecodingError) in try ledgerTransaction(t) } : [],
                    withdrawals: r.has("withdrawals") ? try r.objects("withdrawals").map { x throws(DecodingError) in try withdrawal(x) } : [],
                    marks: r.has("marks") ? try r.objects("marks").map { m throws(DecodingError) in try mark(m) } : []))
        case "pretrade":
            return .preTrade(
                StoredPreTrade(
                    time: try r.time("time_ns"), userID: try r.string("user"), venue: try r.string("venue"), symbol: try r.string("symbol"),
                    passed: try r.bool("passed"), failuresJSON: try r.string("failures"), requestJSON: try r.string("request"),
                    checksJSON: r.optionalString("checks") ?? ""))
        case "mood":
            return .mood(
                StoredMood(
                    time: try r.time("time_ns"), userID: try r.string("user"), score: try r.decimal("score"), state: try r.string("state"),
                    factorsJSON: try r.string("factors"), reason: try r.string("reason")))
        case "agent":
            return .agent(
                StoredAgent(
                    id: try r.string("id"), userID: try r.string("user"), strategy: try r.string("strategy"), venue: try r.string("venue"),
                    symbol: try r.string("symbol"), quantity: try r.optionalDecimal("quantity"), quoteAmount: try r.optionalDecimal("quote_amount"),
                    created: try r.time("created_ns"), orders: try r.int("orders"), rejected: try r.int("rejected"),
                    lastResult: r.optionalString("last_result"), parentID: r.optionalString("parent"),
                    generation: r.has("generation") ? try r.int("generation") : 1, allocation: try r.optionalDecimal("allocation"),
                    spawned: r.has("spawned") ? try r.int("spawned") : 0))
        case "agent_removed":
            return .agentRemoved(try r.string("id"))
        case let other:
            throw DecodingError(description: "unknown entry kind '\(other)'")
        }
    }

    private static func fill(_ f: Reader) throws(DecodingError) -> StoredPaperFill {
        var details: StoredPaperFill.Details?
        if f.has("notional") {
            details = StoredPaperFill.Details(
                notional: try f.decimal("notional"), levels: try f.int("levels"), orderType: try f.string("order_type"),
                liquidity: try f.string("liquidity"), remaining: try f.decimal("remaining"), feeAsset: try f.string("fee_asset"),
                source: f.optionalString("source"))
        }
        return StoredPaperFill(
            time: try f.time("time_ns"), userID: try f.string("user"), orderID: try f.string("order_id"), fillID: try f.string("fill_id"),
            venue: try f.string("venue"), symbol: try f.string("symbol"), side: try f.side("side"), qty: try f.decimal("qty"),
            price: try f.decimal("price"), fee: try f.decimal("fee"), slippageBps: try f.optionalDecimal("slippage_bps"),
            realizedPnL: try f.optionalDecimal("realized_pnl"), details: details)
    }

    private static func ledgerTransaction(_ w: inout JSONWriter, _ t: StoredLedgerTransaction) {
        w.beginObject()
        w.key("id"); w.string(t.id)
        time(&w, "time_ns", t.time)
        w.key("kind"); w.string(t.kind)
        w.key("memo"); w.string(t.memo)
        w.key("postings")
        w.beginArray()
        for p in t.postings {
            w.beginObject()
            if let u = p.userID { w.key("user"); w.string(u) }
            w.key("account"); w.string(p.accountKind)
            w.key("asset"); w.string(p.asset)
            decimal(&w, "amount", p.amount)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    private static func withdrawal(_ w: inout JSONWriter, _ x: StoredWithdrawal) {
        w.beginObject()
        w.key("id"); w.string(x.id)
        w.key("user"); w.string(x.userID)
        w.key("asset"); w.string(x.asset)
        decimal(&w, "amount", x.amount)
        w.key("destination"); w.string(x.destination)
        w.key("status"); w.string(x.status.rawValue)
        time(&w, "requested_ns", x.requested)
        if let d = x.decided { time(&w, "decided_ns", d) }
        w.endObject()
    }

    private static func mark(_ w: inout JSONWriter, _ m: StoredPerformanceMark) {
        w.beginObject()
        w.key("user"); w.string(m.userID)
        w.key("asset"); w.string(m.asset)
        decimal(&w, "realized", m.realized)
        decimal(&w, "high_water_mark", m.highWaterMark)
        decimal(&w, "fees_paid", m.feesPaid)
        time(&w, "updated_ns", m.updated)
        w.endObject()
    }

    private static func mark(_ m: Reader) throws(DecodingError) -> StoredPerformanceMark {
        StoredPerformanceMark(
            userID: try m.string("user"), asset: try m.string("asset"), realized: try m.decimal("realized"),
            highWaterMark: try m.decimal("high_water_mark"), feesPaid: try m.decimal("fees_paid"), updated: try m.time("updated_ns"))
    }

    private static func withdrawal(_ x: Reader) throws(DecodingError) -> StoredWithdrawal {
        guard let status = StoredWithdrawal.Status(rawValue: try x.string("status")) else {
            throw DecodingError(description: "withdrawal status is not pending, approved or rejected")
        }
        return StoredWithdrawal(
            id: try x.string("id"), userID: try x.string("user"), asset: try x.string("asset"), amount: try x.decimal("amount"),
            destination: try x.string("destination"), status: status, requested: try x.time("requested_ns"),
            decided: x.has("decided_ns") ? try x.time("decided_ns") : nil)
    }

    private static func ledgerTransaction(_ t: Reader) throws(DecodingError) -> StoredLedgerTransaction {
        StoredLedgerTransaction(
            id: try t.string("id"), time: try t.time("time_ns"), kind: try t.string("kind"), memo: try t.string("memo"),
            postings: try t.objects("postings").map { p throws(DecodingError) in
                StoredLedgerPosting(
                    userID: p.optionalString("user"), accountKind: try p.string("account"), asset: try p.string("asset"),
                    amount: try p.decimal("amount"))
            })
    }

    private static func order(_ o: Reader) throws(DecodingError) -> StoredRestingOrder {
        StoredRestingOrder(
            orderID: try o.string("order_id"), userID: try o.string("user"), venue: try o.string("venue"), symbol: try o.string("symbol"),
            side: try o.side("side"), limitPrice: try o.decimal("limit_price"), quantity: try o.decimal("quantity"),
            remaining: try o.decimal("remaining"), reserved: try o.decimal("reserved"), reservedAsset: try o.string("reserved_asset"),
            placed: try o.time("placed_ns"), source: o.optionalString("source"), fills: try o.int("fills"))
    }

    private struct Reader {
        let o: [String: Any]
        init(_ o: [String: Any]) { self.o = o }

        func has(_ k: String) -> Bool { o[k] != nil }
        func optionalString(_ k: String) -> String? { o[k] as? String }
        func string(_ k: String) throws(DecodingError) -> String {
            guard let s = o[k] as? String else { throw DecodingError(description: "missing string '\(k)'") }
            return s
        }
        func bool(_ k: String) throws(DecodingError) -> Bool {
            guard let b = o[k] as? Bool else { throw DecodingError(description: "missing bool '\(k)'") }
            return b
        }
        func int(_ k: String) throws(DecodingError) -> Int {
            guard let n = o[k] as? NSNumber else { throw DecodingError(description: "missing integer '\(k)'") }
            return n.intValue
        }
        func decimal(_ k: String) throws(DecodingError) -> WideDecimal {
            guard let s = o[k] as? String, let d = WideDecimal.parse(s) else { throw DecodingError(description: "missing decimal '\(k)'") }
            return d
        }
        func optionalDecimal(_ k: String) throws(DecodingError) -> WideDecimal? {
            guard o[k] != nil else { return nil }
            return try decimal(k)
        }
        func time(_ k: String) throws(DecodingError) -> UnixNanos {
            guard let s = o[k] as? String, let n = Int64(s) else { throw DecodingError(description: "missing time '\(k)'") }
            return UnixNanos(n)
        }
        func side(_ k: String) throws(DecodingError) -> Side {
            switch o[k] as? String {
            case "buy": return .buy
            case "sell": return .sell
            default: throw DecodingError(description: "missing side '\(k)'")
            }
        }
        func strings(_ k: String) throws(DecodingError) -> [String] {
            guard let a = o[k] as? [String] else { throw DecodingError(description: "missing list '\(k)'") }
            return a
        }
        func objects(_ k: String) throws(DecodingError) -> [Reader] {
            guard let a = o[k] as? [[String: Any]] else { throw DecodingError(description: "missing list '\(k)'") }
            return a.map(Reader.init)
        }
    }
}
