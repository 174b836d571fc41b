-- Paper-trading accounts and service logs: the logical tables of postgres/0002.

CREATE TABLE IF NOT EXISTS users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS balances (
    user_id    TEXT NOT NULL REFERENCES users (id),
    asset      TEXT NOT NULL,
    amount     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, asset)
);

CREATE TABLE IF NOT EXISTS positions (
    user_id      TEXT NOT NULL REFERENCES users (id),
    venue        TEXT NOT NULL,
    symbol       TEXT NOT NULL,
    qty          TEXT NOT NULL,
    avg_price    TEXT NOT NULL,
    realized_pnl TEXT NOT NULL DEFAULT '0',
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, venue, symbol)
);

CREATE TABLE IF NOT EXISTS trades_paper (
    time         TEXT    NOT NULL,
    time_ns      INTEGER NOT NULL,
    user_id      TEXT    NOT NULL,
    order_id     TEXT    NOT NULL,
    fill_id      TEXT    NOT NULL,
    venue        TEXT    NOT NULL,
    symbol       TEXT    NOT NULL,
    side         TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    qty          TEXT    NOT NULL,
    price        TEXT    NOT NULL,
    fee          TEXT    NOT NULL,
    slippage_bps TEXT,
    realized_pnl TEXT,
    UNIQUE (user_id, fill_id, time_ns)
);
CREATE INDEX IF NOT EXISTS trades_paper_user_time_idx ON trades_paper (user_id, time_ns);

CREATE TABLE IF NOT EXISTS agent_status_log (
    time    TEXT    NOT NULL,
    time_ns INTEGER NOT NULL,
    user_id TEXT    NOT NULL,
    score   TEXT    NOT NULL,
    state   TEXT    NOT NULL,
    factors TEXT    NOT NULL,
    reason  TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_status_log_user_time_idx ON agent_status_log (user_id, time_ns);

CREATE TABLE IF NOT EXISTS pretrade_log (
    time     TEXT    NOT NULL,
    time_ns  INTEGER NOT NULL,
    user_id  TEXT    NOT NULL,
    venue    TEXT    NOT NULL,
    symbol   TEXT    NOT NULL,
    passed   INTEGER NOT NULL CHECK (passed IN (0, 1)),
    failures TEXT    NOT NULL,
    request  TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS pretrade_log_user_time_idx ON pretrade_log (user_id, time_ns);
