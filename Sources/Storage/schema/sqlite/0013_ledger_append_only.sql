-- The ledger's tables are append-only on SQLite too (as postgres/0011 makes them on PostgreSQL):
-- these triggers refuse UPDATE and DELETE. A correction is a new transaction. The migration runner
-- keeps each trigger's BEGIN ... END body whole (Migration.split).

CREATE TRIGGER IF NOT EXISTS ledger_transactions_no_update BEFORE UPDATE ON ledger_transactions
BEGIN
    SELECT RAISE(ABORT, 'ledger_transactions is append-only: UPDATE refused');
END;

CREATE TRIGGER IF NOT EXISTS ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
BEGIN
    SELECT RAISE(ABORT, 'ledger_transactions is append-only: DELETE refused');
END;

CREATE TRIGGER IF NOT EXISTS ledger_postings_no_update BEFORE UPDATE ON ledger_postings
BEGIN
    SELECT RAISE(ABORT, 'ledger_postings is append-only: UPDATE refused');
END;

CREATE TRIGGER IF NOT EXISTS ledger_postings_no_delete BEFORE DELETE ON ledger_postings
BEGIN
    SELECT RAISE(ABORT, 'ledger_postings is append-only: DELETE refused');
END;
