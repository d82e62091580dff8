-- Access control, decisions, ingestion jobs and the audit trail (PostgreSQL dialect).
-- Keep in step with migrations/sqlite/20261124000001_security.sql.

-- API keys: only an argon2 hash of the secret is stored; the key is shown once.
CREATE TABLE api_keys (
    key_id      TEXT        NOT NULL PRIMARY KEY,
    name        TEXT        NOT NULL,
    role        TEXT        NOT NULL,
    secret_hash TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);

-- Decisions on analyses (see the SQLite migration).
CREATE TABLE decisions (
    decision_id     UUID        NOT NULL PRIMARY KEY,
    analysis_id     UUID        NOT NULL REFERENCES analyses (analysis_id),
    sequence        BIGINT      NOT NULL,
    decision        TEXT        NOT NULL,
    comment         TEXT        NOT NULL,
    actor_id        TEXT        NOT NULL,
    actor_name      TEXT        NOT NULL,
    actor_role      TEXT        NOT NULL,
    decided_at      TIMESTAMPTZ NOT NULL,
    supersedes      UUID,
    UNIQUE (analysis_id, sequence)
);

CREATE TABLE ingest_jobs (
    job_id      UUID        NOT NULL PRIMARY KEY,
    status      TEXT        NOT NULL,
    done        BIGINT      NOT NULL,
    total       BIGINT      NOT NULL,
    error       TEXT,
    result      JSONB,
    actor_id    TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- The append-only audit trail (see the SQLite migration). details is TEXT, not
-- JSONB, so the exact hashed text is kept.
CREATE TABLE audit_log (
    seq         BIGINT      NOT NULL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    kind        TEXT        NOT NULL,
    action      TEXT        NOT NULL,
    actor_id    TEXT        NOT NULL,
    actor_role  TEXT        NOT NULL,
    request_id  TEXT        NOT NULL,
    object_id   TEXT        NOT NULL,
    related_id  TEXT        NOT NULL,
    outcome     TEXT        NOT NULL,
    details     TEXT        NOT NULL,
    prev_hash   TEXT        NOT NULL,
    hash        TEXT        NOT NULL
);

CREATE INDEX audit_log_object ON audit_log (object_id);
CREATE INDEX audit_log_related ON audit_log (related_id);

CREATE TABLE audit_anchor (
    seq        BIGINT      NOT NULL PRIMARY KEY,
    hash       TEXT        NOT NULL,
    pruned_at  TIMESTAMPTZ NOT NULL,
    pruned     BIGINT      NOT NULL
);
