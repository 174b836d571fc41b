-- The logical table of postgres/0021: per user, the instant before which their tokens are refused.

CREATE TABLE IF NOT EXISTS token_revocations (
    user_id           TEXT    PRIMARY KEY,
    revoked_before_ns INTEGER NOT NULL
);
