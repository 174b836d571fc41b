-- Paper trading that survives a restart and a refused write (issue 16; docs/trading.md):
-- what a fill reported (read back by the history), resting limit orders with their reservations,
-- agents, and the dead letters of the account journal.

ALTER TABLE trades_paper ADD COLUMN IF NOT EXISTS notional   NUMERIC;
ALTER TABLE trades_paper ADD COLUMN IF NOT EXISTS levels     integer;
ALTER TABLE trades_paper ADD COLUMN IF NOT EXISTS order_type text;
ALTER TABLE trades_paper ADD COLUMN IF NOT EXISTS liquidity  text;
ALTER TABLE trades_paper ADD COLUMN IF NOT EXISTS remaining  NUMERIC;
ALTER TABLE trades_paper ADD COLUMN IF NOT EXISTS fee_asset  text;
ALTER TABLE trades_paper ADD COLUMN IF NOT EXISTS source     text;

CREATE TABLE IF NOT EXISTS resting_orders (
    order_id       text        PRIMARY KEY,
    user_id        text        NOT NULL REFERENCES users (id),
    venue          text        NOT NULL,
    symbol         text        NOT NULL,
    side           text        NOT NULL CHECK (side IN ('buy', 'sell')),
    limit_price    NUMERIC     NOT NULL,
    quantity       NUMERIC     NOT NULL,
    remaining      NUMERIC     NOT NULL,
    reserved       NUMERIC     NOT NULL,
    reserved_asset text        NOT NULL,
    placed         timestamptz NOT NULL,
    source         text,
    fills          integer     NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS agents (
    id           text        PRIMARY KEY,
    user_id      text        NOT NULL REFERENCES users (id),
    strategy     text        NOT NULL,
    venue        text        NOT NULL,
    symbol       text        NOT NULL,
    quantity     NUMERIC,
    quote_amount NUMERIC,
    created      timestamptz NOT NULL,
    orders       integer     NOT NULL DEFAULT 0,
    rejected     integer     NOT NULL DEFAULT 0,
    last_result  text
);

-- Journal entries the database refused for good: the entry as JSON text (control characters
-- escaped) and the refusal. Nothing reads them back automatically; an operator does.
CREATE TABLE IF NOT EXISTS journal_dead_letters (
    id      bigserial   PRIMARY KEY,
    time    timestamptz NOT NULL,
    kind    text        NOT NULL,
    payload text        NOT NULL,
    error   text        NOT NULL
);
