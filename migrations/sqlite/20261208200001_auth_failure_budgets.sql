-- The failed-authentication budget of each client address (src/api/limits.rs), shared
-- by every server over this database, so N replicas do not give an address N budgets
-- and a restart does not refill them. A token bucket kept as one instant:
-- `full_at_us` (microseconds since the Unix epoch) is when the address's budget is
-- whole again; each failure moves it one refill interval later. A row whose instant
-- has passed is the same as no row, and such rows are deleted from time to time.
CREATE TABLE auth_failure_budgets (
    source      TEXT    NOT NULL PRIMARY KEY,
    full_at_us  INTEGER NOT NULL
) STRICT;

CREATE INDEX auth_failure_budgets_full_at ON auth_failure_budgets (full_at_us);
