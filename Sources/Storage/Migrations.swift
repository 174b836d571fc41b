import Foundation

/// One numbered migration file from `schema/<dialect>/NNNN_name.sql`.
public struct Migration: Sendable, Hashable {
    public let version: Int
    public let name: String
    public let sql: String
    /// First line `-- requires: timescaledb`: applied only when the extension is available.
    public let requiresTimescaleDB: Bool

    /// FNV-1a 64 of the SQL text, recorded with the version so an edited migration is noticed.
    public var checksum: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in sql.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// The migration files shipped with the package (the `schema/` folder, a resource of Storage).
public enum Migrations {
    public enum Dialect: String, Sendable {
        case postgres
        case sqlite
    }

    /// The dialect's migrations in version order.
    public static func load(_ dialect: Dialect) throws(MigrationError) -> [Migration] {
        guard let root = Bundle.module.url(forResource: "schema", withExtension: nil) else {
            throw MigrationError("the schema/ resource is missing from the Storage bundle")
        }
        let dir = root.appendingPathComponent(dialect.rawValue, isDirectory: true)
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        } catch {
            throw MigrationError("cannot list \(dir.path): \(error)")
        }
        var out: [Migration] = []
        for file in names where file.hasSuffix(".sql") {
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else {
                throw MigrationError("migration file \(file) is not named NNNN_name.sql")
            }
            let sql: String
            do {
                sql = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            } catch {
                throw MigrationError("cannot read \(file): \(error)")
            }
            let firstLine = sql.prefix { $0 != "\n" }.trimmingCharacters(in: .whitespaces)
            out.append(
                Migration(
                    version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql,
                    requiresTimescaleDB: firstLine == "-- requires: timescaledb"))
        }
        out.sort { $0.version < $1.version }
        for (a, b) in zip(out, out.dropFirst()) where a.version == b.version {
            throw MigrationError("two migrations with version \(a.version): \(a.name), \(b.name)")
        }
        return out
    }
}

/// A migration that cannot be loaded or applied; names the file or version.
public struct MigrationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Migration {
    /// The file's statements, split on `;` outside quotes, dollar-quoted bodies (`$$ … $$`),
    /// comments, and the `BEGIN … END` body of a `CREATE [TEMP] TRIGGER` (SQLite's trigger syntax;
    /// `CASE … END` inside it is counted too), each trimmed; empty statements and comment-only text
    /// are dropped.
    /// (PostgresNIO runs one statement per query.)
    public var statements: [String] { Self.split(sql) }

    static func split(_ sql: String) -> [String] {
        let chars = Array(sql.unicodeScalars)
        var out: [String] = []
        var current = String.UnicodeScalarView()
        var hasCode = false
        var i = 0
        // The statement's first words (upper-cased) and, in a trigger, the open BEGIN/CASE blocks.
        var leading: [String] = []
        var depth = 0
        func flush() {
            let text = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if hasCode && !text.isEmpty { out.append(text) }
            current = String.UnicodeScalarView()
            hasCode = false
            leading = []
            depth = 0
        }
        func isWordScalar(_ u: Unicode.Scalar) -> Bool { u.properties.isAlphabetic || u == "_" || ("0"..."9").contains(u) }
        var isTrigger: Bool {
            guard leading.first == "CREATE", leading.count >= 2 else { return false }
            if leading[1] == "TRIGGER" { return true }
            return (leading[1] == "TEMP" || leading[1] == "TEMPORARY") && leading.count >= 3 && leading[2] == "TRIGGER"
        }
        while i < chars.count {
            let c = chars[i]
            if c == "-" && i + 1 < chars.count && chars[i + 1] == "-" {
                // Line comment: kept out of the statement text.
                while i < chars.count && chars[i] != "\n" { i += 1 }
                continue
            }
            if c == "'" || c == "\"" {
                current.append(c)
                i += 1
                while i < chars.count {
                    current.append(chars[i])
                    if chars[i] == c {
                        if i + 1 < chars.count && chars[i + 1] == c {  // doubled quote
                            current.append(chars[i + 1])
                            i += 2
                            continue
                        }
                        i += 1
                        break
                    }
                    i += 1
                }
                hasCode = true
                continue
            }
            if c == "$" {
                // $tag$ … $tag$ (tag may be empty)
                var j = i + 1
                while j < chars.count && (chars[j].properties.isAlphabetic || chars[j] == "_" || ("0"..."9").contains(chars[j])) { j += 1 }
                if j < chars.count && chars[j] == "$" {
                    let tag = Array(chars[i...j])
                    var k = j + 1
                    while k + tag.count <= chars.count && Array(chars[k..<(k + tag.count)]) != tag { k += 1 }
                    let end = min(k + tag.count, chars.count)
                    current.append(contentsOf: chars[i..<end])
                    i = end
                    hasCode = true
                    continue
                }
            }
            if c.properties.isAlphabetic || c == "_" {
                var j = i
                while j < chars.count && isWordScalar(chars[j]) { j += 1 }
                let word = String(String.UnicodeScalarView(chars[i..<j])).uppercased()
                if leading.count < 3 { leading.append(word) }
                if isTrigger {
                    if word == "BEGIN" || word == "CASE" {
                        depth += 1
                    } else if word == "END" && depth > 0 {
                        depth -= 1
                    }
                }
                current.append(contentsOf: chars[i..<j])
                hasCode = true
                i = j
                continue
            }
            if c == ";" {
                if depth > 0 {  // inside a trigger body: part of the statement
                    current.append(c)
                    i += 1
                    continue
                }
                flush()
                i += 1
                continue
            }
            if !c.properties.isWhitespace { hasCode = true }
            current.append(c)
            i += 1
        }
        flush()
        return out
    }
}
