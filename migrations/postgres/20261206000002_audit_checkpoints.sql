-- Signed checkpoints of the audit chain's head (see the SQLite migration).
CREATE TABLE audit_checkpoint (
    seq         BIGINT      NOT NULL,
    hash        TEXT        NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    public_key  TEXT        NOT NULL,
    signature   TEXT        NOT NULL,
    PRIMARY KEY (seq, at)
);

-- Prune anchors are signed with the same key ('' for anchors written without one).
ALTER TABLE audit_anchor ADD COLUMN signature TEXT NOT NULL DEFAULT '';
