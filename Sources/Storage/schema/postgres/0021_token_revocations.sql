-- Per user, the instant before which their tokens are refused (POST /api/v1/users/{id}/revoke-tokens),
-- so a restart does not bring revoked tokens back. Unix nanoseconds; only ever moves forward.

CREATE TABLE IF NOT EXISTS token_revocations (
    user_id           TEXT   PRIMARY KEY,
    revoked_before_ns BIGINT NOT NULL
);
