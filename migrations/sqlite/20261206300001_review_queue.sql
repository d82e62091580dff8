-- The review queue and case view (issue 15), SQLite dialect.
-- Keep in step with migrations/postgres/20261206300001_review_queue.sql.

-- The earliest due date of an analysis's required actions (YYYY-MM-DD, from the
-- rules engine; NULL: none, or stored before due dates existed) and its action
-- codes as " CODE1 CODE2 " (for the queue's action filter), kept beside the JSON
-- so the queue is one indexed query.
ALTER TABLE analyses ADD COLUMN due_on TEXT;
ALTER TABLE analyses ADD COLUMN action_codes TEXT;
CREATE INDEX analyses_review_due ON analyses (requires_review, due_on, analyzed_at);

-- Who an analysis under review is assigned to: one row per analysis, replaced
-- on reassignment (each change is in the audit log).
CREATE TABLE review_assignments (
    analysis_id   TEXT NOT NULL PRIMARY KEY REFERENCES analyses (analysis_id),
    assignee_id   TEXT NOT NULL,
    assignee_name TEXT NOT NULL,
    assigned_by   TEXT NOT NULL,
    assigned_at   TEXT NOT NULL
) STRICT;
CREATE INDEX review_assignments_assignee ON review_assignments (assignee_id);

-- The SAR narrative the officer kept with a decision (NULL: none).
ALTER TABLE decisions ADD COLUMN narrative TEXT;
