public import MarketCore

/// The identifiers a request names, checked at the edge before anything is logged, reserved or
/// stored: a venue from the configured set, a symbol in canonical form (`BASE-QUOTE[-…]`, upper
/// case letters and digits) that the market view has seen or the configuration names, an asset of
/// a strict form that is known. (A NUL in a symbol once reached the pre-trade log, PostgreSQL
/// refused it, and every later write of every user waited behind it.)
extension ExecutionService {
    /// Why `venue`/`symbol` cannot be traded, or nil.
    public func instrumentProblem(venue: String, symbol: String) -> FieldError? {
        guard Self.isVenueName(venue) else {
            return FieldError(field: "venue", message: "'\(Self.shown(venue))' is not a venue name (lower case letters, digits, '-')")
        }
        guard options.venues.contains(venue) else {
            return FieldError(field: "venue", message: "unknown venue '\(venue)'; one of \(options.venues.sorted())", code: "unknown_venue")
        }
        guard Self.isCanonicalSymbol(symbol) else {
            return FieldError(field: "symbol", message: "'\(Self.shown(symbol))' is not a canonical symbol (BASE-QUOTE, e.g. BTC-USDT)")
        }
        let key = InstrumentKey(venue: venue, symbol: symbol)
        guard market.knows(key) || options.instruments.contains(key) else {
            return FieldError(field: "symbol", message: "unknown symbol '\(symbol)' on \(venue)", code: "unknown_symbol")
        }
        return nil
    }

    /// Why `asset` cannot hold a balance, or nil.
    public func assetProblem(_ asset: String) -> FieldError? {
        guard asset.utf8.count <= 16, !asset.isEmpty, asset.utf8.allSatisfy(Self.isUpperAlnum) else {
            return FieldError(field: "asset", message: "'\(Self.shown(asset))' is not an asset name (1–16 of A–Z, 0–9)")
        }
        if asset == options.cashAsset || options.limits.usdQuotes.contains(asset) || options.assets.contains(asset) { return nil }
        let instruments = market.knownInstruments.union(options.instruments)
        if instruments.contains(where: { $0.baseAndQuote.map { $0.base == asset || $0.quote == asset } ?? false }) { return nil }
        return FieldError(field: "asset", message: "unknown asset '\(asset)'", code: "unknown_asset")
    }

    static func isUpperAlnum(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) }

    static func isVenueName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 32 && s.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }
    }

    /// `BASE-QUOTE` plus up to three more segments (`-PERP`, an expiry, an option's strike and
    /// side); segments of A–Z and 0–9 (a strike may hold a '.'), at most 64 bytes.
    static func isCanonicalSymbol(_ s: String) -> Bool {
        guard s.utf8.count <= 64 else { return false }
        let parts = s.utf8.split(separator: 0x2D, omittingEmptySubsequences: false)
        guard (2...5).contains(parts.count) else { return false }
        for (i, p) in parts.enumerated() {
            guard !p.isEmpty, p.count <= 24 else { return false }
            guard p.allSatisfy({ isUpperAlnum($0) || (i >= 2 && $0 == 0x2E) }) else { return false }
        }
        return true
    }

    /// A name for an error message, control characters escaped and cut short.
    static func shown(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars.prefix(40) {
            out += u.value < 0x20 || u.value == 0x7F ? "\\u{\(String(u.value, radix: 16))}" : String(u)
        }
        return s.unicodeScalars.count > 40 ? out + "…" : out
    }
}
