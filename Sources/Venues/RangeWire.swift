internal import MarketCore

/// Range-based reads over one frame's bytes, shared by the venues' wire views (STYLE.md §4.5):
/// values are located once as byte ranges (quotes included for strings) and decoded on demand.
/// Every read is bounds-checked and returns `nil` on malformed input, never traps. The buffer must
/// not outlive the `handle` call that owns it.
protocol RangeWire {
    var bytes: UnsafeRawBufferPointer { get }
}

extension RangeWire {
    /// Walks the object that starts at `index`, calling `body` with each key and its value's range.
    /// A failure `body` throws ends the walk and propagates.
    /// - Returns: the index just past the closing `}`, or `nil` when the object is malformed or truncated.
    func walkObject<Failure: Error>(
        at index: Int, _ body: (UnsafeRawBufferPointer, Range<Int>) throws(Failure) -> Void
    ) throws(Failure) -> Int? {
        var s = JSONScanner(bytes, index: index)
        guard s.beginObject() else { return nil }
        while true {
            // `nextKey` alone cannot tell a closing `}` from the end of a truncated frame.
            guard let c = s.peek() else { return nil }
            if c == UInt8(ascii: "}") { return s.index + 1 }
            guard let key = s.nextKey(), let value = s.skipValue() else { return nil }
            try body(key, value)
        }
    }

    /// Walks an array of objects that starts at `index`, calling `body` with the start index of each
    /// element; `body` returns the index past the element it read, or `nil` to stop (a malformed
    /// element). A failure `body` throws ends the walk and propagates. OKX `data` and Coinbase
    /// `events`/`trades`/`updates` are read this way.
    /// - Parameter end: where the array must end at the latest (its range from ``walkObject(at:_:)``).
    /// - Returns: `false` when the array is malformed, ends past `end`, or `body` stopped.
    func walkElements<Failure: Error>(
        at index: Int, end: Int = .max, _ body: (Int) throws(Failure) -> Int?
    ) throws(Failure) -> Bool {
        var s = JSONScanner(bytes, index: index)
        guard s.beginArray() else { return false }
        while s.nextElement() {
            guard let next = try body(s.index) else { return false }
            s.index = next
        }
        return !s.failed && s.index <= end
    }

    /// The raw content of a string value (between its quotes), or `nil` when the range is not a string.
    func string(_ range: Range<Int>?) -> UnsafeRawBufferPointer? {
        guard let r = range, r.count >= 2, bytes[r.lowerBound] == UInt8(ascii: "\""),
            bytes[r.upperBound - 1] == UInt8(ascii: "\"")
        else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[(r.lowerBound + 1)..<(r.upperBound - 1)])
    }

    /// A string value with its escapes decoded (cold paths: error messages, symbols on first sight).
    func decodedString(_ range: Range<Int>?) -> String? {
        guard let raw = string(range) else { return nil }
        var out: [UInt8] = []
        guard JSONScanner.unescape(raw, into: &out) else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// An integer written bare (`123`) or quoted (`"123"`).
    func int(_ range: Range<Int>?) -> Int64? {
        guard let r = range else { return nil }
        return JSONScanner.parseInt64(string(r) ?? UnsafeRawBufferPointer(rebasing: bytes[r]))
    }
}
