-- Sanctions list versions and their entries (PostgreSQL dialect).
-- Keep in step with migrations/sqlite/20261206000004_sanctions.sql.
-- A version is one publication of one list (sdn or consolidated); it is in force
-- from its publication date until the next version of the same list.
CREATE TABLE sanctions_versions (
    version_id   TEXT        NOT NULL PRIMARY KEY,
    list         TEXT        NOT NULL,
    published    TEXT        NOT NULL,
    loaded_at    TIMESTAMPTZ NOT NULL,
    source       TEXT        NOT NULL,
    content_hash TEXT        NOT NULL,
    n_entries    BIGINT      NOT NULL,
    n_aliases    BIGINT      NOT NULL,
    UNIQUE (list, published)
);

-- One listed party of a version; entry is the parsed record as JSON text (names,
-- aliases, programs, vessel data, Linked To, addresses, remarks).
CREATE TABLE sanctions_entries (
    version_id TEXT NOT NULL REFERENCES sanctions_versions (version_id),
    ent_num    TEXT NOT NULL,
    name       TEXT NOT NULL,
    entry      TEXT NOT NULL,
    PRIMARY KEY (version_id, ent_num)
);
