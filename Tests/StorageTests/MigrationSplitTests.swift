import Testing

@testable import Storage

/// The migration runner's statement splitter: `;` ends a statement except inside quotes,
/// dollar-quoted bodies, comments and a SQLite trigger's `BEGIN … END` body.
@Suite struct MigrationSplitTests {
    @Test func aTriggerBodyStaysOneStatement() {
        let sql = """
            CREATE TABLE t (a INTEGER);
            CREATE TRIGGER IF NOT EXISTS t_no_update BEFORE UPDATE ON t
            BEGIN
                SELECT RAISE(ABORT, 'no; really');
                SELECT CASE WHEN 1 THEN 2 ELSE 3 END;
            END;
            create temp trigger t2 after insert on t begin select 1; end;
            INSERT INTO t VALUES (1);
            """
        let parts = Migration.split(sql)
        #expect(parts.count == 4, "\(parts)")
        #expect(parts[0] == "CREATE TABLE t (a INTEGER)")
        #expect(parts[1].hasPrefix("CREATE TRIGGER IF NOT EXISTS t_no_update") && parts[1].hasSuffix("END"))
        #expect(parts[1].contains("SELECT CASE WHEN 1 THEN 2 ELSE 3 END;"))
        #expect(parts[2] == "create temp trigger t2 after insert on t begin select 1; end")
        #expect(parts[3] == "INSERT INTO t VALUES (1)")
    }

    @Test func beginAndEndOutsideATriggerAreOrdinaryWords() {
        let sql = """
            BEGIN;
            CREATE TABLE backend (weekend TEXT DEFAULT 'END; BEGIN');
            UPDATE backend SET weekend = 'x' WHERE weekend = 'END';
            END;
            CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'x'; END; $$;
            CREATE TRIGGER g BEFORE UPDATE ON backend FOR EACH ROW EXECUTE FUNCTION f();
            SELECT 1
            """
        let parts = Migration.split(sql)
        #expect(parts.count == 7, "\(parts)")
        #expect(parts[0] == "BEGIN" && parts[3] == "END")
        #expect(parts[5] == "CREATE TRIGGER g BEFORE UPDATE ON backend FOR EACH ROW EXECUTE FUNCTION f()")
        #expect(parts[6] == "SELECT 1")
    }

    @Test func theSQLiteAppendOnlyMigrationIsFourTriggers() throws {
        let m = try #require(try Migrations.load(.sqlite).first { $0.version == 13 })
        #expect(m.statements.count == 4)
        #expect(m.statements.allSatisfy { $0.hasPrefix("CREATE TRIGGER IF NOT EXISTS ledger_") && $0.hasSuffix("END") })
    }
}
