-- Browser sessions of the web pages (see the SQLite migration).
CREATE TABLE web_sessions (
    id          TEXT        NOT NULL PRIMARY KEY,
    data        TEXT        NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
