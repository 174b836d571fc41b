import Logging
import PostgresNIO
import Storage

/// Diagnostic: where a COPY writer batch spends its time. The statements `PostgresStore.write`
/// sends for one batch (BEGIN, CREATE TEMP TABLE IF NOT EXISTS, COPY into the staging table,
/// INSERT … SELECT … ON CONFLICT, COMMIT), issued one by one on a plain connection and timed
/// separately. The SQL is the same text as `PostgresStore.statements` (internal to Storage).
/// Also a reference run: COPY straight into the table, one transaction per batch, no staging
/// and no conflict handling (what the indexes alone cost; not idempotent, so not a design).
struct Breakdown {
    var rows = 0
    var begin = 0.0
    var createStage = 0.0
    var copy = 0.0
    var upsert = 0.0
    var commit = 0.0
    var total: Double { begin + createStage + copy + upsert + commit }

    static func upsertSQL(_ table: StoreTable) -> String {
        let name = table.rawValue
        let columns = table.columns.map(\.name)
        let list = columns.joined(separator: ", ")
        let key = table.key.joined(separator: ", ")
        switch table.conflict {
        case .keepLatestRevision:
            let updates = columns.filter { !table.key.contains($0) }.map { "\($0) = EXCLUDED.\($0)" }
            return """
                INSERT INTO \(name) AS t (\(list))
                SELECT DISTINCT ON (\(key)) \(list) FROM stage_\(name) ORDER BY \(key), revision DESC
                ON CONFLICT (\(key)) DO UPDATE SET \(updates.joined(separator: ", ")), updated_at = now()
                WHERE EXCLUDED.revision >= t.revision
                """
        case .ignore:
            return "INSERT INTO \(name) (\(list)) SELECT \(list) FROM stage_\(name) ON CONFLICT (\(key)) DO NOTHING"
        }
    }

    static func run(_ batches: [RowBatch], on connection: PostgresConnection, logger: Logger) async throws -> Breakdown {
        let clock = ContinuousClock()
        var out = Breakdown()
        guard let table = batches.first?.table else { return out }
        let name = table.rawValue
        let createStage = PostgresQuery(
            unsafeSQL: "CREATE TEMP TABLE IF NOT EXISTS stage_\(name) (LIKE \(name) INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        let upsert = PostgresQuery(unsafeSQL: upsertSQL(table))
        let columns = table.columns.map(\.name)
        func timed(_ body: () async throws -> Void) async throws -> Double {
            let start = clock.now
            try await body()
            return (clock.now - start).seconds
        }
        for batch in batches {
            out.rows += batch.rows
            out.begin += try await timed { try await connection.query("BEGIN", logger: logger) }
            out.createStage += try await timed { try await connection.query(createStage, logger: logger) }
            out.copy += try await timed {
                try await connection.copyFrom(table: "stage_\(name)", columns: columns, logger: logger) { writer in
                    var buffer = ByteBufferAllocator().buffer(capacity: batch.bytes.count)
                    buffer.writeBytes(batch.bytes)
                    try await writer.write(buffer)
                }
            }
            out.upsert += try await timed { try await connection.query(upsert, logger: logger) }
            out.commit += try await timed { try await connection.query("COMMIT", logger: logger) }
        }
        return out
    }

    /// COPY straight into the table, one transaction per batch; returns the seconds.
    static func directCopy(_ batches: [RowBatch], on connection: PostgresConnection, logger: Logger) async throws -> Double {
        let clock = ContinuousClock()
        guard let table = batches.first?.table else { return 0 }
        let columns = table.columns.map(\.name)
        let start = clock.now
        for batch in batches {
            try await connection.query("BEGIN", logger: logger)
            try await connection.copyFrom(table: table.rawValue, columns: columns, logger: logger) { writer in
                var buffer = ByteBufferAllocator().buffer(capacity: batch.bytes.count)
                buffer.writeBytes(batch.bytes)
                try await writer.write(buffer)
            }
            try await connection.query("COMMIT", logger: logger)
        }
        return (clock.now - start).seconds
    }
}
