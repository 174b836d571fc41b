import NIOCore

/// NATS message headers (`HPUB`/`HMSG`): an ordered list of name/value fields, plus the status line
/// the server sets on its own messages (503 no responders, 100 idle heartbeat or flow control, 408, 404).
///
/// Names are compared exactly: nats-server looks up its own headers (`Nats-Msg-Id`,
/// `Nats-Expected-Last-Subject-Sequence`) case-sensitively.
public struct NATSHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    /// One `Name: value` line.
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The fields in wire order; a name may repeat.
    public private(set) var fields: [Field] = []
    /// The status code from the `NATS/1.0 503` line, set only by servers.
    public var status: Int?
    /// The text after the status code (`Idle Heartbeat`, `FlowControl Request`, `No Messages`).
    public var statusDescription: String?

    /// JetStream deduplicates publishes that carry the same value within the stream's duplicate window.
    public static let messageID = "Nats-Msg-Id"
    /// JetStream rejects the publish unless the subject's last stream sequence is this value (0: no message).
    public static let expectedLastSubjectSequence = "Nats-Expected-Last-Subject-Sequence"
    /// JetStream rejects the publish unless the stream's last stored message carried this `Nats-Msg-Id`.
    public static let expectedLastMessageID = "Nats-Expected-Last-Msg-Id"

    /// Empty headers.
    public init() {}

    /// Headers from `[name: value]` pairs, in the given order.
    public init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { Field(name: $0.0, value: $0.1) }
    }

    /// The first value for `name`; setting replaces every field with that name (nil removes them).
    public subscript(name: String) -> String? {
        get { fields.first { $0.name == name }?.value }
        set {
            fields.removeAll { $0.name == name }
            if let newValue { fields.append(Field(name: name, value: newValue)) }
        }
    }

    /// Every value for `name`, in order.
    public func values(for name: String) -> [String] { fields.filter { $0.name == name }.map(\.value) }

    /// Adds a field, keeping any earlier ones with the same name.
    public mutating func append(name: String, value: String) { fields.append(Field(name: name, value: value)) }

    /// Whether there are no fields and no status.
    public var isEmpty: Bool { fields.isEmpty && status == nil }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }
}

extension NATSHeaders {
    static let versionLine: StaticString = "NATS/1.0"
    static let versionBytes: [UInt8] = Array("NATS/1.0".utf8)

    /// Checks what `write(into:)` would put on the wire: a name must be non-empty printable ASCII
    /// without `:`; no value may contain CR or LF (either would end the header block early).
    func validate() throws {
        for field in fields {
            guard !field.name.isEmpty,
                field.name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") })
            else { throw NATSError(.invalidHeader, "header name \(String(reflecting: field.name)) is empty or has a space, colon or control byte") }
            guard !field.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) else {
                throw NATSError(.invalidHeader, "header \(field.name) value contains CR or LF")
            }
        }
    }

    /// Writes the header block `NATS/1.0\r\nName: value\r\n…\r\n` and returns its length.
    @discardableResult
    func write(into buffer: inout ByteBuffer) -> Int {
        var n = buffer.writeStaticString(Self.versionLine)
        n += buffer.writeStaticString("\r\n")
        for field in fields {
            n += buffer.writeString(field.name)
            n += buffer.writeStaticString(": ")
            n += buffer.writeString(field.value)
            n += buffer.writeStaticString("\r\n")
        }
        n += buffer.writeStaticString("\r\n")
        return n
    }

    /// Parses a header block as the server sends it (`NATS/1.0[ status[ description]]\r\n`, then
    /// `Name: value\r\n` lines, then an empty line). Values are trimmed of surrounding blanks.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> NATSHeaders {
        var lines = HeaderLines(bytes: bytes)
        guard let first = lines.next() else { throw NATSError(.protocolViolation, "empty header block") }
        let version = Self.versionBytes
        guard first.count >= version.count, first.prefix(version.count).elementsEqual(version) else {
            throw NATSError(.protocolViolation, "header block does not start with NATS/1.0: \(String(decoding: first.prefix(32), as: UTF8.self))")
        }
        var headers = NATSHeaders()
        let rest = trimBlanks(first.dropFirst(version.count))
        if !rest.isEmpty {
            let digits = rest.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            guard digits.count == 3 else {
                throw NATSError(.protocolViolation, "bad status in header block: \(String(decoding: rest, as: UTF8.self))")
            }
            headers.status = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            let description = trimBlanks(rest.dropFirst(3))
            if !description.isEmpty { headers.statusDescription = String(decoding: description, as: UTF8.self) }
        }
        var sawEnd = false
        while let line = lines.next() {
            if line.isEmpty {
                sawEnd = true
                break
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                throw NATSError(.protocolViolation, "header line without a colon: \(String(decoding: line.prefix(64), as: UTF8.self))")
            }
            let name = trimBlanks(line[line.startIndex..<colon])
            let value = trimBlanks(line[(colon + 1)...])
            headers.fields.append(Field(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
        }
        guard sawEnd else { throw NATSError(.protocolViolation, "header block does not end with an empty line") }
        return headers
    }
}

/// Splits a header block on CRLF (a bare LF is accepted too).
private struct HeaderLines {
    let bytes: UnsafeRawBufferPointer
    var index = 0

    mutating func next() -> Slice<UnsafeRawBufferPointer>? {
        guard index < bytes.count else { return nil }
        let start = index
        while index < bytes.count, bytes[index] != 0x0A { index += 1 }
        guard index < bytes.count else {
            // A last line without a line end.
            let line = bytes[start..<bytes.count]
            return line
        }
        var end = index
        if end > start, bytes[end - 1] == 0x0D { end -= 1 }
        index += 1
        return bytes[start..<end]
    }
}

private func trimBlanks<C: BidirectionalCollection>(_ bytes: C) -> C.SubSequence where C.Element == UInt8 {
    let isBlank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
    guard let first = bytes.firstIndex(where: { !isBlank($0) }) else { return bytes[bytes.endIndex...] }
    let last = bytes.lastIndex(where: { !isBlank($0) })!
    return bytes[first...last]
}
