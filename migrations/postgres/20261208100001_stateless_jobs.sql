-- Ingestion jobs any replica can run (see the SQLite migration).
ALTER TABLE ingest_jobs ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ingest_jobs ADD COLUMN lease_until TIMESTAMPTZ;
ALTER TABLE ingest_jobs ADD COLUMN options JSONB;

CREATE TABLE ingest_job_files (
    job_id      UUID    NOT NULL REFERENCES ingest_jobs (job_id) ON DELETE CASCADE,
    position    BIGINT  NOT NULL,
    name        TEXT    NOT NULL,
    bytes       BYTEA   NOT NULL,
    PRIMARY KEY (job_id, position)
);

CREATE INDEX ingest_jobs_unfinished ON ingest_jobs (kind, status, created_at);
