import PostgresNIO
import SQLiteNIO

/// Why an account-store write failed, as far as retrying is concerned.
///
/// The journal retries ``transient`` failures (the database is away, busy or timed out) for as long
/// as they last; a ``refused`` write will fail the same way every time (the database rejects the
/// data itself), so it goes to the dead letters at once instead of holding up the queue. An
/// ``unclassified`` failure is retried a few times, then treated as refused.
public enum AccountWriteFailure: Sendable, Hashable {
    case transient
    case refused(String)
    case unclassified

    public init(_ error: any Error) {
        switch error {
        case let e as PSQLError: self = Self.postgres(e)
        case let e as SQLiteError: self = Self.sqlite(e)
        case is CancellationError: self = .transient
        case is SQLiteStoreError: self = .transient  // the store is closed (shutting down)
        default: self = .unclassified
        }
    }

    /// PostgreSQL: SQLSTATE classes 22 (data exception: a NUL byte, bad UTF-8 or JSON, a number
    /// out of range), 23 (integrity constraint) and 54 (program limit: a value too large) are the
    /// data's fault. Class 42 (syntax, undefined objects) is a program or schema fault, left
    /// unclassified; everything else (connection, resources, operator intervention,
    /// serialization) passes.
    static func postgres(_ e: PSQLError) -> AccountWriteFailure {
        guard e.code == .server else { return .transient }
        let state = e.serverInfo?[.sqlState] ?? ""
        let message = e.serverInfo?[.message] ?? ""
        switch state.prefix(2) {
        case "22", "23", "54": return .refused("SQLSTATE \(state): \(message)")
        case "42", "XX": return .unclassified
        default: return .transient
        }
    }

    /// SQLite: constraint, type mismatch, too big, out of range and malformed JSON (json()) are the
    /// data's fault; busy, locked, I/O, full and can't-open pass.
    static func sqlite(_ e: SQLiteError) -> AccountWriteFailure {
        switch e.reason {
        case .constraint, .constraintCheckFailed, .constraintForeignKeyFailed, .constraintNotNullFailed, .constraintPrimaryKeyFailed,
            .constraintUniqueFailed, .constraintStrictDataTypeFailed, .mismatch, .tooBig, .range:
            return .refused("SQLite \(e.reason): \(e.message)")
        case .error where e.message.lowercased().contains("malformed json"):
            return .refused("SQLite: \(e.message)")
        case .busy, .busyTimeout, .busyInRecovery, .busyInSnapshot, .locked, .ioError, .full, .cantOpen, .interrupt, .noMemory,
            .readOnly:
            return .transient
        default:
            return .unclassified
        }
    }
}
