import Foundation

/// Reading venue JSON with Foundation (independent of the gateway's own scanner).
enum JSONRead {
    /// The top-level object of `text`, or nil when it is not a JSON object.
    static func object(_ text: String) -> [String: Any]? {
        guard let data = text.data(using: .utf8) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) as? [String: Any]
    }

    /// Any top-level JSON value (arrays for Kraken-style frames).
    static func value(_ text: String) -> Any? {
        guard let data = text.data(using: .utf8) else { return nil }
        return try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }

    /// An integer field (JSON number or numeric string).
    static func int64(_ v: Any?) -> Int64? {
        switch v {
        case let n as NSNumber: return n.int64Value
        case let s as String: return Int64(s)
        default: return nil
        }
    }

    static func bool(_ v: Any?) -> Bool? {
        (v as? NSNumber)?.boolValue
    }

    /// `[["price","size",...],...]` as string pairs (numbers, if a venue sends them, keep their text).
    static func levels(_ v: Any?) -> [[String]] {
        guard let rows = v as? [Any] else { return [] }
        return rows.compactMap { row in
            guard let cells = row as? [Any] else { return nil }
            return cells.map(text)
        }
    }

    /// A scalar as text: strings verbatim, numbers in their shortest form.
    static func text(_ v: Any) -> String {
        switch v {
        case let s as String: return s
        case let n as NSNumber: return n.stringValue
        default: return "\(v)"
        }
    }

    /// The JSON text of a request's `id` (number, string or null), to echo it back.
    static func idText(_ v: Any?) -> String {
        switch v {
        case let s as String: return JSONText.quoted(s)
        case let n as NSNumber: return n.stringValue
        default: return "null"
        }
    }

    /// Query items of a URL string (`symbol=BTCUSDT&limit=1000`).
    static func query(ofURL url: String) -> [String: String] {
        guard let items = URLComponents(string: url)?.queryItems else { return [:] }
        var out: [String: String] = [:]
        for i in items { out[i.name] = i.value ?? "" }
        return out
    }
}
