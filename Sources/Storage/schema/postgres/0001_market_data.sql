-- Market data written by the normalizer (CONTRACTS.md "Store"). Decimals are NUMERIC: exact,
-- and they keep the scale the venue wrote.

CREATE TABLE IF NOT EXISTS market_data_1m (
    time             timestamptz NOT NULL,
    venue            text        NOT NULL,
    symbol           text        NOT NULL,
    open             NUMERIC     NOT NULL,
    high             NUMERIC     NOT NULL,
    low              NUMERIC     NOT NULL,
    close            NUMERIC     NOT NULL,
    volume           NUMERIC     NOT NULL,
    quote_volume     NUMERIC     NOT NULL,
    trades           bigint      NOT NULL,
    vwap             NUMERIC     NOT NULL,
    taker_buy_volume NUMERIC     NOT NULL,
    revision         integer     NOT NULL,
    complete         boolean     NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- One row per bucket holding the latest revision; contains `time` as hypertables require.
    PRIMARY KEY (venue, symbol, time)
);

-- Same columns, defaults and primary key as market_data_1m.
CREATE TABLE IF NOT EXISTS market_data_5m (LIKE market_data_1m INCLUDING ALL);

CREATE TABLE IF NOT EXISTS trades (
    time        timestamptz NOT NULL,
    venue       text        NOT NULL,
    symbol      text        NOT NULL,
    -- The venue's id as text; venues without ids (Kraken v1) get a derived `t<time_ns>.<n>`.
    trade_id    text        NOT NULL,
    price       NUMERIC     NOT NULL,
    qty         NUMERIC     NOT NULL,
    side        text        NOT NULL CHECK (side IN ('buy', 'sell')),
    -- Exchange trades behind the row (Binance aggTrade: l - f + 1).
    trade_count bigint      NOT NULL DEFAULT 1,
    -- Unique on (venue, symbol, trade_id, time) as CONTRACTS.md says; `time` before `trade_id` so
    -- the same index serves time-range reads (one index to maintain per row, not two).
    UNIQUE (venue, symbol, time, trade_id)
);

CREATE TABLE IF NOT EXISTS order_book_snapshots (
    time      timestamptz NOT NULL,
    venue     text        NOT NULL,
    symbol    text        NOT NULL,
    bid_price NUMERIC,
    bid_qty   NUMERIC,
    ask_price NUMERIC,
    ask_qty   NUMERIC,
    spread    NUMERIC,
    mid       NUMERIC,
    -- Top-N levels, best first: {{price, qty}, ...}.
    bids      NUMERIC[][]  NOT NULL,
    asks      NUMERIC[][]  NOT NULL,
    PRIMARY KEY (venue, symbol, time)
);
