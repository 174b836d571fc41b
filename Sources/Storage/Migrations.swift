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
