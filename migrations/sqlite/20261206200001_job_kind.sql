-- What a job does: `ingest` (document upload, the only kind before this column) or
-- `batch` (a file of transactions screened by `crate::batch`). Each kind has its own
-- job view route, so a role sees only the jobs of work it may start.
ALTER TABLE ingest_jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'ingest';
