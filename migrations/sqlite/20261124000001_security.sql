-- Access control, decisions, ingestion jobs and the audit trail (SQLite dialect).
-- Keep in step with migrations/postgres/20261124000001_security.sql.
-- Instants are fixed-width UTC TEXT and UUIDs hyphenated TEXT, as in the init migration.

-- API keys: only an argon2 hash of the secret is stored; the key is shown once.
CREATE TABLE api_keys (
    key_id      TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;

-- Decisions on analyses. sequence 1 is the first decision; an override is the
-- next sequence and names the decision it supersedes. UNIQUE makes two
-- concurrent first decisions impossible.
CREATE TABLE decisions (
    decision_id     TEXT    NOT NULL PRIMARY KEY,
    analysis_id     TEXT    NOT NULL REFERENCES analyses (analysis_id),
    sequence        INTEGER NOT NULL,
    decision        TEXT    NOT NULL,
    comment         TEXT    NOT NULL,
    actor_id        TEXT    NOT NULL,
    actor_name      TEXT    NOT NULL,
    actor_role      TEXT    NOT NULL,
    decided_at      TEXT    NOT NULL,
    supersedes      TEXT,
    UNIQUE (analysis_id, sequence)
) STRICT;

-- Ingestion jobs started over HTTP.
CREATE TABLE ingest_jobs (
    job_id      TEXT    NOT NULL PRIMARY KEY,
    status      TEXT    NOT NULL,
    done        INTEGER NOT NULL,
    total       INTEGER NOT NULL,
    error       TEXT,
    result      TEXT    CHECK (result IS NULL OR json_valid(result)),
    actor_id    TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
) STRICT;

-- The append-only audit trail, a hash chain: hash = SHA-256(content, prev_hash).
-- details is kept as the exact text that was hashed.
CREATE TABLE audit_log (
    seq         INTEGER NOT NULL PRIMARY KEY,
    at          TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    actor_id    TEXT    NOT NULL,
    actor_role  TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    object_id   TEXT    NOT NULL,
    related_id  TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    details     TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_log_object ON audit_log (object_id);
CREATE INDEX audit_log_related ON audit_log (related_id);

-- Where a pruned chain continues: the last pruned entry's seq and hash.
CREATE TABLE audit_anchor (
    seq        INTEGER NOT NULL PRIMARY KEY,
    hash       TEXT    NOT NULL,
    pruned_at  TEXT    NOT NULL,
    pruned     INTEGER NOT NULL
) STRICT;
