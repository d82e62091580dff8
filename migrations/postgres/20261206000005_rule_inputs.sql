-- Inputs the rules engine needs for issue 14 (PostgreSQL dialect).
-- Keep in step with migrations/sqlite/20261206000005_rule_inputs.sql.

-- PEP kind (FOREIGN | DOMESTIC; NULL: not known), private banking account
-- (31 CFR 1010.620), designated CTR-exempt person (31 CFR 1020.315), and the
-- filing date of the last SAR on the customer (continuing activity, 1020.320).
ALTER TABLE customers ADD COLUMN pep_type TEXT CHECK (pep_type IN ('FOREIGN', 'DOMESTIC'));
ALTER TABLE customers ADD COLUMN private_banking BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE customers ADD COLUMN ctr_exempt BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE customers ADD COLUMN last_sar_filed_on DATE;

-- The counterparty's customer id when it is a customer of this bank (book
-- transfers; the same customer for a transfer between own accounts).
ALTER TABLE transactions ADD COLUMN counterparty_customer_id TEXT;
