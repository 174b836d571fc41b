import MarketCore

/// One field of a captured frame that a looping timeline moves on each pass.
struct LoopField: Sendable {
    enum Role: Sendable {
        /// A time: moved by pass × span.
        case time(TimeFormat)
        /// A numeric id of an id space (`space`) of the instrument, moved by pass × (max − min + 1)
        /// of that space's ids in the capture. `counted: false` fields follow the shift without
        /// widening the range (a kline's first trade id may predate the capture).
        case counter(space: String, counted: Bool)
        /// A book update id on the instrument's update chain (see ``LoopPlan``).
        case chain(ChainPart)
        /// A non-numeric id (Bybit UUID trade ids): `-<pass>` is appended.
        case suffixed
    }

    /// Where a chain id sits in the venue's continuity rule.
    enum ChainPart: Sendable {
        /// First id an update covers (Binance `U`): the previous update ended at this − 1.
        case first
        /// Last id an update covers (Binance `u`, Bybit `u`, OKX `seqId`).
        case last
        /// The previous update's last id (Binance futures `pu`, OKX `prevSeqId`).
        case previous
        /// Same id space, not part of the chain (Binance `bookTicker` `u`, REST `lastUpdateId`).
        case other
    }

    var scalar: JSONScalar
    var role: Role
    var instrument: String
}

/// Which fields of each venue's frames are times, trade ids and sequence numbers.
///
/// Only these fields change on a later pass; everything else keeps its bytes.
enum LoopFields {
    /// Price-level containers, scanned over without recording (except Kraken, whose levels carry times).
    static func skip(_ venue: Venue) -> ([JSONPathItem]) -> Bool {
        switch venue {
        case .kraken: return { _ in false }
        default:
            let keys: Set<String> = ["b", "a", "bids", "asks", "changes", "channels"]
            return { path in
                if case .key(let k) = path.last { return keys.contains(k) }
                return false
            }
        }
    }

    /// The fields of one frame (`url` set for REST lines).
    static func fields(_ venue: Venue, _ bytes: [UInt8], _ scalars: [JSONScalar], url: String?) -> [LoopField] {
        switch venue {
        case .binance, .binanceUSDM, .binanceCOINM: binance(bytes, scalars, url: url)
        case .coinbase: coinbase(bytes, scalars)
        case .kraken: kraken(bytes, scalars)
        case .okx: okx(bytes, scalars)
        case .bybit: bybit(bytes, scalars)
        default: []
        }
    }

    /// The text of the scalar at exactly `path`.
    static func value(_ scalars: [JSONScalar], _ bytes: [UInt8], _ path: [JSONPathItem]) -> String? {
        scalars.first { $0.path == path }.map { $0.text(in: bytes) }
    }

    // MARK: Binance

    /// Combined-stream frames wrap the event in `data`. Depth diffs: `E`/`T` times, `U` `u` `pu` on the
    /// symbol's chain; `trade`: `t`; `aggTrade`: `a` (its own space) and `f`/`l` (trade ids);
    /// `kline`: `k.t`/`k.T` times, `k.f`/`k.L` trade ids; `bookTicker`: `u` (chain space, not a link).
    /// REST depth answers: `lastUpdateId` and `E`/`T`, symbol from the URL.
    static func binance(_ bytes: [UInt8], _ scalars: [JSONScalar], url: String?) -> [LoopField] {
        if let url {
            guard let symbol = JSONRead.query(ofURL: url)["symbol"]?.uppercased() else { return [] }
            return scalars.compactMap { s in
                guard s.path.count == 1, let k = s.key else { return nil }
                switch k {
                case "lastUpdateId": return LoopField(scalar: s, role: .chain(.other), instrument: symbol)
                case "E", "T": return LoopField(scalar: s, role: .time(.millis), instrument: symbol)
                default: return nil
                }
            }
        }
        let wrapped = scalars.contains { $0.path.first == .key("stream") }
        let root: [JSONPathItem] = wrapped ? [.key("data")] : []
        guard let symbol = value(scalars, bytes, root + [.key("s")])?.uppercased() else { return [] }
        let event = value(scalars, bytes, root + [.key("e")]) ?? "bookTicker"
        var out: [LoopField] = []
        for s in scalars where s.path.starts(with: root) {
            let rel = Array(s.path.dropFirst(root.count))
            func add(_ role: LoopField.Role) { out.append(LoopField(scalar: s, role: role, instrument: symbol)) }
            switch (event, rel) {
            case (_, [.key("E")]): add(.time(.millis))
            case ("depthUpdate", [.key("T")]), ("trade", [.key("T")]), ("aggTrade", [.key("T")]), ("bookTicker", [.key("T")]):
                add(.time(.millis))
            case ("depthUpdate", [.key("U")]): add(.chain(.first))
            case ("depthUpdate", [.key("u")]): add(.chain(.last))
            case ("depthUpdate", [.key("pu")]): add(.chain(.previous))
            case ("bookTicker", [.key("u")]): add(.chain(.other))
            case ("trade", [.key("t")]): add(.counter(space: "trade", counted: true))
            case ("aggTrade", [.key("a")]): add(.counter(space: "agg", counted: true))
            case ("aggTrade", [.key("f")]), ("aggTrade", [.key("l")]): add(.counter(space: "trade", counted: true))
            case ("kline", [.key("k"), .key("t")]), ("kline", [.key("k"), .key("T")]): add(.time(.millis))
            case ("kline", [.key("k"), .key("f")]), ("kline", [.key("k"), .key("L")]): add(.counter(space: "trade", counted: false))
            default: break
            }
        }
        return out
    }

    // MARK: Coinbase

    /// Per `product_id`: `time` (ISO 8601), `trade_id`, `sequence`. Level-2 frames have no ids.
    static func coinbase(_ bytes: [UInt8], _ scalars: [JSONScalar]) -> [LoopField] {
        guard let product = value(scalars, bytes, [.key("product_id")]) else { return [] }
        return scalars.compactMap { s in
            guard s.path.count == 1, let k = s.key else { return nil }
            switch k {
            case "time": return LoopField(scalar: s, role: .time(.iso8601), instrument: product)
            case "trade_id": return LoopField(scalar: s, role: .counter(space: "trade", counted: true), instrument: product)
            case "sequence": return LoopField(scalar: s, role: .counter(space: "sequence", counted: true), instrument: product)
            default: return nil
            }
        }
    }

    // MARK: Kraken

    /// v1 arrays `[channelID, payload…, name, pair]`: trade rows' time (index 2), book levels'
    /// timestamp (index 2 of `[price, volume, timestamp]`), `spread`'s time, `ohlc`'s two times.
    /// Kraken has no trade ids or sequence numbers; checksums cover prices and volumes only.
    static func kraken(_ bytes: [UInt8], _ scalars: [JSONScalar]) -> [LoopField] {
        let top = scalars.filter { $0.path.count == 1 }
        guard top.count >= 2, case .index(let last) = top[top.count - 1].path[0],
            case .index(let nameIndex) = top[top.count - 2].path[0], nameIndex == last - 1
        else { return [] }
        let name = top[top.count - 2].text(in: bytes)
        let pair = top[top.count - 1].text(in: bytes)
        return scalars.compactMap { s in
            let p = s.path
            let isTime: Bool
            if name == "trade" {
                isTime = p.count == 3 && p[2] == .index(2)
            } else if name.hasPrefix("book") {
                isTime = p.count == 4 && p[3] == .index(2)
                    && ([.key("as"), .key("bs"), .key("a"), .key("b")] as [JSONPathItem]).contains(p[1])
            } else if name == "spread" {
                isTime = p.count == 2 && p[0] == .index(1) && p[1] == .index(2)
            } else if name.hasPrefix("ohlc") {
                isTime = p.count == 2 && p[0] == .index(1) && (p[1] == .index(0) || p[1] == .index(1))
            } else {
                isTime = false
            }
            return isTime ? LoopField(scalar: s, role: .time(.seconds), instrument: pair) : nil
        }
    }

    // MARK: OKX

    /// `data[i].ts` (ms text) on every channel; trades: `tradeId` per instId; books: `seqId` and
    /// `prevSeqId` on the (channel, instId) chain, `prevSeqId` -1 (snapshots) left as is.
    static func okx(_ bytes: [UInt8], _ scalars: [JSONScalar]) -> [LoopField] {
        guard let channel = value(scalars, bytes, [.key("arg"), .key("channel")]) else { return [] }
        let argInst = value(scalars, bytes, [.key("arg"), .key("instId")])
        var out: [LoopField] = []
        for s in scalars {
            guard s.path.count == 3, s.path[0] == .key("data"), case .index(let i) = s.path[1], let k = s.key else { continue }
            let inst = value(scalars, bytes, [.key("data"), .index(i), .key("instId")]) ?? argInst ?? ""
            switch k {
            case "ts": out.append(LoopField(scalar: s, role: .time(.millis), instrument: inst))
            case "tradeId":
                let numeric = ModelJSON.integer(s.text(in: bytes)) != nil
                out.append(LoopField(scalar: s, role: numeric ? .counter(space: "trade", counted: true) : .suffixed, instrument: inst))
            case "seqId": out.append(LoopField(scalar: s, role: .chain(.last), instrument: channel + " " + inst))
            case "prevSeqId": out.append(LoopField(scalar: s, role: .chain(.previous), instrument: channel + " " + inst))
            default: break
            }
        }
        return out
    }

    // MARK: Bybit

    /// Top-level `ts`/`cts`; order books: `data.u` on the topic's chain, `data.seq` (cross sequence,
    /// per symbol); trades: `data[i].T`, and `data[i].i` (numeric on spot, a UUID on derivatives).
    static func bybit(_ bytes: [UInt8], _ scalars: [JSONScalar]) -> [LoopField] {
        guard let topic = value(scalars, bytes, [.key("topic")]) else { return [] }
        let symbol = value(scalars, bytes, [.key("data"), .key("s")]) ?? String(topic.split(separator: ".").last ?? "")
        var out: [LoopField] = []
        for s in scalars {
            let p = s.path
            switch p.count {
            case 1 where p[0] == .key("ts") || p[0] == .key("cts"):
                out.append(LoopField(scalar: s, role: .time(.millis), instrument: symbol))
            case 2 where topic.hasPrefix("orderbook.") && p[0] == .key("data") && p[1] == .key("u"):
                out.append(LoopField(scalar: s, role: .chain(.last), instrument: topic))
            case 2 where topic.hasPrefix("orderbook.") && p[0] == .key("data") && p[1] == .key("seq"):
                out.append(LoopField(scalar: s, role: .counter(space: "seq", counted: true), instrument: symbol))
            case 3 where topic.hasPrefix("publicTrade.") && p[0] == .key("data"):
                guard case .index(let i) = p[1] else { continue }
                let inst = value(scalars, bytes, [.key("data"), .index(i), .key("s")]) ?? symbol
                if p[2] == .key("T") {
                    out.append(LoopField(scalar: s, role: .time(.millis), instrument: inst))
                } else if p[2] == .key("i") {
                    let numeric = ModelJSON.integer(s.text(in: bytes)).map { $0 >= 0 } ?? false
                    out.append(LoopField(scalar: s, role: numeric ? .counter(space: "trade", counted: true) : .suffixed, instrument: inst))
                }
            default: continue
            }
        }
        return out
    }
}
