-- Deposits by webhook (issue 22, docs/trading.md "Deposits by webhook"): the references users ask
-- for, and every delivery that could not be credited to a user (suspense, listed for ops). A
-- credited deposit is the ledger transaction `webhook-<tx hash>`.

CREATE TABLE IF NOT EXISTS deposit_intents (
    reference  text        PRIMARY KEY,
    user_id    text        NOT NULL,
    asset      text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS deposit_suspense (
    key         text        PRIMARY KEY,
    received_ns bigint      NOT NULL,
    received_at timestamptz NOT NULL,
    tx_hash     text,
    reference   text,
    asset       text,
    amount      NUMERIC,
    reason      text        NOT NULL,
    body        text        NOT NULL
);
