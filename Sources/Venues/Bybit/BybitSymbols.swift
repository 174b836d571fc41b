public import MarketCore

/// A Bybit v5 product category, named by the public websocket path it is served on
/// (https://bybit-exchange.github.io/docs/v5/ws/connect): `wss://stream.bybit.com/v5/public/{category}`.
///
/// The same native symbol means different instruments in different categories (`BTCUSDT` is a spot
/// pair on `/spot` and the USDT perpetual on `/linear`), so the adapter remembers each connection's
/// category from the URL of its `open`/`sent` lines (CONTRACTS.md, "Venues and symbols").
public enum BybitCategory: String, Sendable, Hashable, CaseIterable {
    case spot
    case linear
    case inverse
    case option

    /// Index into per-category tables.
    var index: Int {
        switch self {
        case .spot: 0
        case .linear: 1
        case .inverse: 2
        case .option: 3
        }
    }

    /// What a connection URL says about the category.
    public enum URLMeaning: Sendable, Hashable {
        /// `/v5/public/spot|linear|inverse|option`.
        case category(BybitCategory)
        /// Another `/v5/public/…` stream (`spread`, `rfq`, `misc/status`): not parsed by this adapter.
        case unsupported(String)
        /// Not a Bybit v5 public stream path: says nothing about the category.
        case unknown
    }

    /// Reads the category from a connection URL such as `wss://stream.bybit.com/v5/public/linear`
    /// (query strings and a trailing slash are ignored; testnet and regional hosts work the same).
    public static func meaning(ofURL url: String) -> URLMeaning {
        let bytes = Array(url.utf8)
        let marker = Array("/v5/public/".utf8)
        guard bytes.count >= marker.count,
            let start = (0...(bytes.count - marker.count)).first(where: { bytes[$0..<($0 + marker.count)].elementsEqual(marker) })
        else { return .unknown }
        let rest = bytes[(start + marker.count)...]
        let name = String(decoding: rest.prefix { $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }, as: UTF8.self)
        if let category = BybitCategory(rawValue: name.lowercased()) { return .category(category) }
        return .unsupported(name)
    }
}

/// Bybit v5 symbol mapping per category (CONTRACTS.md, "Venues and symbols").
///
/// | category | native | canonical |
/// |---|---|---|
/// | spot | `BTCUSDT` | `BTC-USDT` |
/// | linear | `BTCUSDT` | `BTC-USDT-PERP` (USDT perpetual) |
/// | linear | `BTCPERP` | `BTC-USDC-PERP` (USDC perpetual, older naming) |
/// | linear | `BTCUSDT-26DEC25` | `BTC-USDT-20251226` (USDT futures) |
/// | linear | `BTC-26DEC25` | `BTC-USDC-20251226` (USDC futures) |
/// | inverse | `BTCUSD` | `BTC-USD-PERP` (inverse perpetual) |
/// | inverse | `BTCUSDH25` | unknown: the month code does not say the expiry day |
/// | option | `BTC-6JAN23-17500-C` | `BTC-USDC-20230106-17500-C` (USDC options) |
/// | option | `BTC-25JUN27-106000-P-USDT` | `BTC-USDT-20270625-106000-P` (settle coin suffix) |
///
/// Concatenated pairs are split by the longest known quote suffix (``QuoteSuffixTable``); a symbol
/// that does not fit one of these shapes is not guessed at (`nil`, reported as `unknown symbol`).
/// Category URLs: https://bybit-exchange.github.io/docs/v5/ws/connect ("USDT, USDC perpetual & USDC
/// Futures: /v5/public/linear"); symbol shapes: https://bybit-exchange.github.io/docs/v5/market/instrument.
public enum BybitSymbols {
    /// The instrument a native symbol names in `category`, or `nil` when it cannot be mapped exactly.
    public static func instrument(native: String, category: BybitCategory, quotes: QuoteSuffixTable) -> Instrument? {
        guard !native.isEmpty, native.utf8.allSatisfy({ isSymbolByte($0) }) else { return nil }
        let upper = native.uppercased()
        let parts = upper.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        switch category {
        case .spot:
            guard parts.count == 1, isAlphanumeric(upper), let (base, quote) = quotes.split(upper) else { return nil }
            return Instrument(venue: .bybit, base: base, quote: quote, kind: .spot, nativeSymbol: native)
        case .linear:
            return linear(parts, native: native, quotes: quotes)
        case .inverse:
            // Inverse perpetuals are `BTCUSD`; inverse futures (`BTCUSDH25`) carry a month code, not a
            // date, so no quote suffix matches and they stay unknown rather than guessed.
            guard parts.count == 1, isAlphanumeric(upper), let (base, quote) = quotes.split(upper) else { return nil }
            return Instrument(venue: .bybit, base: base, quote: quote, kind: .perpetual, nativeSymbol: native)
        case .option:
            return option(parts, native: native)
        }
    }

    static func linear(_ parts: [String], native: String, quotes: QuoteSuffixTable) -> Instrument? {
        guard parts.allSatisfy(isAlphanumeric) else { return nil }
        if parts.count == 1 {
            let pair = parts[0]
            // USDC perpetuals were listed as `BTCPERP`, `ETHPERP` (settle coin USDC).
            if pair.hasSuffix("PERP"), pair.count > 4, quotes.split(pair) == nil {
                return Instrument(
                    venue: .bybit, base: String(pair.dropLast(4)), quote: "USDC", kind: .perpetual, nativeSymbol: native)
            }
            guard let (base, quote) = quotes.split(pair) else { return nil }
            return Instrument(venue: .bybit, base: base, quote: quote, kind: .perpetual, nativeSymbol: native)
        }
        guard parts.count == 2, let expiry = expiry(parts[1]) else { return nil }
        let pair = parts[0]
        // USDT futures are `BTCUSDT-26DEC25`; USDC futures are `BTC-26DEC25`. Only the two settle coins
        // are split off: a general suffix split would cut `WBTC` into `W` + `BTC`.
        for settle in ["USDT", "USDC"] where pair.hasSuffix(settle) && pair.count > settle.count {
            return Instrument(
                venue: .bybit, base: String(pair.dropLast(settle.count)), quote: settle, kind: .future(expiry: expiry),
                nativeSymbol: native)
        }
        return Instrument(venue: .bybit, base: pair, quote: "USDC", kind: .future(expiry: expiry), nativeSymbol: native)
    }

    /// `BASE-DMMMYY-STRIKE-C|P`, optionally followed by the settle coin (`-USDT`); USDC when absent.
    static func option(_ parts: [String], native: String) -> Instrument? {
        guard parts.count == 4 || parts.count == 5, isAlphanumeric(parts[0]), let expiry = expiry(parts[1]) else { return nil }
        let strike = parts[2]
        guard isDecimalText(strike), parts[3] == "C" || parts[3] == "P" else { return nil }
        let quote = parts.count == 5 ? parts[4] : "USDC"
        guard isAlphanumeric(quote) else { return nil }
        return Instrument(
            venue: .bybit, base: parts[0], quote: quote, kind: .option(expiry: expiry, strike: strike, isCall: parts[3] == "C"),
            nativeSymbol: native)
    }

    static let months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]

    /// `26DEC25` or `6JAN23` (day, month, two-digit year) → `20251226`; `nil` for anything else.
    public static func expiry(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.count == 6 || bytes.count == 7 else { return nil }
        let dayDigits = bytes.count - 5
        let day = bytes[0..<dayDigits]
        let month = String(decoding: bytes[dayDigits..<(dayDigits + 3)], as: UTF8.self)
        let year = bytes[(dayDigits + 3)...]
        guard day.allSatisfy(isDigit), year.allSatisfy(isDigit), let m = months.firstIndex(of: month) else { return nil }
        let d = day.reduce(0) { $0 * 10 + Int($1 - 48) }
        guard (1...31).contains(d) else { return nil }
        let dd = d < 10 ? "0\(d)" : "\(d)"
        let mm = m + 1 < 10 ? "0\(m + 1)" : "\(m + 1)"
        return "20\(String(decoding: year, as: UTF8.self))\(mm)\(dd)"
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    static func isLetterOrDigit(_ c: UInt8) -> Bool {
        isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
    }

    static func isAlphanumeric(_ s: String) -> Bool { !s.isEmpty && s.utf8.allSatisfy(isLetterOrDigit) }

    /// Symbol bytes Bybit uses: letters, digits, `-`, `.` (option strikes such as `0.5`).
    static func isSymbolByte(_ c: UInt8) -> Bool {
        isLetterOrDigit(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
    }

    /// Digits with at most one inner `.` (a strike as the venue wrote it).
    static func isDecimalText(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard let first = b.first, let last = b.last, isDigit(first), isDigit(last) else { return false }
        return b.allSatisfy { isDigit($0) || $0 == UInt8(ascii: ".") } && b.filter({ $0 == UInt8(ascii: ".") }).count <= 1
    }
}
