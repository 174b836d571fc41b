-- Performance fee (issue 22, docs/trading.md "Performance fee"): per user and settlement asset, the
-- realized P&L so far, the high-water mark the fee was last charged up to, and the fees paid. The
-- row is written in the same database transaction as the fill and its `perf-<fill>` ledger
-- transaction, so a restart charges neither twice nor never.

CREATE TABLE IF NOT EXISTS performance_marks (
    user_id         text    NOT NULL,
    asset           text    NOT NULL,
    realized        NUMERIC NOT NULL,
    high_water_mark NUMERIC NOT NULL,
    fees_paid       NUMERIC NOT NULL,
    updated_ns      bigint  NOT NULL,
    PRIMARY KEY (user_id, asset)
);
