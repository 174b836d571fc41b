/// One step of a path into JSON: an object key or an array index.
enum JSONPathItem: Sendable, Equatable {
    case key(String)
    case index(Int)
}

/// A scalar (string, number, literal) found in JSON text, with where it sits and where its bytes are.
struct JSONScalar: Sendable {
    var path: [JSONPathItem]
    /// Byte range of the token: quotes included for strings.
    var range: Range<Int>
    var isString: Bool

    /// The last key on the path (`"u"` for `data.u`), nil when the scalar sits in an array.
    var key: String? {
        if case .key(let k) = path.last { return k }
        return nil
    }

    /// The token's text without quotes (ids and times carry no escapes).
    func text(in bytes: [UInt8]) -> String {
        let r = isString ? (range.lowerBound + 1)..<(range.upperBound - 1) : range
        return String(decoding: bytes[r], as: UTF8.self)
    }
}

/// Finds the scalars of JSON text without building objects, so a frame can be rewritten in place:
/// replacing a few tokens keeps every other byte (key order, spacing, number spelling) as it was.
/// Malformed text gives the scalars found before the fault.
struct JSONScanner {
    let bytes: [UInt8]
    /// Containers whose contents need not be reported (price levels): scanned over, not recorded.
    let skip: ([JSONPathItem]) -> Bool
    private var i = 0
    private var path: [JSONPathItem] = []
    private var recording = true
    private(set) var scalars: [JSONScalar] = []

    init(_ bytes: [UInt8], skip: @escaping ([JSONPathItem]) -> Bool = { _ in false }) {
        self.bytes = bytes
        self.skip = skip
    }

    /// The scalars of `bytes`, in text order.
    static func scalars(_ bytes: [UInt8], skip: @escaping ([JSONPathItem]) -> Bool = { _ in false }) -> [JSONScalar] {
        var s = JSONScanner(bytes, skip: skip)
        _ = s.value()
        return s.scalars
    }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    /// Scans one value at `i`; false on malformed text.
    private mutating func value() -> Bool {
        skipSpace()
        guard i < bytes.count else { return false }
        switch bytes[i] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let wasRecording = recording
            if recording, !path.isEmpty, skip(path) { recording = false }
            defer { recording = wasRecording }
            return bytes[i] == UInt8(ascii: "{") ? object() : array()
        case UInt8(ascii: "\""):
            guard let r = stringToken() else { return false }
            if recording { scalars.append(JSONScalar(path: path, range: r, isString: true)) }
            return true
        default:
            let start = i
            while i < bytes.count {
                let c = bytes[i]
                if c == UInt8(ascii: ",") || c == UInt8(ascii: "}") || c == UInt8(ascii: "]") || c == 0x20 || c == 0x0A
                    || c == 0x0D || c == 0x09
                {
                    break
                }
                i += 1
            }
            guard i > start else { return false }
            if recording { scalars.append(JSONScalar(path: path, range: start..<i, isString: false)) }
            return true
        }
    }

    private mutating func object() -> Bool {
        i += 1
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
            i += 1
            return true
        }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\""), let k = stringToken() else { return false }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
            i += 1
            path.append(.key(String(decoding: bytes[(k.lowerBound + 1)..<(k.upperBound - 1)], as: UTF8.self)))
            let ok = value()
            path.removeLast()
            guard ok else { return false }
            skipSpace()
            guard i < bytes.count else { return false }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            guard bytes[i] == UInt8(ascii: "}") else { return false }
            i += 1
            return true
        }
    }

    private mutating func array() -> Bool {
        i += 1
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") {
            i += 1
            return true
        }
        var n = 0
        while true {
            path.append(.index(n))
            let ok = value()
            path.removeLast()
            guard ok else { return false }
            n += 1
            skipSpace()
            guard i < bytes.count else { return false }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            guard bytes[i] == UInt8(ascii: "]") else { return false }
            i += 1
            return true
        }
    }

    /// The range of the string token at `i` (quotes included); moves past it.
    private mutating func stringToken() -> Range<Int>? {
        let start = i
        i += 1
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "\\"): i += 2
            case UInt8(ascii: "\""):
                i += 1
                return start..<i
            default: i += 1
            }
        }
        return nil
    }
}

extension JSONScalar {
    /// `bytes` with the given scalars' contents replaced (strings keep their quotes).
    static func replacing(_ bytes: [UInt8], _ replacements: [(JSONScalar, String)]) -> [UInt8] {
        guard !replacements.isEmpty else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16 * replacements.count)
        var at = 0
        for (s, text) in replacements.sorted(by: { $0.0.range.lowerBound < $1.0.range.lowerBound }) {
            let inner = s.isString ? (s.range.lowerBound + 1)..<(s.range.upperBound - 1) : s.range
            guard inner.lowerBound >= at else { continue }
            out += bytes[at..<inner.lowerBound]
            out += Array(text.utf8)
            at = inner.upperBound
        }
        out += bytes[at...]
        return out
    }
}
