/// An exact decimal price or quantity: an `Int64` mantissa and a power-of-ten scale.
///
/// The value is `mantissa × 10⁻ˢᶜᵃˡᵉ`, kept in canonical form (no trailing zero in the mantissa
/// when `scale > 0`), so `0.1` and `0.10` are equal and hash alike. The scale the venue wrote is
/// kept separately as ``displayScale`` so that formatting gives back the exchange's exact text
/// (`"0.50000000"` stays eight digits; Kraken's and OKX's checksums need those digits).
///
/// Canonical form is what lets one `Int64` hold every value the venues send: quantity
/// `123456789012.00000000` is mantissa 123456789012 at scale 0 (display 8), and price
/// `0.0000000123` is mantissa 123 at scale 10. A value that does not fit (more than 18
/// significant fraction digits, or a mantissa beyond `Int64`) is a parse error, never rounded.
///
/// Arithmetic that can overflow returns `nil` instead of trapping: bad input on a data path must
/// be reported, not crash the process. Sums use ``WideDecimal``.
public struct FixedDecimal: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The mantissa in canonical form.
    public let mantissa: Int64
    /// Power of ten of the mantissa, 0...18.
    public let scale: UInt8
    /// Fraction digits to print, at least `scale` (the digits the venue wrote).
    public let displayScale: UInt8

    /// The largest scale a value can have.
    public static let maxScale: UInt8 = 18
    /// The largest display scale accepted (trailing zeros beyond this are rejected as absurd).
    public static let maxDisplayScale: UInt8 = 36

    public static let zero = FixedDecimal(canonicalMantissa: 0, scale: 0, displayScale: 0)

    @inlinable
    init(canonicalMantissa: Int64, scale: UInt8, displayScale: UInt8) {
        self.mantissa = canonicalMantissa
        self.scale = scale
        self.displayScale = displayScale
    }

    /// Creates a value from any mantissa and scale, bringing it to canonical form.
    /// - Returns: `nil` when `scale` is above ``maxScale``.
    public init?(mantissa: Int64, scale: Int, displayScale: Int? = nil) {
        guard scale >= 0, scale <= Int(Self.maxScale) else { return nil }
        var m = mantissa
        var s = scale
        while s > 0, m % 10 == 0 {
            m /= 10
            s -= 1
        }
        let display = max(displayScale ?? scale, s)
        guard display <= Int(Self.maxDisplayScale) else { return nil }
        self.init(canonicalMantissa: m, scale: UInt8(s), displayScale: UInt8(display))
    }

    /// An integer value.
    public init(_ integer: Int64) {
        self.init(canonicalMantissa: integer, scale: 0, displayScale: 0)
    }

    public var isZero: Bool { mantissa == 0 }
    public var isNegative: Bool { mantissa < 0 }

    /// The same value printed with `digits` fraction digits (never fewer than ``scale``).
    public func withDisplayScale(_ digits: Int) -> FixedDecimal {
        let d = UInt8(clamping: max(Int(scale), min(digits, Int(Self.maxDisplayScale))))
        return FixedDecimal(canonicalMantissa: mantissa, scale: scale, displayScale: d)
    }

    // MARK: Comparison

    public static func == (lhs: FixedDecimal, rhs: FixedDecimal) -> Bool {
        lhs.mantissa == rhs.mantissa && lhs.scale == rhs.scale
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(mantissa)
        hasher.combine(scale)
    }

    @inlinable
    public static func < (lhs: FixedDecimal, rhs: FixedDecimal) -> Bool {
        if lhs.scale == rhs.scale { return lhs.mantissa < rhs.mantissa }
        // Cross-scale: widen to Int128; |m| < 2⁶³ and 10¹⁸ < 2⁶⁰, so the product fits.
        if lhs.scale < rhs.scale {
            return Int128(lhs.mantissa) * Int128(Pow10.int64(Int(rhs.scale - lhs.scale))) < Int128(rhs.mantissa)
        } else {
            return Int128(lhs.mantissa) < Int128(rhs.mantissa) * Int128(Pow10.int64(Int(lhs.scale - rhs.scale)))
        }
    }

    // MARK: Arithmetic (overflow reported as nil)

    /// `self + other`, or `nil` on overflow. The display scale is the larger of the two.
    public func adding(_ other: FixedDecimal) -> FixedDecimal? {
        combine(other, negateOther: false)
    }

    /// `self - other`, or `nil` on overflow.
    public func subtracting(_ other: FixedDecimal) -> FixedDecimal? {
        combine(other, negateOther: true)
    }

    private func combine(_ other: FixedDecimal, negateOther: Bool) -> FixedDecimal? {
        let s = max(scale, other.scale)
        guard let a = Self.rescale(mantissa, from: scale, to: s),
            let b = Self.rescale(other.mantissa, from: other.scale, to: s)
        else { return nil }
        let (sum, overflow) = negateOther ? a.subtractingReportingOverflow(b) : a.addingReportingOverflow(b)
        guard !overflow else { return nil }
        return FixedDecimal(mantissa: sum, scale: Int(s), displayScale: Int(max(displayScale, other.displayScale)))
    }

    /// `self × other`, or `nil` when the exact product does not fit (use ``WideDecimal/product(_:_:)`` for notionals).
    public func multiplied(by other: FixedDecimal) -> FixedDecimal? {
        let (p, overflow) = mantissa.multipliedReportingOverflow(by: other.mantissa)
        guard !overflow else { return nil }
        let s = Int(scale) + Int(other.scale)
        let display = min(Int(displayScale) + Int(other.displayScale), Int(Self.maxDisplayScale))
        if s <= Int(Self.maxScale) { return FixedDecimal(mantissa: p, scale: s, displayScale: display) }
        // Exact only if the surplus digits are zeros.
        var m = p
        var scaleLeft = s
        while scaleLeft > Int(Self.maxScale) {
            guard m % 10 == 0 else { return nil }
            m /= 10
            scaleLeft -= 1
        }
        return FixedDecimal(mantissa: m, scale: scaleLeft, displayScale: display)
    }

    /// The exact midpoint `(a + b) / 2`, printed with one more digit than the inputs when the halving needs it.
    public static func midpoint(_ a: FixedDecimal, _ b: FixedDecimal) -> FixedDecimal? {
        guard let w = WideDecimal(a).adding(WideDecimal(b)), let half = w.halved() else { return nil }
        return half.narrowed()
    }

    @inlinable
    static func rescale(_ m: Int64, from: UInt8, to: UInt8) -> Int64? {
        if from == to { return m }
        let (r, o) = m.multipliedReportingOverflow(by: Pow10.int64(Int(to - from)))
        return o ? nil : r
    }

    // MARK: Formatting

    public var description: String {
        var out: [UInt8] = []
        out.reserveCapacity(24)
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the exact decimal text (e.g. `61837.63000000`) to `out` without intermediate strings.
    @inlinable
    public func write(into out: inout [UInt8]) {
        DecimalText.write(
            negative: mantissa < 0, magnitude: UInt128(mantissa.magnitude), scale: Int(scale),
            displayScale: Int(displayScale), into: &out)
    }
}

/// Powers of ten used by the decimal types.
public enum Pow10 {
    /// 10^e for e in 0...18. A switch compiles to a constant table: unlike a global array it needs
    /// no lazy-initialisation check, which showed up at 13% of decimal parsing (BENCHMARKS.md).
    @inlinable
    public static func int64(_ e: Int) -> Int64 {
        switch e {
        case 0: 1
        case 1: 10
        case 2: 100
        case 3: 1_000
        case 4: 10_000
        case 5: 100_000
        case 6: 1_000_000
        case 7: 10_000_000
        case 8: 100_000_000
        case 9: 1_000_000_000
        case 10: 10_000_000_000
        case 11: 100_000_000_000
        case 12: 1_000_000_000_000
        case 13: 10_000_000_000_000
        case 14: 100_000_000_000_000
        case 15: 1_000_000_000_000_000
        case 16: 10_000_000_000_000_000
        case 17: 100_000_000_000_000_000
        case 18: 1_000_000_000_000_000_000
        default: preconditionFailure("10^\(e) does not fit Int64")
        }
    }

    /// 10^e for e in 0...38 (cold paths: sums, division).
    public static let int128: [Int128] = (0...38).map { e in (0..<e).reduce(Int128(1)) { acc, _ in acc * 10 } }
}

/// Shared decimal text writer for ``FixedDecimal`` and ``WideDecimal``.
public enum DecimalText {
    /// Builds the text backwards in a stack buffer and appends it once (one capacity check, not one
    /// per byte); texts longer than the buffer take the byte-at-a-time path below.
    @inlinable
    public static func write(negative: Bool, magnitude: UInt128, scale: Int, displayScale: Int, into out: inout [UInt8]) {
        let extra = displayScale > scale ? displayScale - scale : 0
        guard scale >= 0, 2 + max(39, scale + 1) + extra <= 128 else {
            writeByBytes(negative: negative, magnitude: magnitude, scale: scale, displayScale: displayScale, into: &out)
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { buf in
            var p = 128
            if magnitude <= UInt128(UInt64.max) {
                fill(UInt64(magnitude), negative: negative, scale: scale, displayScale: displayScale, extra: extra, buf, &p)
            } else {
                fill(magnitude, negative: negative, scale: scale, displayScale: displayScale, extra: extra, buf, &p)
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[p..<128]))
        }
    }

    @inlinable @inline(__always)
    static func fill<T: FixedWidthInteger & UnsignedInteger>(
        _ magnitude: T, negative: Bool, scale: Int, displayScale: Int, extra: Int,
        _ buf: UnsafeMutableBufferPointer<UInt8>, _ p: inout Int
    ) {
        var v = magnitude
        if displayScale > 0 {
            var k = extra
            while k > 0 {
                p -= 1
                buf[p] = 48
                k -= 1
            }
            k = scale
            while k > 0 {
                let (q, r) = v.quotientAndRemainder(dividingBy: 10)
                p -= 1
                buf[p] = UInt8(truncatingIfNeeded: r) &+ 48
                v = q
                k -= 1
            }
            p -= 1
            buf[p] = UInt8(ascii: ".")
        } else {
            var k = scale
            while k > 0 {
                v /= 10
                k -= 1
            }
        }
        repeat {
            let (q, r) = v.quotientAndRemainder(dividingBy: 10)
            p -= 1
            buf[p] = UInt8(truncatingIfNeeded: r) &+ 48
            v = q
        } while v != 0
        if negative && magnitude != 0 {
            p -= 1
            buf[p] = UInt8(ascii: "-")
        }
    }

    @inlinable
    static func writeByBytes(negative: Bool, magnitude: UInt128, scale: Int, displayScale: Int, into out: inout [UInt8]) {
        if negative && magnitude != 0 { out.append(UInt8(ascii: "-")) }
        // Digits of the magnitude, least significant first, into a fixed stack buffer.
        var digits: (
            UInt64, UInt64, UInt64, UInt64, UInt64
        ) = (0, 0, 0, 0, 0)  // 40 bytes: enough for 39 decimal digits of UInt128
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            if magnitude <= UInt128(UInt64.max) {
                // Fast path: 64-bit division is far cheaper than 128-bit.
                var v = UInt64(magnitude)
                repeat {
                    let (q, r) = v.quotientAndRemainder(dividingBy: 10)
                    raw[count] = UInt8(truncatingIfNeeded: r) &+ 48
                    count += 1
                    v = q
                } while v != 0
            } else {
                var v = magnitude
                repeat {
                    let (q, r) = v.quotientAndRemainder(dividingBy: 10)
                    raw[count] = UInt8(truncatingIfNeeded: r) &+ 48
                    count += 1
                    v = q
                } while v != 0
            }
            // Pad so there is at least one integer digit.
            while count <= scale {
                raw[count] = 48
                count += 1
            }
            var i = count - 1
            while i >= scale {
                out.append(raw[i])
                i -= 1
            }
            if displayScale > 0 {
                out.append(UInt8(ascii: "."))
                while i >= 0 {
                    out.append(raw[i])
                    i -= 1
                }
                var extra = displayScale - scale
                while extra > 0 {
                    out.append(48)
                    extra -= 1
                }
            }
        }
    }
}
