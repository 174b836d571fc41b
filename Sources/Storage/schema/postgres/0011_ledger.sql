-- The double-entry ledger's transactions and postings (issue 22; docs/trading.md "The
-- double-entry ledger"). Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE; a correction
-- is a new transaction. `seq` keeps the order the ledger appended them in; `time_ns` the exact time.

CREATE TABLE IF NOT EXISTS ledger_transactions (
    seq     bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    id      text        PRIMARY KEY CHECK (id <> ''),
    time    timestamptz NOT NULL,
    time_ns bigint      NOT NULL,
    kind    text        NOT NULL CHECK (kind IN ('deposit', 'fee', 'fill', 'withdrawal', 'transfer', 'royalty', 'adjustment')),
    memo    text        NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS ledger_postings (
    transaction_id text    NOT NULL REFERENCES ledger_transactions (id),
    leg            integer NOT NULL,
    user_id        text,
    account_kind   text    NOT NULL CHECK (account_kind IN ('available', 'reserved', 'holding', 'house_pool', 'house_fees',
                                          'paper_counterparty', 'suspense')),
    asset          text    NOT NULL CHECK (asset <> ''),
    amount         NUMERIC NOT NULL,
    PRIMARY KEY (transaction_id, leg)
);

CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS ledger_transactions_append_only ON ledger_transactions;
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
DROP TRIGGER IF EXISTS ledger_transactions_no_truncate ON ledger_transactions;
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

DROP TRIGGER IF EXISTS ledger_postings_append_only ON ledger_postings;
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
DROP TRIGGER IF EXISTS ledger_postings_no_truncate ON ledger_postings;
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
