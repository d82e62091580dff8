-- Ingestion jobs any replica can run (`crate::app::jobs`): the upload is stored with
-- its job (options and files) before the answer, and a worker of any replica claims
-- it. `owner` now names the replica holding the claim (`host/boot/pid/start#worker`),
-- `lease_until` when that claim lapses unless renewed, `attempts` how many claims
-- the job has had (a lapsed claim is taken again up to `jobs.max_attempts`).
ALTER TABLE ingest_jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ingest_jobs ADD COLUMN lease_until TEXT;
-- What the upload asked for (replace, metadata defaults, who and which request), JSON.
ALTER TABLE ingest_jobs ADD COLUMN options TEXT CHECK (options IS NULL OR json_valid(options));

-- The uploaded files of a job until it finishes (deleted with its closing entry).
CREATE TABLE ingest_job_files (
    job_id      TEXT    NOT NULL REFERENCES ingest_jobs (job_id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    bytes       BLOB    NOT NULL,
    PRIMARY KEY (job_id, position)
) STRICT;

-- Claims look for the oldest unfinished job of a kind.
CREATE INDEX ingest_jobs_unfinished ON ingest_jobs (kind, status, created_at);
