-- Why the cloud ended a tunnel its relay must close (a plan's limit, say), passed on to the
-- agent; empty for the older reasons (stopped by the owner, bound again elsewhere).
ALTER TABLE binding_evictions ADD COLUMN reason TEXT;
