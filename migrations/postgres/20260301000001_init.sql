-- reagent schema, PostgreSQL dialect. Keep in step with migrations/sqlite/.
--
-- Representation (see src/db/codec.rs):
-- * Amounts are NUMERIC (exact decimal), never a binary float.
-- * Instants are TIMESTAMPTZ (microseconds). transactions.utc_offset_seconds
--   keeps the offset the caller sent, so the timestamp is returned as it came.
-- * Enums are TEXT in their wire form (CASH_DEPOSIT, HIGH, rules, ...).
-- * JSON documents are JSONB.

CREATE TABLE customers (
    customer_id   TEXT        NOT NULL PRIMARY KEY,
    name          TEXT        NOT NULL,
    customer_type TEXT        NOT NULL,
    risk_rating   TEXT        NOT NULL,
    kyc_status    TEXT        NOT NULL,
    is_pep        BOOLEAN     NOT NULL,
    country       TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE transactions (
    transaction_id      TEXT             NOT NULL PRIMARY KEY,
    customer_id         TEXT             NOT NULL REFERENCES customers (customer_id),
    amount              NUMERIC          NOT NULL CHECK (amount > 0),
    currency            TEXT             NOT NULL,
    transaction_type    TEXT             NOT NULL,
    direction           TEXT             NOT NULL,
    origin_country      TEXT             NOT NULL,
    destination_country TEXT             NOT NULL,
    counterparty_name   TEXT,
    description         TEXT,
    timestamp           TIMESTAMPTZ      NOT NULL,
    utc_offset_seconds  INTEGER          NOT NULL,
    risk_score          DOUBLE PRECISION
);

-- A customer's history window (transaction_context).
CREATE INDEX transactions_customer_timestamp ON transactions (customer_id, timestamp);
-- Newest-first listing.
CREATE INDEX transactions_timestamp ON transactions (timestamp);

CREATE TABLE analyses (
    analysis_id        UUID        NOT NULL PRIMARY KEY,
    -- Not a foreign key: an analysed transaction need not be stored.
    transaction_id     TEXT        NOT NULL,
    request            JSONB       NOT NULL,
    analysis           JSONB       NOT NULL,
    risk_level         TEXT        NOT NULL,
    requires_review    BOOLEAN     NOT NULL,
    generator_kind     TEXT        NOT NULL,
    model              TEXT,
    prompt_version     TEXT        NOT NULL,
    processing_time_ms BIGINT      NOT NULL CHECK (processing_time_ms >= 0),
    analyzed_at        TIMESTAMPTZ NOT NULL
);

-- Latest analysis of a transaction.
CREATE INDEX analyses_transaction_analyzed_at ON analyses (transaction_id, analyzed_at);
