import Yams

/// The configuration as a tree of text, before typing: the YAML file with the environment
/// overrides merged in. Each node remembers the environment variable it came from, so that a
/// bad value is reported under the name the user wrote.
struct ConfigurationNode {
    enum Value {
        /// `key:` with no value, `~` or `null`.
        case null
        case scalar(String)
        case list([ConfigurationNode])
        case map([Entry])
    }

    /// One `key: value` of a mapping. (A struct, not a labelled tuple: a tuple here trips a
    /// "circular reference" in the Swift 6.3 type checker.)
    struct Entry {
        var key: String
        var value: ConfigurationNode
    }

    var value: Value
    /// The environment variable that set this value; nil when it came from the file.
    var variable: String?

    init(_ value: Value, variable: String? = nil) {
        self.value = value
        self.variable = variable
    }

    /// A word for what this node is, for type errors.
    var kindDescription: String {
        switch value {
        case .null: "nothing"
        case .scalar(let text): quoted(text)
        case .list: "a list"
        case .map: "a mapping"
        }
    }
}

extension ConfigurationNode {
    /// Parses YAML text into a tree; nil for an empty document. Syntax errors become problems
    /// located at `source:LINE:COLUMN`.
    static func parse(yaml: String, source: String, problems: inout [ConfigurationError.Problem]) -> ConfigurationNode? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            problems.append(yamlProblem(error, source: source))
            return nil
        } catch {
            problems.append(.init(location: source, message: "not valid YAML (\(error))"))
            return nil
        }
        return root.map { convert($0, path: "", problems: &problems) }
    }

    private static func convert(_ node: Node, path: String, problems: inout [ConfigurationError.Problem]) -> ConfigurationNode {
        switch node {
        case .scalar(let s):
            // Only a plain (unquoted) scalar can be null; `""` and `"~"` are text.
            if s.style == .plain || s.style == .any, ["", "~", "null", "Null", "NULL"].contains(s.string) {
                return ConfigurationNode(.null)
            }
            return ConfigurationNode(.scalar(s.string))
        case .sequence(let seq):
            return ConfigurationNode(.list(seq.enumerated().map { i, item in
                convert(item, path: "\(path)[\(i)]", problems: &problems)
            }))
        case .mapping(let map):
            var entries: [Entry] = []
            for (key, value) in map {
                guard case .scalar(let k) = key else {
                    problems.append(.init(location: path.isEmpty ? "(top level)" : path, message: "keys must be plain text"))
                    continue
                }
                entries.append(Entry(key: k.string, value: convert(value, path: path.isEmpty ? k.string : "\(path).\(k.string)", problems: &problems)))
            }
            return ConfigurationNode(.map(entries))
        case .alias:
            // Yams.compose resolves aliases; one left over is an undefined anchor.
            problems.append(.init(location: path, message: "unresolved YAML alias"))
            return ConfigurationNode(.null)
        }
    }

    private static func yamlProblem(_ error: YamlError, source: String) -> ConfigurationError.Problem {
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
            return .init(location: "\(source):\(mark.line):\(mark.column)", message: "YAML syntax: \(problem)\(detail)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.sorted().joined(separator: ", ")
            return .init(location: "\(source):\(context.mark.line):\(context.mark.column)", message: "duplicate key \(keys)")
        case .reader(let problem, _, _, _):
            return .init(location: source, message: "not readable as YAML text: \(problem)")
        default:
            return .init(location: source, message: "not valid YAML (\(error))")
        }
    }
}

extension ConfigurationNode {
    /// Sets the value at `path` (keys from the root), creating mappings on the way and
    /// replacing whatever was there. An intermediate value that is not a mapping is replaced
    /// by one: the environment wins.
    mutating func set(_ path: ArraySlice<String>, to node: ConfigurationNode) {
        guard let key = path.first else {
            self = node
            return
        }
        var entries: [Entry] = []
        if case .map(let existing) = value { entries = existing }
        if let i = entries.firstIndex(where: { $0.key == key }) {
            entries[i].value.set(path.dropFirst(), to: node)
        } else {
            var child = ConfigurationNode(.null)
            child.set(path.dropFirst(), to: node)
            entries.append(Entry(key: key, value: child))
        }
        value = .map(entries)
    }
}

/// `"text"` with quotes and backslashes escaped, for messages and the configuration's YAML.
/// Other control characters are written `\uXXXX`: raw, they make the YAML unreadable (found by
/// fuzzing: an environment value with a control character, dumped, did not load back).
func quoted(_ text: String) -> String {
    var out = "\""
    for c in text.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\u{00}"..."\u{1F}", "\u{7F}"..."\u{9F}", "\u{2028}", "\u{2029}", "\u{FEFF}":
            let hex = String(c.value, radix: 16, uppercase: true)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(c)
        }
    }
    return out + "\""
}
