public import MarketCore

/// OKX instrument ids (`instId`) to canonical instruments (CONTRACTS.md, "Venues and symbols").
///
/// OKX v5 ids are dash-separated and already carry the kind
/// (https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments):
///
/// | instId | kind | canonical |
/// |---|---|---|
/// | `BTC-USDT` | spot (and margin) | `BTC-USDT` |
/// | `BTC-USDT-SWAP` | perpetual swap | `BTC-USDT-PERP` |
/// | `BTC-USD-220527` | dated future, expiry `YYMMDD` | `BTC-USD-20220527` |
/// | `BTC-USD-210924-66000-C` | option: expiry, strike, `C`/`P` | `BTC-USD-20210924-66000-C` |
///
/// The native symbol is the id as sent. Anything of another shape is not guessed at: `nil`, which
/// the adapter reports as `unknown symbol`.
public enum OKXSymbols {
    public static func instrument(native: String) -> Instrument? {
        let parts = native.utf8.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        guard parts.count >= 2, parts.count != 4, parts.count <= 5,
            isAlphanumeric(parts[0]), isAlphanumeric(parts[1])
        else { return nil }
        let base = String(decoding: parts[0], as: UTF8.self).uppercased()
        let quote = String(decoding: parts[1], as: UTF8.self).uppercased()
        let kind: InstrumentKind
        switch parts.count {
        case 2:
            kind = .spot
        case 3:
            if parts[2].elementsEqual("SWAP".utf8) {
                kind = .perpetual
            } else if let expiry = expiry(parts[2]) {
                kind = .future(expiry: expiry)
            } else {
                return nil
            }
        default:  // 5
            guard let expiry = expiry(parts[2]), isStrike(parts[3]) else { return nil }
            let strike = String(decoding: parts[3], as: UTF8.self)
            if parts[4].elementsEqual("C".utf8) {
                kind = .option(expiry: expiry, strike: strike, isCall: true)
            } else if parts[4].elementsEqual("P".utf8) {
                kind = .option(expiry: expiry, strike: strike, isCall: false)
            } else {
                return nil
            }
        }
        return Instrument(venue: .okx, base: base, quote: quote, kind: kind, nativeSymbol: native)
    }

    /// `YYMMDD` (`220527`) as `YYYYMMDD` (`20220527`); OKX expiries are all in this century.
    static func expiry(_ s: Substring.UTF8View) -> String? {
        guard s.count == 6, s.allSatisfy({ $0 &- 48 < 10 }) else { return nil }
        let d = Array(s).map { Int($0 - 48) }
        let month = d[2] * 10 + d[3]
        let day = d[4] * 10 + d[5]
        guard (1...12).contains(month), (1...31).contains(day) else { return nil }
        return "20" + String(decoding: s, as: UTF8.self)
    }

    static func isAlphanumeric(_ s: Substring.UTF8View) -> Bool {
        !s.isEmpty
            && s.allSatisfy {
                ($0 &- 48 < 10) || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z"))
                    || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z"))
            }
    }

    /// A strike as OKX writes it: digits with at most one `.` (`66000`, `0.5`).
    static func isStrike(_ s: Substring.UTF8View) -> Bool {
        var dots = 0
        for c in s {
            if c == UInt8(ascii: ".") { dots += 1 } else if c &- 48 >= 10 { return false }
        }
        return !s.isEmpty && dots <= 1 && s.first != UInt8(ascii: ".") && s.last != UInt8(ascii: ".")
    }
}
