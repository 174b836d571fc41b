-- The agent hierarchy (issue 23; docs/strategies.md "Agent hierarchy"): an agent's parent and
-- generation (1 = top), the allocation its sub-account was funded with (NULL for an agent that
-- trades its user's own balance) and how many children it has spawned.
ALTER TABLE agents ADD COLUMN IF NOT EXISTS parent_id text;
ALTER TABLE agents ADD COLUMN IF NOT EXISTS generation integer NOT NULL DEFAULT 1 CHECK (generation >= 1);
ALTER TABLE agents ADD COLUMN IF NOT EXISTS allocation NUMERIC;
ALTER TABLE agents ADD COLUMN IF NOT EXISTS spawned integer NOT NULL DEFAULT 0;
