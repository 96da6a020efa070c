-- seedc control schema, version 7 (issue 14, lifecycle): the live dataset of each tenant and
-- environment, so `seedc purge --expired` knows what to delete and when without a plan file
-- (TTL counted from the run's successful finish, sessions 5, 9), and the head of each
-- environment's evidence chain, taken under a row lock so concurrent publishers stay linear.
CREATE TABLE IF NOT EXISTS seedc.datasets (
    tenant_id    uuid NOT NULL,
    environment  text NOT NULL,
    tenant       text NOT NULL,
    mode         text NOT NULL,          -- baseline | load | dr (baseline is never purged by TTL)
    plan_hash    text NOT NULL,
    run_id       uuid NOT NULL,          -- the succeeded run that wrote the dataset
    finished_at  timestamptz NOT NULL,   -- seedc.runs.finished_at of that run
    ttl          interval,               -- the plan's guards.ttl; NULL: kept
    spec         jsonb NOT NULL,         -- tables, tenant columns, timeouts, window: no SQL text
    PRIMARY KEY (tenant_id, environment)
);
CREATE INDEX IF NOT EXISTS datasets_expiry ON seedc.datasets (environment, mode);

CREATE TABLE IF NOT EXISTS seedc.evidence_chain (
    environment  text PRIMARY KEY,
    head_sha256  text NOT NULL,
    head_name    text NOT NULL,
    head_run_id  uuid NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
