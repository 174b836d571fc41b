-- The logical table of postgres/0015: per-user risk limits and the daily-loss circuit breaker.

CREATE TABLE IF NOT EXISTS risk_state (
    user_id                TEXT    PRIMARY KEY,
    version                INTEGER NOT NULL,
    max_position_percent   TEXT,
    max_open_orders        INTEGER,
    max_order_notional_usd TEXT,
    max_daily_loss_usd     TEXT,
    tripped_day            INTEGER,
    tripped_ns             INTEGER,
    tripped_loss           TEXT,
    tripped_reason         TEXT,
    reset_day              INTEGER,
    reset_loss             TEXT,
    updated_ns             INTEGER NOT NULL
);

-- Every check an order ran, passed or failed: [{"check","passed","detail"}] (NULL in rows logged before 0015).
ALTER TABLE pretrade_log ADD COLUMN checks TEXT;
