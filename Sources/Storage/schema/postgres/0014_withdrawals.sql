-- Withdrawals (issue 22, docs/trading.md "Withdrawals"): a request reserves the user's funds
-- (ledger transaction `withdrawal-reserve-<id>`); an admin approves it (`withdrawal-<id>`, the
-- money leaves the pool) or rejects it (`withdrawal-release-<id>`). The row is written in the same
-- database transaction as those ledger rows; only `status` and `decided_ns` change, once.

CREATE TABLE IF NOT EXISTS withdrawals (
    id           text        PRIMARY KEY,
    user_id      text        NOT NULL,
    asset        text        NOT NULL,
    amount       NUMERIC     NOT NULL,
    destination  text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    requested_ns bigint      NOT NULL,
    requested_at timestamptz NOT NULL,
    decided_ns   bigint
);

CREATE INDEX IF NOT EXISTS withdrawals_user ON withdrawals (user_id, requested_ns);
