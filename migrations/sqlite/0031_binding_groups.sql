-- The group of an agent's replica sessions (one agent run connected to two relays for high
-- availability): bindings of one name in one group on different relays coexist instead of the
-- newer taking the name over. NULL for agents that keep one session. ha_replica tells the two
-- apart (0 the primary, 1 the standby): a replica's new binding replaces its own older one
-- wherever that is, and keeps only the other replica's.
ALTER TABLE bindings ADD COLUMN ha_group TEXT;
ALTER TABLE bindings ADD COLUMN ha_replica INTEGER NOT NULL DEFAULT 0;
