-- Officers' judgements of cited chunks (SQLite dialect); see src/feedback.rs.
-- Keep in step with migrations/postgres/20261206100001_citation_feedback.sql.
-- One row per officer × analysis × action × cited chunk: a later judgement of the
-- same citation by the same officer replaces the row (the audit trail keeps every
-- judgement). better_chunk_id is a chunk the officer points to instead.
CREATE TABLE citation_feedback (
    feedback_id      TEXT NOT NULL PRIMARY KEY,
    analysis_id      TEXT NOT NULL REFERENCES analyses (analysis_id),
    action           TEXT NOT NULL,
    chunk_id         TEXT NOT NULL,
    verdict          TEXT NOT NULL CHECK (verdict IN ('supports', 'does_not_support')),
    better_chunk_id  TEXT,
    note             TEXT,
    actor_id         TEXT NOT NULL,
    actor_name       TEXT NOT NULL,
    actor_role       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (analysis_id, action, chunk_id, actor_id)
) STRICT;

CREATE INDEX citation_feedback_updated ON citation_feedback (updated_at);
