-- The strategy registry (issue 23; docs/strategies.md): one row per registered strategy with its
-- definition, lineage and the check that decided whether it may trade. Never updated.
-- Parameters are `name=value` pairs joined by ',', instruments and intervals joined by ',' (all
-- validated identifiers and numbers, so neither separator can occur inside a value); reasons are
-- joined by a newline.

CREATE TABLE IF NOT EXISTS strategies (
    id            TEXT    PRIMARY KEY,
    content_hash  TEXT    NOT NULL UNIQUE,
    creator       TEXT    NOT NULL,
    parent        TEXT    REFERENCES strategies (id),
    generation    INTEGER NOT NULL CHECK (generation >= 1),
    created       TEXT    NOT NULL,
    created_ns    INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    parameters    TEXT    NOT NULL,
    instruments   TEXT    NOT NULL,
    intervals     TEXT    NOT NULL,
    passed        INTEGER NOT NULL CHECK (passed IN (0, 1)),
    reasons       TEXT    NOT NULL,
    round_trips   INTEGER NOT NULL,
    max_drawdown  TEXT    NOT NULL,
    total_return  TEXT    NOT NULL,
    candles       INTEGER NOT NULL
);
