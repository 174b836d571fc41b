-- The logical table of postgres/0014: withdrawal requests and their decision.

CREATE TABLE IF NOT EXISTS withdrawals (
    id           TEXT    PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    asset        TEXT    NOT NULL,
    amount       TEXT    NOT NULL,
    destination  TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    requested_ns INTEGER NOT NULL,
    requested_at TEXT    NOT NULL,
    decided_ns   INTEGER
);

CREATE INDEX IF NOT EXISTS withdrawals_user ON withdrawals (user_id, requested_ns);
