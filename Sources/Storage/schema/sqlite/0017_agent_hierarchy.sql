-- The agent hierarchy (issue 23; docs/strategies.md "Agent hierarchy"): an agent's parent and
-- generation (1 = top), the allocation its sub-account was funded with (exact text; NULL for an
-- agent that trades its user's own balance) and how many children it has spawned.
ALTER TABLE agents ADD COLUMN parent_id TEXT;
ALTER TABLE agents ADD COLUMN generation INTEGER NOT NULL DEFAULT 1 CHECK (generation >= 1);
ALTER TABLE agents ADD COLUMN allocation TEXT;
ALTER TABLE agents ADD COLUMN spawned INTEGER NOT NULL DEFAULT 0;
