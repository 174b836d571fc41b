/// One mapping of the configuration being read. Keys are taken as they are read; whatever is
/// left when the section is finished is an unknown key.
struct ConfigurationSection {
    /// The key path of this mapping (`venues.<id>`), "" at the top level.
    let path: String
    let entries: [ConfigurationNode.Entry]
    private var taken: Set<String> = []

    init(path: String, entries: [ConfigurationNode.Entry]) {
        self.path = path
        self.entries = entries
    }

    /// The key path of `key` in this mapping; an empty key is written `""` so a problem with it
    /// still says where it is.
    func keyPath(_ key: String) -> String {
        let name = key.isEmpty ? "\"\"" : key
        return path.isEmpty ? name : "\(path).\(name)"
    }

    /// Where a problem with `key` is reported: its environment variable when it came from
    /// there, else its key path.
    func location(_ key: String) -> String {
        entries.first { $0.key == key }?.value.variable ?? keyPath(key)
    }

    /// The node at `key`, marking it read.
    mutating func take(_ key: String) -> ConfigurationNode? {
        taken.insert(key)
        return entries.first { $0.key == key }?.value
    }

    /// Entries never taken.
    var untaken: [ConfigurationNode.Entry] { entries.filter { !taken.contains($0.key) } }
}

/// Reads typed values out of a ``ConfigurationNode`` tree, collecting problems instead of
/// stopping at the first. Each `read` assigns its target only when the value is present and
/// valid, so the target keeps its default otherwise.
struct ConfigurationReader {
    private(set) var problems: [ConfigurationError.Problem] = []

    mutating func report(_ location: String, _ message: String) {
        problems.append(.init(location: location, message: message))
    }

    // MARK: Structure

    /// `node` as a mapping at `path`; nil (reported) when it is something else. `key:` with
    /// nothing under it is an empty mapping.
    mutating func section(_ node: ConfigurationNode, path: String) -> ConfigurationSection? {
        switch node.value {
        case .map(let entries): return ConfigurationSection(path: path, entries: entries)
        case .null: return ConfigurationSection(path: path, entries: [])
        default:
            report(node.variable ?? path, "expected a mapping of keys, found \(node.kindDescription)")
            return nil
        }
    }

    /// The mapping at `key` of `parent`, when present.
    mutating func section(_ parent: inout ConfigurationSection, _ key: String) -> ConfigurationSection? {
        guard let node = parent.take(key) else { return nil }
        return section(node, path: parent.keyPath(key))
    }

    /// Reports every key of `section` that was not read.
    mutating func finish(_ section: ConfigurationSection, known: [String], noun: String = "key") {
        for entry in section.untaken {
            report(entry.value.variable ?? section.keyPath(entry.key), "unknown \(noun) (known: \(known.joined(separator: ", ")))")
        }
    }

    /// The text of a single value; nil (reported) for a list, a mapping or nothing.
    mutating func scalar(_ node: ConfigurationNode, at location: String) -> String? {
        if case .scalar(let text) = node.value { return text }
        report(location, node.value.isNull ? "has no value" : "expected a single value, found \(node.kindDescription)")
        return nil
    }

    /// The items of a list with their locations (`path[1]`); `key:` with nothing is empty.
    mutating func list(_ section: inout ConfigurationSection, _ key: String) -> [(text: String, location: String)]? {
        guard let node = section.take(key) else { return nil }
        let location = section.location(key)
        switch node.value {
        case .null: return []
        case .list(let items):
            var out: [(String, String)] = []
            for (i, item) in items.enumerated() {
                if let text = scalar(item, at: "\(location)[\(i)]") { out.append((text, "\(location)[\(i)]")) }
            }
            // A list with a bad item is not used, so the problem is not hidden by defaults.
            return out.count == items.count ? out : nil
        default:
            report(location, "expected a list (e.g. [a, b]), found \(node.kindDescription)")
            return nil
        }
    }

    /// A value of `key` converted by `convert`, which returns the value or the problem.
    mutating func read<T>(
        _ section: inout ConfigurationSection, _ key: String, into target: inout T,
        nullAs null: T? = nil, _ convert: (String) -> Result<T, Problem>
    ) {
        guard let node = section.take(key) else { return }
        let location = section.location(key)
        if node.value.isNull, let null {
            target = null
            return
        }
        guard let text = scalar(node, at: location) else { return }
        switch convert(text) {
        case .success(let value): target = value
        case .failure(let problem): report(location, problem.message)
        }
    }

    /// A conversion failure: just the message; the location is added by the reader.
    struct Problem: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    // MARK: Typed values

    mutating func string(_ section: inout ConfigurationSection, _ key: String, into target: inout String, nonEmpty: Bool = false) {
        read(&section, key, into: &target, nullAs: nonEmpty ? nil : "") { text in
            nonEmpty && text.isEmpty ? .failure(Problem("must not be empty")) : .success(text)
        }
    }

    mutating func bool(_ section: inout ConfigurationSection, _ key: String, into target: inout Bool) {
        read(&section, key, into: &target) { Self.bool($0) }
    }

    mutating func int(_ section: inout ConfigurationSection, _ key: String, into target: inout Int, in range: ClosedRange<Int>) {
        read(&section, key, into: &target) { Self.int($0, in: range) }
    }

    /// An integer where `0` or `off` means nil.
    mutating func optionalInt(_ section: inout ConfigurationSection, _ key: String, into target: inout Int?, in range: ClosedRange<Int>) {
        read(&section, key, into: &target) { text in
            if text.lowercased() == "off" { return .success(nil) }
            return Self.int(text, in: 0...range.upperBound).flatMap { n in
                n == 0 ? .success(nil) : Self.inRange(n, range).map { Optional($0) }
            }
        }
    }

    /// A duration; `positive` rejects zero.
    mutating func duration(_ section: inout ConfigurationSection, _ key: String, into target: inout Duration, positive: Bool) {
        read(&section, key, into: &target) { text in
            guard let d = DurationText.parse(text) else { return .failure(Problem("\(quoted(text)) is not a duration (use 500ms, 30s, 5m, 1h30m)")) }
            return positive && d == .zero ? .failure(Problem("must be longer than 0s")) : .success(d)
        }
    }

    /// A duration where `0` or `off` means nil.
    mutating func optionalDuration(_ section: inout ConfigurationSection, _ key: String, into target: inout Duration?) {
        read(&section, key, into: &target) { text in
            if text.lowercased() == "off" { return .success(nil) }
            guard let d = DurationText.parse(text) else {
                return .failure(Problem("\(quoted(text)) is not a duration (use 500ms, 30s, 5m, 1h30m, or off)"))
            }
            return .success(d == .zero ? nil : d)
        }
    }

    // MARK: Conversions

    static func bool(_ text: String) -> Result<Bool, Problem> {
        switch text.lowercased() {
        case "true": .success(true)
        case "false": .success(false)
        default: .failure(Problem("\(quoted(text)) is not a boolean (use true or false)"))
        }
    }

    /// A whole number; `_` may group digits (`1_000_000`).
    static func int(_ text: String, in range: ClosedRange<Int>) -> Result<Int, Problem> {
        let digits = String(text.filter { $0 != "_" })
        guard !text.hasPrefix("_"), !text.hasSuffix("_"), let n = Int(digits) else {
            return .failure(Problem("\(quoted(text)) is not an integer"))
        }
        return inRange(n, range)
    }

    static func inRange(_ n: Int, _ range: ClosedRange<Int>) -> Result<Int, Problem> {
        if range.contains(n) { return .success(n) }
        if range.upperBound == .max { return .failure(Problem("\(n) is out of range (at least \(range.lowerBound))")) }
        return .failure(Problem("\(n) is out of range \(range.lowerBound)...\(range.upperBound)"))
    }
}

extension ConfigurationNode.Value {
    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}
