-- Paper-trading accounts and the services' logs (DESIGN.md "Services"); written by the
-- execution service and the mood meter.

CREATE TABLE IF NOT EXISTS users (
    id         text        PRIMARY KEY,
    name       text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS balances (
    user_id    text        NOT NULL REFERENCES users (id),
    asset      text        NOT NULL,
    amount     NUMERIC     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, asset)
);

CREATE TABLE IF NOT EXISTS positions (
    user_id      text        NOT NULL REFERENCES users (id),
    venue        text        NOT NULL,
    symbol       text        NOT NULL,
    qty          NUMERIC     NOT NULL,
    avg_price    NUMERIC     NOT NULL,
    realized_pnl NUMERIC     NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, venue, symbol)
);

CREATE TABLE IF NOT EXISTS trades_paper (
    time         timestamptz NOT NULL,
    user_id      text        NOT NULL,
    order_id     text        NOT NULL,
    fill_id      text        NOT NULL,
    venue        text        NOT NULL,
    symbol       text        NOT NULL,
    side         text        NOT NULL CHECK (side IN ('buy', 'sell')),
    qty          NUMERIC     NOT NULL,
    price        NUMERIC     NOT NULL,
    fee          NUMERIC     NOT NULL,
    slippage_bps NUMERIC,
    realized_pnl NUMERIC,
    UNIQUE (user_id, fill_id, time)
);
CREATE INDEX IF NOT EXISTS trades_paper_user_time_idx ON trades_paper (user_id, time DESC);

CREATE TABLE IF NOT EXISTS agent_status_log (
    time    timestamptz NOT NULL,
    user_id text        NOT NULL,
    score   NUMERIC     NOT NULL,
    state   text        NOT NULL,
    factors jsonb       NOT NULL,
    reason  text        NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_status_log_user_time_idx ON agent_status_log (user_id, time DESC);

CREATE TABLE IF NOT EXISTS pretrade_log (
    time     timestamptz NOT NULL,
    user_id  text        NOT NULL,
    venue    text        NOT NULL,
    symbol   text        NOT NULL,
    passed   boolean     NOT NULL,
    failures jsonb       NOT NULL,
    request  jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS pretrade_log_user_time_idx ON pretrade_log (user_id, time DESC);
