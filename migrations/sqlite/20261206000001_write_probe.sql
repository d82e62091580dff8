-- /ready's write probe (SQLite dialect; keep in step with the PostgreSQL migration).
-- One row, rewritten by every probe: a database that cannot take this write within
-- the probe's timeout is reported not ready, even while reads still answer.
CREATE TABLE write_probe (
    id        INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    probed_at TEXT    NOT NULL,
    probes    INTEGER NOT NULL
) STRICT;
