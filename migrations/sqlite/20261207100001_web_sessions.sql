-- Browser sessions of the web pages (src/web/session.rs, a tower-sessions store): the
-- random id in the session cookie → the session record (JSON: the signed-in principal
-- and the session's CSRF token) until `expires_at`. Kept here rather than in a
-- process's memory, so a restart signs no one out and any server over this database
-- serves any session. Expired rows are never read and are deleted at each sign-in.
CREATE TABLE web_sessions (
    id          TEXT NOT NULL PRIMARY KEY,
    data        TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) STRICT;

CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
