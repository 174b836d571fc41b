-- requires: timescaledb
-- Hypertables on time, compression, and 1h/1d continuous aggregates. Retention and compression
-- schedules are configuration and are applied by the store after the migrations.

CREATE EXTENSION IF NOT EXISTS timescaledb;

SELECT create_hypertable('market_data_1m', 'time', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('market_data_5m', 'time', chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('trades', 'time', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('order_book_snapshots', 'time', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE, migrate_data => TRUE);
SELECT create_hypertable('agent_status_log', 'time', chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE, migrate_data => TRUE);

ALTER TABLE market_data_1m SET (timescaledb.compress, timescaledb.compress_segmentby = 'venue, symbol', timescaledb.compress_orderby = 'time');
ALTER TABLE market_data_5m SET (timescaledb.compress, timescaledb.compress_segmentby = 'venue, symbol', timescaledb.compress_orderby = 'time');
ALTER TABLE trades SET (timescaledb.compress, timescaledb.compress_segmentby = 'venue, symbol', timescaledb.compress_orderby = 'time');
ALTER TABLE order_book_snapshots SET (timescaledb.compress, timescaledb.compress_segmentby = 'venue, symbol', timescaledb.compress_orderby = 'time');

-- 1h and 1d candles for dashboards, from the 5m rows. The HTTP API computes 1h/1d itself from
-- the 5m rows (vwap rounded half-even as CONTRACTS.md says; SQL's round() is half-up), so these
-- views are a convenience for SQL users, not the API's source.
CREATE MATERIALIZED VIEW IF NOT EXISTS market_data_1h
WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS time, venue, symbol,
       first(open, time) AS open, max(high) AS high, min(low) AS low, last(close, time) AS close,
       sum(volume) AS volume, sum(quote_volume) AS quote_volume, sum(trades) AS trades,
       sum(taker_buy_volume) AS taker_buy_volume, bool_and(complete) AND count(*) = 12 AS complete
FROM market_data_5m
GROUP BY 1, 2, 3
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS market_data_1d
WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 day', time) AS time, venue, symbol,
       first(open, time) AS open, max(high) AS high, min(low) AS low, last(close, time) AS close,
       sum(volume) AS volume, sum(quote_volume) AS quote_volume, sum(trades) AS trades,
       sum(taker_buy_volume) AS taker_buy_volume, bool_and(complete) AND count(*) = 288 AS complete
FROM market_data_5m
GROUP BY 1, 2, 3
WITH NO DATA;
