/// A venue's order-book checksum (Kraken, OKX): computed over the top levels of the local book
/// after an update and compared with the value the venue sent.
///
/// The string construction is venue-specific and lives with the venue's adapter; the
/// synchronizer only calls ``checksum(bids:asks:)`` with the book's best levels.
public protocol BookChecksumAlgorithm: Sendable {
    /// A short stable name (`kraken-v1`, `okx`), for logs and equality.
    var name: String { get }
    /// Levels per side the checksum covers.
    var depth: Int { get }
    /// The checksum of the given levels, each side best first and at most ``depth`` long.
    func checksum(bids: [BookLevel], asks: [BookLevel]) -> UInt32
}

/// The checksum a venue attached to a book message, and how to recompute it.
public struct ChecksumCheck: Sendable, Hashable {
    /// The venue's value as an unsigned 32-bit pattern (OKX sends it signed).
    public var expected: UInt32
    public var algorithm: any BookChecksumAlgorithm

    public init(expected: UInt32, algorithm: any BookChecksumAlgorithm) {
        self.expected = expected
        self.algorithm = algorithm
    }

    public static func == (lhs: ChecksumCheck, rhs: ChecksumCheck) -> Bool {
        lhs.expected == rhs.expected && lhs.algorithm.name == rhs.algorithm.name
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(expected)
        hasher.combine(algorithm.name)
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as zlib's `crc32` and the venues use.
public enum CRC32 {
    @usableFromInline static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// Continues a running CRC with `bytes`; start with `0`.
    @inlinable
    public static func update(_ crc: UInt32, _ bytes: some Sequence<UInt8>) -> UInt32 {
        var c = ~crc
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return ~c
    }

    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 { update(0, bytes) }
}
