import Venues

extension GatewayConfiguration {
    /// `venues`: a mapping of venue id → settings; ids must be known.
    static func readVenues(_ venues: inout ConfigurationSection, reader r: inout ConfigurationReader) -> [VenueSettings] {
        var out: [VenueSettings] = []
        for entry in venues.entries {
            let key = entry.key
            _ = venues.take(key)
            guard let id = VenueID(rawValue: key) else {
                r.report(venues.keyPath(key), "unknown venue (known: \(VenueID.allCases.map(\.rawValue).joined(separator: ", ")))")
                continue
            }
            guard var m = r.section(entry.value, path: venues.keyPath(key)) else { continue }
            out.append(readVenue(id, &m, reader: &r))
            r.finish(m, known: ConfigurationKeys.venue)
        }
        return out.sorted { $0.id < $1.id }
    }

    static func readVenue(_ id: VenueID, _ m: inout ConfigurationSection, reader r: inout ConfigurationReader) -> VenueSettings {
        let firstProblem = r.problems.count
        var v = VenueSettings.defaults(for: id)
        r.bool(&m, "enabled", into: &v.enabled)
        let symbolsGiven = m.entries.contains { $0.key == "symbols" }
        let symbols = r.list(&m, "symbols")
        var channelsEmpty = false
        if let items = r.list(&m, "channels") {
            channelsEmpty = items.isEmpty
            var channels: Set<Channel> = []
            var valid = true
            for (text, location) in items {
                if let channel = Channel(rawValue: text.lowercased()) {
                    if !channels.insert(channel).inserted {
                        r.report(location, "\(channel) is listed twice")
                        valid = false
                    }
                } else {
                    r.report(location, "\(quoted(text)) is not a channel (use trades, book, ticker)")
                    valid = false
                }
            }
            if valid { v.channels = channels }
        }
        r.read(&m, "ws_url", into: &v.wsURL) { endpoint($0, schemes: ["ws", "wss"]) }
        // Bybit's URL decides its category (spot or perpetuals); rules that depend on it are
        // skipped when the URL itself is bad.
        let categoryKnown =
            !id.definition.limitsDependOnURL || !r.problems[firstProblem...].contains { $0.location == m.location("ws_url") }
        r.read(&m, "rest_url", into: &v.restURL) { endpoint($0, schemes: ["http", "https"]) }
        r.duration(&m, "stale_after", into: &v.staleAfter, positive: true)
        r.optionalDuration(&m, "ping_interval", into: &v.pingInterval)
        r.duration(&m, "reconnect_initial", into: &v.reconnectInitial, positive: true)
        r.duration(&m, "reconnect_max", into: &v.reconnectMax, positive: true)
        r.optionalDuration(&m, "rotate_after", into: &v.rotateAfter)
        r.int(&m, "subscribe_batch", into: &v.subscribeBatch, in: 1...Int.max)
        r.int(&m, "book_depth", into: &v.bookDepth, in: 1...Int.max)

        // The venue's documented limits for this ws_url.
        let limits = id.definition.limits(wsURL: v.wsURL)
        // Symbols are checked once ws_url is known.
        if let symbols, categoryKnown {
            var seen: Set<String> = []
            var valid = true
            for (text, location) in symbols {
                if let problem = symbolProblem(text, id: id, limits: limits) {
                    r.report(location, problem)
                    valid = false
                } else if !seen.insert(text).inserted {
                    r.report(location, "\(text) is listed twice")
                    valid = false
                }
            }
            if valid { v.symbols = symbols.map(\.text) }
        }
        // Missing or empty, not merely invalid (that is reported already).
        if v.enabled {
            if !symbolsGiven || symbols?.isEmpty == true {
                r.report(m.location("symbols"), "must list at least one symbol when the venue is enabled (e.g. [BTC-USDT])")
            }
            if channelsEmpty {
                r.report(m.location("channels"), "must list at least one channel when the venue is enabled (trades, book, ticker)")
            }
        }

        // Relations between keys, checked only between keys that are valid themselves.
        let failed = Set(r.problems[firstProblem...].map(\.location))
        func ok(_ keys: String...) -> Bool { keys.allSatisfy { !failed.contains(m.location($0)) } }
        let text = DurationText.format
        if ok("reconnect_initial", "reconnect_max"), v.reconnectMax < v.reconnectInitial {
            r.report(m.location("reconnect_max"), "\(text(v.reconnectMax)) is shorter than reconnect_initial (\(text(v.reconnectInitial)))")
        }
        // A feed must get the chance to be pinged before it is declared dead.
        if ok("stale_after", "ping_interval"), let ping = v.pingInterval, v.staleAfter < ping {
            r.report(m.location("stale_after"), "\(text(v.staleAfter)) is shorter than ping_interval (\(text(ping)))")
        }
        // OKX: "the connection will break automatically if … data has not been pushed for more
        // than 30 seconds"; the client must ping within N < 30 s of the last message.
        if let silence = limits.silenceLimit, ok("ping_interval"), (v.pingInterval ?? silence.value) >= silence.value {
            r.report(m.location("ping_interval"), silence.rule)
        }
        // Binance: "a single connection is only valid for 24 hours".
        if let lifetime = limits.connectionLifetime, ok("rotate_after"), let rotate = v.rotateAfter, rotate >= lifetime.value {
            r.report(m.location("rotate_after"), "\(text(rotate)) \(lifetime.rule)")
        }
        if categoryKnown, ok("book_depth") {
            if let depths = limits.bookDepths, !depths.allowed.contains(v.bookDepth) {
                let list = depths.allowed.map(String.init).joined(separator: ", ")
                r.report(m.location("book_depth"), "\(v.bookDepth) is not a \(depths.name) (use one of \(list))")
            } else if let max = limits.maxBookDepth, v.bookDepth > max {
                r.report(m.location("book_depth"), "\(v.bookDepth) is out of range 1...\(max) (the \(id) depth limit)")
            }
        }
        if categoryKnown, ok("subscribe_batch"), let max = limits.maxSubscribeBatch, v.subscribeBatch > max {
            r.report(m.location("subscribe_batch"), "\(v.subscribeBatch) is out of range 1...\(max) (the \(id) limit per subscribe message)")
        }
        return v
    }

    /// Why `symbol` cannot be subscribed on `id`, or nil.
    static func symbolProblem(_ symbol: String, id: VenueID, limits: VenueLimits) -> String? {
        let parts = symbol.split(separator: "-", omittingEmptySubsequences: false)
        let wellFormed = (parts.count == 2 || (parts.count == 3 && parts[2] == "PERP"))
            && parts.allSatisfy { part in !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isUppercase || $0.isNumber) } }
        guard wellFormed else {
            return "\(quoted(symbol)) is not a canonical symbol (use upper case BASE-QUOTE or BASE-QUOTE-PERP, e.g. BTC-USDT)"
        }
        let perpetual = parts.count == 3
        switch limits.symbolKinds {
        case .spotOnly where perpetual:
            return "\(symbol) is a perpetual but \(id) carries spot symbols only\(limits.symbolHint)"
        case .perpetualsOnly where !perpetual:
            return "\(symbol) is not a perpetual but \(id) carries perpetuals only (e.g. \(symbol)-PERP\(limits.symbolHint))"
        default:
            return nil
        }
    }

    /// `text` when it is an absolute URL with one of `schemes` and a host, else why not.
    static func endpoint(_ text: String, schemes: [String]) -> Result<String, ConfigurationReader.Problem> {
        let expected = schemes.map { "\($0)://" }.joined(separator: " or ")
        guard let separator = text.firstRange(of: "://") else {
            return .failure(.init("\(quoted(text)) is not a URL (expected \(expected)host[:port]/path)"))
        }
        guard schemes.contains(text[..<separator.lowerBound].lowercased()) else {
            return .failure(.init("\(quoted(text)) must start with \(expected)"))
        }
        guard !text.contains(where: \.isWhitespace) else {
            return .failure(.init("\(quoted(text)) contains spaces"))
        }
        let authority = text[separator.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        var host = authority[...]
        var port: Substring?
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            // [IPv6]:port
            host = authority[...close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { port = after.dropFirst() } else if !after.isEmpty { host = authority }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            port = authority[authority.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains("@") else {
            return .failure(.init("\(quoted(text)) has no host"))
        }
        if let port, !(port.allSatisfy(\.isASCII) && Int(port).map { (1...65535).contains($0) } == true) {
            return .failure(.init("\(quoted(text)) has an invalid port"))
        }
        return .success(text)
    }
}
