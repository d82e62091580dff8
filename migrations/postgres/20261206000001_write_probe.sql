-- /ready's write probe (PostgreSQL dialect; see the SQLite migration).
CREATE TABLE write_probe (
    id        INTEGER     NOT NULL PRIMARY KEY CHECK (id = 1),
    probed_at TIMESTAMPTZ NOT NULL,
    probes    BIGINT      NOT NULL
);
