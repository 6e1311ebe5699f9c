-- When each background job's last round started (ms). Used on PostgreSQL, where replicas share
-- a database (store::job_leases); SQLite belongs to one process, which keeps its own pace. Kept
-- here so both schemas stay alike.
CREATE TABLE job_rounds (
    job        TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL
);
