-- The group of an agent's replica sessions (one agent run connected to two relays for high
-- availability): bindings of one name in one group on different relays coexist instead of the
-- newer taking the name over. NULL for agents that keep one session.
ALTER TABLE bindings ADD COLUMN ha_group TEXT;
