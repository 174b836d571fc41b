public import MarketCore
import PostgresNIO
import SQLiteNIO

/// One row of the strategy registry (migration 0020), in the store's terms.
public struct StoredStrategy: Sendable, Hashable {
    public var id: String
    public var contentHash: String
    public var creator: String
    public var parent: String?
    public var generation: Int
    public var created: UnixNanos
    public var name: String
    public var version: Int
    public var kind: String
    /// `name=value,name=value`
    public var parameters: String
    /// Comma-joined.
    public var instruments: String
    public var intervals: String
    public var passed: Bool
    /// Newline-joined.
    public var reasons: String
    public var roundTrips: Int
    public var maxDrawdown: WideDecimal
    public var totalReturn: WideDecimal
    public var candles: Int

    public init(
        id: String, contentHash: String, creator: String, parent: String?, generation: Int, created: UnixNanos, name: String,
        version: Int, kind: String, parameters: String, instruments: String, intervals: String, passed: Bool, reasons: String,
        roundTrips: Int, maxDrawdown: WideDecimal, totalReturn: WideDecimal, candles: Int
    ) {
        self.id = id
        self.contentHash = contentHash
        self.creator = creator
        self.parent = parent
        self.generation = generation
        self.created = created
        self.name = name
        self.version = version
        self.kind = kind
        self.parameters = parameters
        self.instruments = instruments
        self.intervals = intervals
        self.passed = passed
        self.reasons = reasons
        self.roundTrips = roundTrips
        self.maxDrawdown = maxDrawdown
        self.totalReturn = totalReturn
        self.candles = candles
    }
}

/// The registry's table: insert once, read all back at start-up.
public protocol StrategyStore: Sendable {
    /// Fails (a unique violation) when the id or content hash is already stored.
    func insertStrategy(_ s: StoredStrategy) async throws
    /// Every stored strategy, oldest first.
    func strategies() async throws -> [StoredStrategy]
}

extension SQLiteStore: StrategyStore {
    public func insertStrategy(_ s: StoredStrategy) async throws {
        try await withWriter { c in
            _ = try await c.query(
                """
                INSERT INTO strategies (id, content_hash, creator, parent, generation, created, created_ns, name, version, kind,
                  parameters, instruments, intervals, passed, reasons, round_trips, max_drawdown, total_return, candles)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    .text(s.id), .text(s.contentHash), .text(s.creator), s.parent.map { .text($0) } ?? .null, .integer(s.generation),
                    .text(s.created.iso8601(fractionDigits: 9)), .integer(SQLiteInt64(s.created.rawValue)), .text(s.name),
                    .integer(s.version), .text(s.kind), .text(s.parameters), .text(s.instruments), .text(s.intervals),
                    .integer(s.passed ? 1 : 0), .text(s.reasons), .integer(s.roundTrips), .text(s.maxDrawdown.description),
                    .text(s.totalReturn.description), .integer(s.candles),
                ])
        }
    }

    public func strategies() async throws -> [StoredStrategy] {
        let rows = try await withReader { c in
            try await c.query(
                """
                SELECT id, content_hash, creator, parent, generation, created_ns, name, version, kind, parameters, instruments,
                  intervals, passed, reasons, round_trips, max_drawdown, total_return, candles
                FROM strategies ORDER BY created_ns, id
                """)
        }
        return try rows.map { row in
            let c = row.columns.map(\.data)
            guard c.count == 18, let id = c[0].string, let hash = c[1].string, let creator = c[2].string,
                let generation = c[4].integer, case .integer(let ns) = c[5], let name = c[6].string, let version = c[7].integer,
                let kind = c[8].string, let parameters = c[9].string, let instruments = c[10].string, let intervals = c[11].string,
                let passed = c[12].integer, let reasons = c[13].string, let trips = c[14].integer, let candles = c[17].integer
            else { throw StoreQueryError("stored row cannot be read: strategies \(c)") }
            return StoredStrategy(
                id: id, contentHash: hash, creator: creator, parent: c[3].string, generation: generation, created: UnixNanos(Int64(ns)),
                name: name, version: version, kind: kind, parameters: parameters, instruments: instruments, intervals: intervals,
                passed: passed == 1, reasons: reasons, roundTrips: trips,
                maxDrawdown: try AccountColumns.decimal(c[15].string, "strategies", "max_drawdown"),
                totalReturn: try AccountColumns.decimal(c[16].string, "strategies", "total_return"), candles: candles)
        }
    }
}

extension PostgresStore: StrategyStore {
    public func insertStrategy(_ s: StoredStrategy) async throws {
        try await client.query(
            """
            INSERT INTO strategies (id, content_hash, creator, parent, generation, created, created_ns, name, version, kind,
              parameters, instruments, intervals, passed, reasons, round_trips, max_drawdown, total_return, candles)
            VALUES (\(s.id), \(s.contentHash), \(s.creator), \(s.parent), \(Int32(clamping: s.generation)),
              \(Self.timestamp(s.created))::timestamptz, \(s.created.rawValue), \(s.name), \(Int32(clamping: s.version)), \(s.kind),
              \(s.parameters), \(s.instruments), \(s.intervals), \(s.passed), \(s.reasons), \(Int32(clamping: s.roundTrips)),
              \(s.maxDrawdown.description)::numeric, \(s.totalReturn.description)::numeric, \(Int32(clamping: s.candles)))
            """, logger: logger)
    }

    public func strategies() async throws -> [StoredStrategy] {
        let rows = try await client.query(
            """
            SELECT id, content_hash, creator, parent, generation, created_ns, name, version, kind, parameters, instruments,
              intervals, passed, reasons, round_trips, max_drawdown::text, total_return::text, candles
            FROM strategies ORDER BY created_ns, id
            """, logger: logger)
        var out: [StoredStrategy] = []
        // PostgresNIO decodes tuples of at most 15 columns here, so read the row by name.
        for try await row in rows {
            let r = row.makeRandomAccess()
            out.append(
                StoredStrategy(
                    id: try r["id"].decode(String.self), contentHash: try r["content_hash"].decode(String.self),
                    creator: try r["creator"].decode(String.self), parent: try r["parent"].decode(String?.self),
                    generation: Int(try r["generation"].decode(Int32.self)), created: UnixNanos(try r["created_ns"].decode(Int64.self)),
                    name: try r["name"].decode(String.self), version: Int(try r["version"].decode(Int32.self)),
                    kind: try r["kind"].decode(String.self), parameters: try r["parameters"].decode(String.self),
                    instruments: try r["instruments"].decode(String.self), intervals: try r["intervals"].decode(String.self),
                    passed: try r["passed"].decode(Bool.self), reasons: try r["reasons"].decode(String.self),
                    roundTrips: Int(try r["round_trips"].decode(Int32.self)),
                    maxDrawdown: try AccountColumns.decimal(try r["max_drawdown"].decode(String.self), "strategies", "max_drawdown"),
                    totalReturn: try AccountColumns.decimal(try r["total_return"].decode(String.self), "strategies", "total_return"),
                    candles: Int(try r["candles"].decode(Int32.self))))
        }
        return out
    }
}
