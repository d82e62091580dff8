-- Officers' judgements of cited chunks (PostgreSQL dialect; see the SQLite migration).
-- Keep in step with migrations/sqlite/20261206100001_citation_feedback.sql.
CREATE TABLE citation_feedback (
    feedback_id      UUID        NOT NULL PRIMARY KEY,
    analysis_id      UUID        NOT NULL REFERENCES analyses (analysis_id),
    action           TEXT        NOT NULL,
    chunk_id         UUID        NOT NULL,
    verdict          TEXT        NOT NULL CHECK (verdict IN ('supports', 'does_not_support')),
    better_chunk_id  UUID,
    note             TEXT,
    actor_id         TEXT        NOT NULL,
    actor_name       TEXT        NOT NULL,
    actor_role       TEXT        NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (analysis_id, action, chunk_id, actor_id)
);

CREATE INDEX citation_feedback_updated ON citation_feedback (updated_at);
