import Foundation

/// A tiny JSON text builder for the simulator's answers. Prices and sizes are written as the
/// exchange's own strings (never through a number type), so REST answers and snapshots carry the
/// venue's digits verbatim.
struct JSONText {
    private(set) var text = ""
    /// Whether the next value in the current container needs a comma first.
    private var needsComma: [Bool] = [false]

    init() {}

    mutating func beginObject() { value("{"); needsComma.append(false) }
    mutating func endObject() { needsComma.removeLast(); text += "}" }
    mutating func beginArray() { value("["); needsComma.append(false) }
    mutating func endArray() { needsComma.removeLast(); text += "]" }

    /// A key inside an object; the value written next belongs to it.
    mutating func key(_ k: String) {
        value("")
        Self.appendEscaped(k, to: &text)
        text += ":"
        needsComma[needsComma.count - 1] = false
        pendingKey = true
    }

    mutating func string(_ s: String) {
        value("")
        Self.appendEscaped(s, to: &text)
    }
    mutating func int(_ v: Int64) { value(String(v)) }
    mutating func bool(_ v: Bool) { value(v ? "true" : "false") }
    mutating func null() { value("null") }
    /// Already-valid JSON text, inserted as one value.
    mutating func raw(_ json: String) { value(json) }

    /// `[["p","q",extra...],...]`: levels with their original strings.
    mutating func levels(_ levels: [SimBook.Level]) {
        beginArray()
        for l in levels {
            beginArray()
            string(l.price)
            string(l.size)
            for e in l.extra { string(e) }
            endArray()
        }
        endArray()
    }

    private var pendingKey = false

    /// Writes the separator a new value needs, then `fragment`.
    private mutating func value(_ fragment: String) {
        if pendingKey {
            pendingKey = false
        } else {
            if needsComma[needsComma.count - 1] { text += "," }
        }
        needsComma[needsComma.count - 1] = true
        text += fragment
    }

    static func appendEscaped(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    /// The JSON text of a single string value.
    static func quoted(_ s: String) -> String {
        var out = ""
        appendEscaped(s, to: &out)
        return out
    }
}
