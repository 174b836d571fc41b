-- Risk limits per user (issue 22, docs/trading.md "Risk limits and the circuit breaker"): one row
-- per user with the limits an admin set for them (NULL: the configured default) and the daily-loss
-- circuit breaker's state. `tripped_day` / `reset_day` are UTC days since 1970-01-01; the breaker
-- is tripped while `tripped_day` is today. Upserted whole; `version` only grows, so a late write
-- never overwrites a newer one.

CREATE TABLE IF NOT EXISTS risk_state (
    user_id                text    PRIMARY KEY,
    version                bigint  NOT NULL,
    max_position_percent   NUMERIC,
    max_open_orders        integer,
    max_order_notional_usd NUMERIC,
    max_daily_loss_usd     NUMERIC,
    tripped_day            bigint,
    tripped_ns             bigint,
    tripped_loss           NUMERIC,
    tripped_reason         text,
    reset_day              bigint,
    reset_loss             NUMERIC,
    updated_ns             bigint  NOT NULL
);

-- Every check an order ran, passed or failed: [{"check","passed","detail"}] (NULL in rows logged before 0015).
ALTER TABLE pretrade_log ADD COLUMN IF NOT EXISTS checks jsonb;
