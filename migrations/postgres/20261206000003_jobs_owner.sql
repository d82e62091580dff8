-- The process that runs an ingestion job: host, boot id, pid and process start time
-- (`host/boot/pid/start`), so a restarted server can tell the jobs of a dead process
-- (failed at start-up, their temporary files removed) from those of a live one.
-- NULL for jobs created before this column: their process is gone.
ALTER TABLE ingest_jobs ADD COLUMN owner TEXT;
