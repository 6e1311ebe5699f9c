-- The placement feed (`GET /v1/relay/placement/changes`) reads the names bound since a relay's
-- cursor, by start time, on every bind: indexed so that costs a range read, not a scan.
CREATE INDEX bindings_started_at ON bindings (started_at);
