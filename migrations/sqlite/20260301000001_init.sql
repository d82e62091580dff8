-- reagent schema, SQLite dialect. Keep in step with migrations/postgres/.
--
-- Representation (see src/db/codec.rs):
-- * Tables are STRICT, so a value of the wrong type is an error, not a silent
--   conversion.
-- * Amounts are TEXT holding the exact decimal ("10000.01"), never REAL.
-- * Instants are TEXT in fixed-width UTC, 'YYYY-MM-DDTHH:MM:SS.ffffffZ', so
--   text order is time order. transactions.utc_offset_seconds keeps the offset
--   the caller sent, so the timestamp is returned as it came.
-- * Enums are TEXT in their wire form (CASH_DEPOSIT, HIGH, rules, ...).
-- * Booleans are INTEGER 0/1; JSON documents are TEXT.

CREATE TABLE customers (
    customer_id   TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    customer_type TEXT    NOT NULL,
    risk_rating   TEXT    NOT NULL,
    kyc_status    TEXT    NOT NULL,
    is_pep        INTEGER NOT NULL CHECK (is_pep IN (0, 1)),
    country       TEXT    NOT NULL,
    created_at    TEXT    NOT NULL
) STRICT;

CREATE TABLE transactions (
    transaction_id      TEXT    NOT NULL PRIMARY KEY,
    customer_id         TEXT    NOT NULL REFERENCES customers (customer_id),
    amount              TEXT    NOT NULL,
    currency            TEXT    NOT NULL,
    transaction_type    TEXT    NOT NULL,
    direction           TEXT    NOT NULL,
    origin_country      TEXT    NOT NULL,
    destination_country TEXT    NOT NULL,
    counterparty_name   TEXT,
    description         TEXT,
    timestamp           TEXT    NOT NULL,
    utc_offset_seconds  INTEGER NOT NULL,
    risk_score          REAL
) STRICT;

-- A customer's history window (transaction_context).
CREATE INDEX transactions_customer_timestamp ON transactions (customer_id, timestamp);
-- Newest-first listing.
CREATE INDEX transactions_timestamp ON transactions (timestamp);

CREATE TABLE analyses (
    analysis_id        TEXT    NOT NULL PRIMARY KEY,
    -- Not a foreign key: an analysed transaction need not be stored.
    transaction_id     TEXT    NOT NULL,
    request            TEXT    NOT NULL CHECK (json_valid(request)),
    analysis           TEXT    NOT NULL CHECK (json_valid(analysis)),
    risk_level         TEXT    NOT NULL,
    requires_review    INTEGER NOT NULL CHECK (requires_review IN (0, 1)),
    generator_kind     TEXT    NOT NULL,
    model              TEXT,
    prompt_version     TEXT    NOT NULL,
    processing_time_ms INTEGER NOT NULL,
    analyzed_at        TEXT    NOT NULL
) STRICT;

-- Latest analysis of a transaction.
CREATE INDEX analyses_transaction_analyzed_at ON analyses (transaction_id, analyzed_at);
