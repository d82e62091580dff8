-- Signed checkpoints of the audit chain's head (src/audit/checkpoint.rs): entry seq
-- had hash `hash` at `at`, signed with the Ed25519 key in audit.checkpoint_signing_key.
-- A copy of each is meant for write-once storage outside this database; the rows
-- here let `reagent audit verify` check against the newest one without it.
CREATE TABLE audit_checkpoint (
    seq         INTEGER NOT NULL,
    hash        TEXT    NOT NULL,
    at          TEXT    NOT NULL,
    public_key  TEXT    NOT NULL,
    signature   TEXT    NOT NULL,
    PRIMARY KEY (seq, at)
) STRICT;

-- Prune anchors are signed with the same key ('' for anchors written without one).
ALTER TABLE audit_anchor ADD COLUMN signature TEXT NOT NULL DEFAULT '';
