public import MarketCore

/// OKX v5 order-book checksum: CRC-32 over the best 25 bids and asks, interleaved.
///
/// From "WS / Order book channel", section "Checksum"
/// (https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-order-book-channel):
/// "Use the first 25 bids and asks in the full load to form a string (where a colon connects the
/// price and size in an ask or a bid), and then calculate the CRC32 value (32-bit signed integer)."
/// Levels alternate `bid1_px:bid1_sz:ask1_px:ask1_sz:bid2_px:…`; "When the bid or ask depth data is
/// less than 25 levels, the missing depth data will be ignored" — the longer side simply continues.
/// Worked examples from that page:
/// - bids `3366.1/7`, `3366/6`, asks `3366.8/9`, `3368/8` → `"3366.1:7:3366.8:9:3366:6:3368:8"`;
/// - bids `3366.1/7`, asks `3366.8/9`, `3368/8`, `3372/8` → `"3366.1:7:3366.8:9:3368:8:3372:8"`.
///
/// Prices and sizes are the exact strings OKX sent: ``FixedDecimal`` keeps the digits written
/// (`displayScale`), so `description` gives the text back. The venue sends the checksum as a signed
/// 32-bit integer; ``ChecksumCheck/expected`` holds its bit pattern (`UInt32(bitPattern:)`).
///
/// Deprecation: OKX fixed the field to `0` in production on 2026-06-23 ("the checksum field will remain
/// present in push messages but will always return 0 and must no longer be used for data integrity
/// validation", https://www.okx.com/en-us/help/okx-order-book-channels-checksum-field-deprecation);
/// the adapter therefore attaches a check only for a non-zero value. Recordings made before that date
/// carry real checksums and are verified with this algorithm.
public struct OKXChecksum: BookChecksumAlgorithm {
    public var name: String { "okx" }
    public var depth: Int { 25 }

    public init() {}

    public func checksum(bids: [BookLevel], asks: [BookLevel]) -> UInt32 {
        CRC32.checksum(Self.checkString(bids: bids, asks: asks, depth: depth))
    }

    /// The string OKX's checksum covers (UTF-8 bytes), from levels given best first.
    public static func checkString(bids: [BookLevel], asks: [BookLevel], depth: Int = 25) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 * depth)
        let n = max(min(bids.count, depth), min(asks.count, depth))
        for i in 0..<n {
            if i < bids.count { append(bids[i], to: &out) }
            if i < asks.count { append(asks[i], to: &out) }
        }
        return out
    }

    @inline(__always)
    static func append(_ level: BookLevel, to out: inout [UInt8]) {
        if !out.isEmpty { out.append(UInt8(ascii: ":")) }
        level.price.write(into: &out)
        out.append(UInt8(ascii: ":"))
        level.quantity.write(into: &out)
    }

    /// The checksum as OKX prints it (signed 32-bit).
    public static func signed(_ value: UInt32) -> Int32 { Int32(bitPattern: value) }
}
