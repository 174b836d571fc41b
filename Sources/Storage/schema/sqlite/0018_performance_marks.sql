-- The logical table of postgres/0018: each user's performance-fee high-water mark per asset.

CREATE TABLE IF NOT EXISTS performance_marks (
    user_id         TEXT NOT NULL,
    asset           TEXT NOT NULL,
    realized        TEXT NOT NULL,
    high_water_mark TEXT NOT NULL,
    fees_paid       TEXT NOT NULL,
    updated_ns      INTEGER NOT NULL,
    PRIMARY KEY (user_id, asset)
);
