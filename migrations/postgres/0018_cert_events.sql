-- Certificate events from other clusters (POST /v1/cert-events): each with its provenance
-- (cluster, source, signing time, signature) and raw body, so operators can list and replay
-- them. One row per (cluster, event ID): a second delivery is a duplicate.
CREATE TABLE cert_events (
    seq         BIGSERIAL PRIMARY KEY,
    cluster     TEXT NOT NULL,
    source      TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    signed_at   BIGINT NOT NULL,
    signature   TEXT NOT NULL,
    body        TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    domain_id   TEXT REFERENCES domains (id) ON DELETE SET NULL,
    domain      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    version     BIGINT,
    outcome     TEXT NOT NULL,
    replays     BIGINT NOT NULL DEFAULT 0,
    UNIQUE (cluster, event_id)
);
CREATE INDEX cert_events_domain ON cert_events (domain_id, seq);

-- Which certificate version each relay (source) of each cluster reports in service: the
-- replication status of a domain's certificate. A report never moves a version backwards.
CREATE TABLE domain_cert_replicas (
    domain_id    TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    cluster      TEXT NOT NULL,
    source       TEXT NOT NULL,
    version      BIGINT NOT NULL,
    installed_at BIGINT NOT NULL,
    PRIMARY KEY (domain_id, cluster, source)
);

-- Pending ACME answers of either kind: `http-01` (looked up by token) or `tls-alpn-01`
-- (looked up by domain, from which relays get a challenge certificate).
ALTER TABLE acme_http_challenges ADD COLUMN kind TEXT NOT NULL DEFAULT 'http-01';
CREATE INDEX acme_challenges_domain ON acme_http_challenges (domain, kind);
