-- When each background job's last round started (ms, by the database's clock), so that
-- replicas on one database start at most one round per job per interval between them: a
-- replica whose timer fires just after another's round skips its own (store::job_leases).
CREATE TABLE job_rounds (
    job        TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL
);
