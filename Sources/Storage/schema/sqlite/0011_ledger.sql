-- The logical tables of postgres/0011: the double-entry ledger's transactions and postings
-- (issue 22; docs/trading.md "The double-entry ledger"). Append-only by the store's API (no
-- trigger: the migration runner splits on ';', which a trigger body needs). Amounts are exact decimal text; `seq` keeps the order the ledger appended them in.

CREATE TABLE IF NOT EXISTS ledger_transactions (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    id      TEXT    NOT NULL UNIQUE CHECK (id <> ''),
    time    TEXT    NOT NULL,
    time_ns INTEGER NOT NULL,
    kind    TEXT    NOT NULL CHECK (kind IN ('deposit', 'fee', 'fill', 'withdrawal', 'transfer', 'royalty', 'adjustment')),
    memo    TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS ledger_postings (
    transaction_id TEXT    NOT NULL REFERENCES ledger_transactions (id),
    leg            INTEGER NOT NULL,
    user_id        TEXT,
    account_kind   TEXT    NOT NULL CHECK (account_kind IN ('available', 'reserved', 'holding', 'house_pool', 'house_fees',
                                           'paper_counterparty', 'suspense')),
    asset          TEXT    NOT NULL CHECK (asset <> ''),
    amount         TEXT    NOT NULL,
    PRIMARY KEY (transaction_id, leg)
);
