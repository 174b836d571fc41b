-- The logical tables of postgres/0012: deposit references and deposits held in suspense.

CREATE TABLE IF NOT EXISTS deposit_intents (
    reference  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    asset      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_ns INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS deposit_suspense (
    key         TEXT    PRIMARY KEY,
    received_ns INTEGER NOT NULL,
    received_at TEXT    NOT NULL,
    tx_hash     TEXT,
    reference   TEXT,
    asset       TEXT,
    amount      TEXT,
    reason      TEXT    NOT NULL,
    body        TEXT    NOT NULL
);
