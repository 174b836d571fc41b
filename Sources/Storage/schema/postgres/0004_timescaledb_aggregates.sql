-- requires: timescaledb
-- The 1h and 1d continuous aggregates the history API reads, built from the stored 1m candles
-- (0003's views came from the 5m rows and lacked what the API needs: the highest revision and
-- the number of 1m parts, which says whether a bucket is complete). Real-time aggregation is on
-- (materialized_only = false), so buckets past the last refresh come straight from the 1m rows;
-- a late revision of an already materialized bucket shows after the next refresh. vwap is not
-- stored: the API divides quote_volume by volume half-even (SQL's round() is half-up).
-- Also: the pre-trade check log becomes a hypertable, like the other time-series tables.

DROP MATERIALIZED VIEW IF EXISTS market_data_1h;
DROP MATERIALIZED VIEW IF EXISTS market_data_1d;

CREATE MATERIALIZED VIEW market_data_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS time, venue, symbol,
       first(open, time) AS open, max(high) AS high, min(low) AS low, last(close, time) AS close,
       sum(volume) AS volume, sum(quote_volume) AS quote_volume, sum(trades)::bigint AS trades,
       sum(taker_buy_volume) AS taker_buy_volume, max(revision) AS revision,
       count(*) AS parts, bool_and(complete) AS parts_complete
FROM market_data_1m
GROUP BY 1, 2, 3
WITH NO DATA;

CREATE MATERIALIZED VIEW market_data_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', time) AS time, venue, symbol,
       first(open, time) AS open, max(high) AS high, min(low) AS low, last(close, time) AS close,
       sum(volume) AS volume, sum(quote_volume) AS quote_volume, sum(trades)::bigint AS trades,
       sum(taker_buy_volume) AS taker_buy_volume, max(revision) AS revision,
       count(*) AS parts, bool_and(complete) AS parts_complete
FROM market_data_1m
GROUP BY 1, 2, 3
WITH NO DATA;

SELECT create_hypertable('pretrade_log', 'time', chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE, migrate_data => TRUE);
