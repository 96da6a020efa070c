-- Expand phase of a parallel change (seeds session 11): app.transactions.description becomes
-- app.transactions.memo. The new column is added beside the old one; during the backfill both
-- are written (the model's `expand: {column: memo, relation: copy}`) and seedc refuses a run,
-- and `seedc diff --dsn` reports, when they diverge. The contract phase drops `description`.
--
-- Idempotent and, like 0002, not recorded in app.schema_migrations: the plans' schema
-- fingerprint (which now includes `memo`) already refuses a database without it.

ALTER TABLE app.transactions ADD COLUMN IF NOT EXISTS memo text;
