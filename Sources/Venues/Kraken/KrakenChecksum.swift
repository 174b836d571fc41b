public import MarketCore

/// Fraction digits a Kraken pair's prices and quantities are formatted with (the v2 `instrument`
/// channel's `price_precision` / `qty_precision`).
public struct KrakenPrecision: Sendable, Hashable {
    /// Price fraction digits (`price_precision`), 0...36.
    public var price: Int
    /// Quantity fraction digits (`qty_precision`), 0...36.
    public var quantity: Int

    /// - Returns: `nil` when a value is outside 0...36 (``FixedDecimal/maxDisplayScale``).
    public init?(price: Int, quantity: Int) {
        let limit = Int(FixedDecimal.maxDisplayScale)
        guard (0...limit).contains(price), (0...limit).contains(quantity) else { return nil }
        self.price = price
        self.quantity = quantity
    }
}

/// Kraken's order-book CRC32 over the top 10 levels, websocket v1 and v2.
///
/// Documented algorithm (v1: https://docs.kraken.com/api/docs/guides/spot-ws-book-v1 ,
/// now https://docs.kraken.com/exchange/guides/websockets/book-checksum-v1 ; v2:
/// https://docs.kraken.com/api/docs/guides/spot-ws-book-v2 , now
/// https://docs.kraken.com/exchange/guides/websockets/book-checksum-v2): for each of the top 10
/// asks, lowest price first, then each of the top 10 bids, highest price first, take the price and
/// then the quantity as decimal text, remove the `.`, remove the leading zeros, and append; the
/// checksum is the CRC32 of the whole string as an unsigned 32-bit integer
/// (`"0.05005"`,`"0.00000500"` → `"5005"` + `"500"`).
///
/// The text of a value is ``FixedDecimal``'s exact digits (``FixedDecimal/write(into:)``), which
/// keep the fraction digits the venue wrote (``FixedDecimal/displayScale``):
/// - **v1** quotes every decimal with its pair's full precision (`"0.05000"`, `"5.00000000"`), so
///   the text as received is the text Kraken checksums. Verified on every update of the 2021
///   recording (`Tests/Fixtures/kraken/…`, 4,269 checksums, all equal).
/// - **v2** sends prices and quantities as JSON numbers. The checksum guide says they are "pushed
///   onto the wire containing full precision" and shows `"qty": 0.10000000` (trailing zeros kept);
///   its worked example (checksum 3310070434) holds with the number text as received. But the
///   `book` channel's own reference samples (MATIC/USD, checksums 2439117997 and 2114181697) show
///   `0.566` and `18097.1547` and only check out when the values are formatted with the pair's
///   precision (price 4, qty 8 digits): the guide's instruction to format with the instrument
///   precision is what makes both agree. So the adapter parses the JSON number text exactly from
///   the bytes (never through `Double`) and, when it knows the pair's ``KrakenPrecision`` (from
///   the `instrument` channel or configuration), this algorithm prints each value with
///   `max(digits received, precision)` fraction digits — padding trailing zeros, never rounding.
///   Without a known precision it uses the text as received.
///
/// Small on purpose (a few bytes), so the ``ChecksumCheck`` existential stores it inline.
public struct KrakenChecksum: BookChecksumAlgorithm, Hashable {
    /// Which websocket API the checksum came from (for logs; the computation is the same).
    public enum Version: UInt8, Sendable, Hashable {
        case v1 = 1
        case v2 = 2
    }

    public let version: Version
    /// Price and quantity fraction digits to format with; -1 = the digits as received.
    let priceDigits: Int8
    let quantityDigits: Int8

    /// The v1 checksum: decimal text exactly as received.
    public static let v1 = KrakenChecksum(version: .v1, precision: nil)

    /// The v2 checksum, formatting with `precision` when known (see the type's discussion).
    public static func v2(precision: KrakenPrecision?) -> KrakenChecksum {
        KrakenChecksum(version: .v2, precision: precision)
    }

    public init(version: Version, precision: KrakenPrecision?) {
        self.version = version
        self.priceDigits = precision.map { Int8($0.price) } ?? -1
        self.quantityDigits = precision.map { Int8($0.quantity) } ?? -1
    }

    /// The pair precision used for formatting, or `nil` for the text as received.
    public var precision: KrakenPrecision? {
        priceDigits < 0 ? nil : KrakenPrecision(price: Int(priceDigits), quantity: Int(quantityDigits))
    }

    /// `kraken-v1`, `kraken-v2`, or `kraken-v2-p4-q8` when formatting with a precision.
    public var name: String {
        let base = version == .v1 ? "kraken-v1" : "kraken-v2"
        return priceDigits < 0 ? base : "\(base)-p\(priceDigits)-q\(quantityDigits)"
    }

    /// Kraken checksums the top 10 levels of each side, whatever the subscribed depth.
    public var depth: Int { 10 }

    public func checksum(bids: [BookLevel], asks: [BookLevel]) -> UInt32 {
        CRC32.checksum(text(bids: bids, asks: asks))
    }

    /// The string Kraken's CRC32 is taken over: asks (best = lowest first) then bids (best =
    /// highest first), at most ``depth`` each, every price and quantity without `.` and leading zeros.
    /// - Parameters:
    ///   - bids: best first.
    ///   - asks: best first.
    public func text(bids: [BookLevel], asks: [BookLevel]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(2 * depth * 24)
        var scratch: [UInt8] = []
        scratch.reserveCapacity(48)
        for level in asks.prefix(depth) { append(level, scratch: &scratch, into: &out) }
        for level in bids.prefix(depth) { append(level, scratch: &scratch, into: &out) }
        return out
    }

    func append(_ level: BookLevel, scratch: inout [UInt8], into out: inout [UInt8]) {
        Self.appendDigits(priceDigits < 0 ? level.price : level.price.withDisplayScale(Int(priceDigits)), scratch: &scratch, into: &out)
        Self.appendDigits(
            quantityDigits < 0 ? level.quantity : level.quantity.withDisplayScale(Int(quantityDigits)), scratch: &scratch,
            into: &out)
    }

    /// Appends the exact decimal text of `value` with the `.` and the leading zeros removed.
    static func appendDigits(_ value: FixedDecimal, scratch: inout [UInt8], into out: inout [UInt8]) {
        scratch.removeAll(keepingCapacity: true)
        value.write(into: &scratch)
        var leading = true
        for c in scratch where c != UInt8(ascii: ".") {
            if leading && c == UInt8(ascii: "0") { continue }
            leading = false
            out.append(c)
        }
    }
}
