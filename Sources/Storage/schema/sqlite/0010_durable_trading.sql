-- The logical tables of postgres/0010: fill details, resting orders, agents, journal dead letters.

ALTER TABLE trades_paper ADD COLUMN notional TEXT;
ALTER TABLE trades_paper ADD COLUMN levels INTEGER;
ALTER TABLE trades_paper ADD COLUMN order_type TEXT;
ALTER TABLE trades_paper ADD COLUMN liquidity TEXT;
ALTER TABLE trades_paper ADD COLUMN remaining TEXT;
ALTER TABLE trades_paper ADD COLUMN fee_asset TEXT;
ALTER TABLE trades_paper ADD COLUMN source TEXT;

CREATE TABLE IF NOT EXISTS resting_orders (
    order_id       TEXT    PRIMARY KEY,
    user_id        TEXT    NOT NULL REFERENCES users (id),
    venue          TEXT    NOT NULL,
    symbol         TEXT    NOT NULL,
    side           TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    limit_price    TEXT    NOT NULL,
    quantity       TEXT    NOT NULL,
    remaining      TEXT    NOT NULL,
    reserved       TEXT    NOT NULL,
    reserved_asset TEXT    NOT NULL,
    placed         TEXT    NOT NULL,
    placed_ns      INTEGER NOT NULL,
    source         TEXT,
    fills          INTEGER NOT NULL DEFAULT 0,
    updated_at     TEXT    NOT NULL
);

CREATE TABLE IF NOT EXISTS agents (
    id           TEXT    PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id),
    strategy     TEXT    NOT NULL,
    venue        TEXT    NOT NULL,
    symbol       TEXT    NOT NULL,
    quantity     TEXT,
    quote_amount TEXT,
    created      TEXT    NOT NULL,
    created_ns   INTEGER NOT NULL,
    orders       INTEGER NOT NULL DEFAULT 0,
    rejected     INTEGER NOT NULL DEFAULT 0,
    last_result  TEXT
);

CREATE TABLE IF NOT EXISTS journal_dead_letters (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time    TEXT    NOT NULL,
    time_ns INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    payload TEXT    NOT NULL,
    error   TEXT    NOT NULL
);
