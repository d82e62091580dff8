-- The failed-authentication budget of each client address (see the SQLite migration).
CREATE TABLE auth_failure_budgets (
    source      TEXT   NOT NULL PRIMARY KEY,
    full_at_us  BIGINT NOT NULL
);

CREATE INDEX auth_failure_budgets_full_at ON auth_failure_budgets (full_at_us);
