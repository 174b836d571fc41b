public import MarketCore

/// A flat JSON object read for request bodies: strings, and numbers kept as their exact text so a
/// decimal such as `0.1` is never rounded through a binary float.
public struct JSONFields: Sendable {
    public enum Value: Sendable, Hashable {
        case string(String)
        case number(String)
        case bool(Bool)
        case null
        /// An object or array (kept as its JSON text).
        case nested(String)
    }

    public private(set) var values: [String: Value] = [:]

    /// `nil` when `bytes` is not one JSON object.
    public init?(_ bytes: [UInt8]) {
        let parsed: [String: Value]? = bytes.withUnsafeBytes { raw in
            var s = JSONScanner(raw)
            guard s.beginObject() else { return nil }
            var out: [String: Value] = [:]
            while let k = s.nextKey() {
                let key = String(decoding: k, as: UTF8.self)
                s.skipWhitespace()
                switch s.peek() {
                case UInt8(ascii: "\""):
                    guard let v = s.readString() else { return nil }
                    out[key] = .string(v)
                default:
                    guard let r = s.skipValue() else { return nil }
                    let text = String(decoding: UnsafeRawBufferPointer(rebasing: raw[r]), as: UTF8.self)
                    switch text {
                    case "true": out[key] = .bool(true)
                    case "false": out[key] = .bool(false)
                    case "null": out[key] = .null
                    default: out[key] = text.first == "{" || text.first == "[" ? .nested(text) : .number(text)
                    }
                }
            }
            guard !s.failed else { return nil }
            s.skipWhitespace()
            return s.isAtEnd ? out : nil
        }
        guard let parsed else { return nil }
        values = parsed
    }

    public subscript(_ key: String) -> Value? { values[key] }

    public func string(_ key: String) -> String? {
        if case .string(let s) = values[key] { return s }
        return nil
    }

    /// A decimal given as a JSON string (`"0.015"`) or number (`0.015`); `nil` when absent or null.
    /// Exponents, non-numbers and more than 36 fraction digits throw.
    public func decimal(_ key: String) throws(FieldError) -> WideDecimal? {
        switch values[key] {
        case nil, .null?: return nil
        case .string(let s)?, .number(let s)?:
            guard let d = WideDecimal.parse(s) else { throw FieldError(field: key, message: "'\(s)' is not a plain decimal number") }
            return d
        default: throw FieldError(field: key, message: "must be a decimal number or a string holding one")
        }
    }

    public func bool(_ key: String) -> Bool? {
        if case .bool(let b) = values[key] { return b }
        return nil
    }
}

/// A request field that is missing or malformed.
public struct FieldError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var message: String
    /// The API's error code (400): `bad_request`, or `unknown_venue` / `unknown_symbol` /
    /// `unknown_asset` for well-formed names the gateway does not know.
    public var code: String
    public init(field: String, message: String, code: String = "bad_request") {
        self.field = field
        self.message = message
        self.code = code
    }
    public var description: String { "\(field): \(message)" }
}
