-- Outbound notifications (issue 22 "Notifications"; docs/notifications.md): each user's settings
-- (chat id and the kinds they opted into, joined by ',') and the outbox. A notification is written
-- `pending` when queued, then `sent`, or `failed` (undeliverable: kept for ops); pending rows are
-- queued again at start-up, so a restart loses none.

CREATE TABLE IF NOT EXISTS notification_settings (
    user_id     TEXT    PRIMARY KEY,
    chat_id     TEXT    NOT NULL,
    kinds       TEXT    NOT NULL,
    updated_ns  BIGINT  NOT NULL
);

CREATE TABLE IF NOT EXISTS notification_outbox (
    id          TEXT        PRIMARY KEY,
    user_id     TEXT        NOT NULL,
    chat_id     TEXT        NOT NULL,
    kind        TEXT        NOT NULL,
    text        TEXT        NOT NULL,
    created_ns  BIGINT      NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    status      TEXT        NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts    INTEGER     NOT NULL DEFAULT 0,
    last_error  TEXT,
    updated_ns  BIGINT      NOT NULL
);

CREATE INDEX IF NOT EXISTS notification_outbox_status ON notification_outbox (status, created_ns);
