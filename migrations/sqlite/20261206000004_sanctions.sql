-- Sanctions list versions and their entries (SQLite dialect).
-- Keep in step with migrations/postgres/20261206000004_sanctions.sql.
-- A version is one publication of one list (sdn or consolidated); it is in force
-- from its publication date until the next version of the same list.
CREATE TABLE sanctions_versions (
    version_id   TEXT    NOT NULL PRIMARY KEY,
    list         TEXT    NOT NULL,
    published    TEXT    NOT NULL,
    loaded_at    TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    content_hash TEXT    NOT NULL,
    n_entries    INTEGER NOT NULL,
    n_aliases    INTEGER NOT NULL,
    UNIQUE (list, published)
) STRICT;

-- One listed party of a version; entry is the parsed record as JSON (names,
-- aliases, programs, vessel data, Linked To, addresses, remarks).
CREATE TABLE sanctions_entries (
    version_id TEXT NOT NULL REFERENCES sanctions_versions (version_id),
    ent_num    TEXT NOT NULL,
    name       TEXT NOT NULL,
    entry      TEXT NOT NULL CHECK (json_valid(entry)),
    PRIMARY KEY (version_id, ent_num)
) STRICT;
