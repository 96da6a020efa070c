-- Indexes on the demo schema's foreign-key columns (issue 10: reset and load/DR purge).
-- PostgreSQL indexes the referenced side of a foreign key, never the referencing one: without
-- these, deleting a parent row (a purge deletes children first, then parents) makes the
-- referential check scan the whole child table — dead rows of the purge included — once per
-- parent row. Columns already leading a UNIQUE constraint (e.g. `UNIQUE (tenant_id, cpf)`,
-- `UNIQUE (loan_id, number)`) are indexed by it and need nothing here.
--
-- Idempotent (IF NOT EXISTS) and deliberately not recorded in app.schema_migrations: the
-- migrations head that plans check (session 11) describes the tables' columns, which indexes
-- do not change, and running this file on every install also brings databases created from
-- 0001 alone up to date. seedc's preflight warns about any FK column still unindexed
-- (seedc/runtime/schema_checks.py).

CREATE INDEX IF NOT EXISTS addresses_tenant_id_idx ON app.addresses (tenant_id);
CREATE INDEX IF NOT EXISTS customers_consultant_id_idx ON app.customers (consultant_id);
CREATE INDEX IF NOT EXISTS suppliers_category_id_idx ON app.suppliers (category_id);
CREATE INDEX IF NOT EXISTS bank_accounts_customer_id_idx ON app.bank_accounts (customer_id);
CREATE INDEX IF NOT EXISTS bank_accounts_account_type_id_idx
    ON app.bank_accounts (account_type_id);
CREATE INDEX IF NOT EXISTS contracts_customer_id_idx ON app.contracts (customer_id);
CREATE INDEX IF NOT EXISTS credit_limits_tenant_id_idx ON app.credit_limits (tenant_id);
CREATE INDEX IF NOT EXISTS credit_limits_customer_id_idx ON app.credit_limits (customer_id);
CREATE INDEX IF NOT EXISTS credit_limits_limit_policy_id_idx
    ON app.credit_limits (limit_policy_id);
CREATE INDEX IF NOT EXISTS transactions_tenant_id_idx ON app.transactions (tenant_id);
CREATE INDEX IF NOT EXISTS transactions_bank_account_id_idx
    ON app.transactions (bank_account_id);
CREATE INDEX IF NOT EXISTS transactions_category_id_idx ON app.transactions (category_id);
CREATE INDEX IF NOT EXISTS loans_tenant_id_idx ON app.loans (tenant_id);
CREATE INDEX IF NOT EXISTS loans_contract_id_idx ON app.loans (contract_id);
CREATE INDEX IF NOT EXISTS loans_customer_id_idx ON app.loans (customer_id);
CREATE INDEX IF NOT EXISTS installments_tenant_id_idx ON app.installments (tenant_id);
