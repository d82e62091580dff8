-- Indexes for the quality figures (src/monitoring/, src/db/monitoring.rs): analyses
-- and decisions are counted per day of a date range, so both are read by time range.
-- Keep in step with the other dialect's file of the same number.
CREATE INDEX analyses_analyzed_at ON analyses (analyzed_at);
-- The review queue: analyses requiring review, oldest first.
CREATE INDEX analyses_review_analyzed_at ON analyses (requires_review, analyzed_at);
CREATE INDEX decisions_decided_at ON decisions (decided_at);
