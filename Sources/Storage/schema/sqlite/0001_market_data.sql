-- The embedded store's market data: the logical tables of postgres/0001 (CONTRACTS.md "Store").
-- `time` is the ISO-8601 text of the replay output; `time_ns` (integer nanoseconds) orders and
-- ranges rows, because ISO strings of different precision do not sort as times. Decimals are
-- exact text, booleans 0/1, book levels JSON arrays of [price, qty] strings.

CREATE TABLE IF NOT EXISTS market_data_1m (
    time             TEXT    NOT NULL,
    time_ns          INTEGER NOT NULL,
    venue            TEXT    NOT NULL,
    symbol           TEXT    NOT NULL,
    open             TEXT    NOT NULL,
    high             TEXT    NOT NULL,
    low              TEXT    NOT NULL,
    close            TEXT    NOT NULL,
    volume           TEXT    NOT NULL,
    quote_volume     TEXT    NOT NULL,
    trades           INTEGER NOT NULL,
    vwap             TEXT    NOT NULL,
    taker_buy_volume TEXT    NOT NULL,
    revision         INTEGER NOT NULL,
    complete         INTEGER NOT NULL CHECK (complete IN (0, 1)),
    PRIMARY KEY (venue, symbol, time_ns)
);

CREATE TABLE IF NOT EXISTS market_data_5m (
    time             TEXT    NOT NULL,
    time_ns          INTEGER NOT NULL,
    venue            TEXT    NOT NULL,
    symbol           TEXT    NOT NULL,
    open             TEXT    NOT NULL,
    high             TEXT    NOT NULL,
    low              TEXT    NOT NULL,
    close            TEXT    NOT NULL,
    volume           TEXT    NOT NULL,
    quote_volume     TEXT    NOT NULL,
    trades           INTEGER NOT NULL,
    vwap             TEXT    NOT NULL,
    taker_buy_volume TEXT    NOT NULL,
    revision         INTEGER NOT NULL,
    complete         INTEGER NOT NULL CHECK (complete IN (0, 1)),
    PRIMARY KEY (venue, symbol, time_ns)
);

CREATE TABLE IF NOT EXISTS trades (
    time        TEXT    NOT NULL,
    time_ns     INTEGER NOT NULL,
    venue       TEXT    NOT NULL,
    symbol      TEXT    NOT NULL,
    trade_id    TEXT    NOT NULL,
    price       TEXT    NOT NULL,
    qty         TEXT    NOT NULL,
    side        TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    trade_count INTEGER NOT NULL DEFAULT 1,
    UNIQUE (venue, symbol, trade_id, time_ns)
);
CREATE INDEX IF NOT EXISTS trades_venue_symbol_time_idx ON trades (venue, symbol, time_ns);

CREATE TABLE IF NOT EXISTS order_book_snapshots (
    time      TEXT    NOT NULL,
    time_ns   INTEGER NOT NULL,
    venue     TEXT    NOT NULL,
    symbol    TEXT    NOT NULL,
    bid_price TEXT,
    bid_qty   TEXT,
    ask_price TEXT,
    ask_qty   TEXT,
    spread    TEXT,
    mid       TEXT,
    bids      TEXT    NOT NULL,
    asks      TEXT    NOT NULL,
    PRIMARY KEY (venue, symbol, time_ns)
);
