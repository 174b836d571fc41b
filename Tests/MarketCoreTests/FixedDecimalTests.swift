import Foundation
import MarketCore
import Testing

@Suite("FixedDecimal")
struct FixedDecimalTests {
    @Test(arguments: [
        "61837.63000000", "0.00000000", "0", "0.0000000123", "123456789012.00000000", "0.50000000", "-0.5",
        "1", "10", "100.0", "0.1", "9223372036854775807", "-9223372036854775807", "0.000000000000000001",
        "00012.3400", "7.6110", "32623.3",
    ])
    func roundTripsExactText(_ text: String) throws {
        let d = try FixedDecimal(parsing: text)
        // Leading zeros are not kept (they carry no digit the checksums use); everything else is.
        let expected: String = {
            var t = text
            let negative = t.hasPrefix("-")
            if negative { t.removeFirst() }
            while t.hasPrefix("0"), t.count > 1, !t.hasPrefix("0.") { t.removeFirst() }
            return (negative ? "-" : "") + t
        }()
        #expect(d.description == expected)
    }

    @Test func holdsTheExtremesVenuesSend() throws {
        let q = try FixedDecimal(parsing: "123456789012.00000000")
        #expect(q.mantissa == 123_456_789_012 && q.scale == 0 && q.displayScale == 8)
        let p = try FixedDecimal(parsing: "0.0000000123")
        #expect(p.mantissa == 123 && p.scale == 10)
    }

    @Test(arguments: [
        ("", DecimalParseError.empty), ("-", .empty), (".", .empty), ("1.2.3", .invalidCharacter(offset: 3)),
        ("1e-8", .invalidCharacter(offset: 1)), (" 1", .invalidCharacter(offset: 0)), ("+1", .invalidCharacter(offset: 0)),
        ("9223372036854775808", .overflow), ("0.0000000000000000001", .tooManyFractionDigits),
        ("12345678901234567890.5", .overflow), ("NaN", .invalidCharacter(offset: 0)),
    ])
    func rejectsWhatItCannotHoldExactly(_ text: String, _ error: DecimalParseError) {
        #expect(throws: error) { try FixedDecimal(parsing: text) }
    }

    @Test func equalityIgnoresTrailingZerosButDisplayKeepsThem() throws {
        let a = try FixedDecimal(parsing: "0.1")
        let b = try FixedDecimal(parsing: "0.10")
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(b.description == "0.10")
        #expect(Set([a, b]).count == 1)
    }

    /// Ordering and arithmetic checked against Foundation's `Decimal`, an independent implementation.
    @Test func comparisonAndArithmeticAgreeWithFoundationDecimal() throws {
        let values = [
            "0", "0.1", "0.10", "1", "-1", "61837.63", "61837.630001", "0.0000000123", "123456789012", "-0.5",
            "7.6110", "99999.99999999", "0.00001000", "427.84", "427.9",
        ]
        for x in values {
            for y in values {
                let a = try FixedDecimal(parsing: x)
                let b = try FixedDecimal(parsing: y)
                let da = Decimal(string: x)!
                let db = Decimal(string: y)!
                #expect((a < b) == (da < db), "\(x) < \(y)")
                #expect((a == b) == (da == db), "\(x) == \(y)")
                if let s = a.adding(b) { #expect(Decimal(string: s.description)! == da + db, "\(x) + \(y)") }
                if let d = a.subtracting(b) {
                    #expect(Decimal(string: d.description)! == da - db, "\(x) - \(y)")
                    // (a - b) + b == a
                    #expect(d.adding(b) == a)
                }
                let p = WideDecimal.product(a, b)
                #expect(Decimal(string: p.description)! == da * db, "\(x) * \(y)")
            }
        }
    }

    @Test func overflowIsReportedNotTrapped() throws {
        let big = try FixedDecimal(parsing: "9223372036854775807")
        #expect(big.adding(FixedDecimal(1)) == nil)
        #expect(big.multiplied(by: FixedDecimal(2)) == nil)
        let tiny = try FixedDecimal(parsing: "0.000000001")
        // 10⁻⁹ × 10⁻¹⁰ needs scale 19: not representable in FixedDecimal, exact in WideDecimal.
        let t2 = try FixedDecimal(parsing: "0.0000000001")
        #expect(tiny.multiplied(by: t2) == nil)
        #expect(WideDecimal.product(tiny, t2).description == "0.0000000000000000001")
    }

    @Test func midpointIsExact() throws {
        let mid = try #require(FixedDecimal.midpoint(FixedDecimal(parsing: "61837.63000000"), FixedDecimal(parsing: "61837.64000000")))
        // Fits the inputs' 8 digits: no extra digit.
        #expect(mid.description == "61837.63500000")
        // Needs one more digit than the inputs: 0.000000015.
        let fine = try #require(FixedDecimal.midpoint(FixedDecimal(parsing: "0.00000001"), FixedDecimal(parsing: "0.00000002")))
        #expect(fine.description == "0.000000015")
        let even = try #require(FixedDecimal.midpoint(FixedDecimal(parsing: "1.00"), FixedDecimal(parsing: "3.00")))
        #expect(even.description == "2.00")
    }

    /// Candle sums: values of one scale (the fast path) and of different scales, checked against
    /// Foundation's `Decimal`; overflow is nil, not a trap.
    @Test func wideSumsAtOneScaleAndAcrossScales() throws {
        let values = ["0.00100000", "12.5", "-3.25", "0", "99999999.99999999", "0.00000001", "-0.00000001"]
        for x in values {
            for y in values {
                let a = WideDecimal(try FixedDecimal(parsing: x))
                let b = WideDecimal(try FixedDecimal(parsing: y))
                let sum = try #require(a.adding(b))
                #expect(Decimal(string: sum.description)! == Decimal(string: x)! + Decimal(string: y)!, "\(x) + \(y) = \(sum)")
                #expect(sum.displayScale == max(a.displayScale, b.displayScale), "\(x) + \(y) = \(sum)")
            }
        }
        let largest = WideDecimal(mantissa: Int128.max, scale: 2, displayScale: 2)
        #expect(largest.adding(WideDecimal(mantissa: 1, scale: 2, displayScale: 2)) == nil)
        #expect(largest.adding(WideDecimal(mantissa: 1, scale: 3, displayScale: 3)) == nil)
        #expect(WideDecimal(mantissa: Int128.min, scale: 4, displayScale: 4).adding(WideDecimal(mantissa: -1, scale: 4, displayScale: 4)) == nil)
    }

    /// Trailing fraction zeros must not make a product that fits overflow (a property test's find:
    /// `460485000000000000.000000000000000 × 36.9483`, whose raw mantissas' product leaves `Int128`).
    /// Checked against Foundation's `Decimal`; a product with more digits than 38 stays nil.
    @Test func wideProductsOfOverPreciseFactorsThatFit() throws {
        let cases = [
            ("460485000000000000.000000000000000", "36.9483"),
            ("36.9483", "460485000000000000.000000000000000"),
            ("-1000000000.00000000000000000000", "123456789.123456789"),
            ("0.10000000000000000000000000000000", "99999999999999999999.5"),
        ]
        for (x, y) in cases {
            let a = try #require(WideDecimal.parse(x))
            let b = try #require(WideDecimal.parse(y))
            let p = try #require(a.multiplied(by: b), "\(x) × \(y)")
            #expect(Decimal(string: p.description)! == Decimal(string: x)! * Decimal(string: y)!, "\(x) × \(y) = \(p)")
            #expect(p.displayScale == min(a.displayScale + b.displayScale, WideDecimal.maxScale), "\(x) × \(y) = \(p)")
        }
        let big = try #require(WideDecimal.parse("12345678901234567890.123"))
        #expect(big.multiplied(by: big) == nil)
    }

    @Test func vwapRoundsHalfEvenToTenDigits() throws {
        // 1/3 → 0.3333333333; 2/3 → 0.6666666667; 0.00000000005 boundary cases.
        let one = WideDecimal(FixedDecimal(1))
        let three = WideDecimal(FixedDecimal(3))
        #expect(one.divided(by: three, roundingToFractionDigits: 10)?.description == "0.3333333333")
        let two = WideDecimal(FixedDecimal(2))
        #expect(two.divided(by: three, roundingToFractionDigits: 10)?.description == "0.6666666667")
        // 0.00000000025 → tie → even: 0.0000000002; 0.00000000035 → 0.0000000004.
        let a = WideDecimal(try FixedDecimal(parsing: "0.00000000025"))
        #expect(a.divided(by: one, roundingToFractionDigits: 10)?.description == "0.0000000002")
        let b = WideDecimal(try FixedDecimal(parsing: "0.00000000035"))
        #expect(b.divided(by: one, roundingToFractionDigits: 10)?.description == "0.0000000004")
        #expect(one.divided(by: .zero, roundingToFractionDigits: 10) == nil)
    }

    /// Numbers in the shape the eight-digits-at-a-time reader takes (and just outside it: 9 fraction
    /// or 11 integer digits, no fraction), quoted inside JSON-like bytes and at the very end of a
    /// buffer, checked against Foundation's `Decimal` and the exact text.
    @Test func quotedNumbersAgreeWithFoundationDecimal() throws {
        var rng = SystemRandomNumberGenerator()
        func digits(_ n: Int, zeroHeavy: Bool) -> String {
            String((0..<n).map { _ in
                zeroHeavy && Bool.random(using: &rng) ? "0" : Character(String(Int.random(in: 0...9, using: &rng)))
            })
        }
        for round in 0..<20_000 {
            let integer = String(Int.random(in: 1...9, using: &rng)) + digits(Int.random(in: 0...10, using: &rng), zeroHeavy: false)
            let fraction = digits(Int.random(in: 0...9, using: &rng), zeroHeavy: round % 2 == 0)
            var text = fraction.isEmpty ? integer : integer + "." + fraction
            if round % 7 == 0 { text = "-" + text }
            if round % 11 == 0 { text = "0." + fraction.prefix(8) + (fraction.count > 8 ? "" : "1") }
            let expected = try #require(Decimal(string: text))
            let tail = ["\",\"q\":\"1\"}", "\"", "\"]]"][round % 3]
            let json = Array(("[\"" + text + tail).utf8)
            let (result, end) = json.withUnsafeBytes { FixedDecimal.parse($0, from: 2, terminator: UInt8(ascii: "\"")) }
            // Up to 18 digits always fit an Int64 mantissa; longer ones are the overflow tests' business.
            guard text.filter(\.isNumber).count <= 18 else { continue }
            guard case .success(let value) = result else { Issue.record("\(text): \(result)"); continue }
            #expect(end == 2 + text.utf8.count, "\(text)")
            #expect(Decimal(string: value.description) == expected, "\(text)")
            #expect(value.description == text.trimmingLeadingZeros(), "\(text)")
            #expect(value.scale == 0 || value.mantissa % 10 != 0, "\(text) not canonical")
            // The same text as a whole buffer (no bytes after it to read ahead into).
            #expect(try FixedDecimal(parsing: text) == value)
        }
    }

    /// Random round-trips: format(parse(s)) == s for canonical strings, and (a + b) − b == a.
    @Test func randomRoundTrips() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let intDigits = Int.random(in: 1...9, using: &rng)
            let fracDigits = Int.random(in: 0...9, using: &rng)
            var s = String(Int.random(in: 1...9, using: &rng))
            for _ in 1..<intDigits { s.append(String(Int.random(in: 0...9, using: &rng))) }
            if fracDigits > 0 {
                s.append(".")
                for _ in 0..<fracDigits { s.append(String(Int.random(in: 0...9, using: &rng))) }
            }
            if Bool.random(using: &rng) { s = "-" + s }
            let d = try FixedDecimal(parsing: s)
            #expect(d.description == s)
            let other = try FixedDecimal(parsing: "0.00012345")
            #expect(d.adding(other)?.subtracting(other) == d)
        }
    }
}

@Suite("UnixNanos")
struct UnixNanosTests {
    // Expected texts computed independently with Python's datetime (UTC).
    @Test(arguments: [
        (Int64(1_723_161_255_342), "2024-08-08T23:54:15.342Z"), (0, "1970-01-01T00:00:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"), (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ])
    func formatsMilliseconds(_ ms: Int64, _ text: String) {
        #expect(UnixNanos.milliseconds(ms).iso8601(fractionDigits: 3) == text)
        #expect(UnixNanos.parseISO8601(text) == UnixNanos.milliseconds(ms))
    }

    @Test func parsesMicrosecondsExactly() {
        let t = UnixNanos.parseISO8601("2021-04-17T16:43:37.075687Z")
        #expect(t == UnixNanos.microseconds(1_618_677_817_075_687))
        #expect(t?.iso8601(fractionDigits: 6) == "2021-04-17T16:43:37.075687Z")
        #expect(UnixNanos.parseISO8601("2021-04-17T16:43:37Z")?.iso8601(fractionDigits: 0) == "2021-04-17T16:43:37Z")
        #expect(UnixNanos.parseISO8601("2021-13-17T16:43:37Z") == nil)
        #expect(UnixNanos.parseISO8601("2021-04-17T16:43:37.Z") == nil)
        #expect(UnixNanos.parseISO8601("garbage") == nil)
        // Far outside Int64 nanoseconds: nil, not a trap.
        #expect(UnixNanos.parseISO8601("9999-12-31T23:59:59.999999Z") == nil)
    }

    @Test func parsesDecimalSecondsWithoutDouble() {
        var s = "1618677817.123456"
        let t = s.withUTF8 { UnixNanos.parseDecimalSeconds(UnsafeRawBufferPointer($0)) }
        #expect(t?.rawValue == 1_618_677_817_123_456_000)
    }

    @Test func floorsNegativeTimesDown() {
        #expect(UnixNanos(-1).floored(to: 60_000_000_000).rawValue == -60_000_000_000)
        #expect(UnixNanos(60_000_000_000).floored(to: 60_000_000_000).rawValue == 60_000_000_000)
    }
}

extension String {
    /// `"-0012.5"` → `"-12.5"`: the integer part's leading zeros are not kept.
    fileprivate func trimmingLeadingZeros() -> String {
        var t = Substring(self)
        let negative = t.hasPrefix("-")
        if negative { t = t.dropFirst() }
        while t.hasPrefix("0"), t.count > 1, !t.hasPrefix("0.") { t = t.dropFirst() }
        return (negative ? "-" : "") + t
    }
}
