-- seedc control schema, version 5 (issue 12): every applied plan is kept, compressed and keyed
-- by its hash, so the database knows which plan its rows came from (and the exact plan is
-- retrievable without the repository); an incremental apply from one plan to the next keeps
-- its progress per step, so a kill -9 resumes it without writing anything twice.
CREATE TABLE IF NOT EXISTS seedc.plans (
    tenant_id    uuid NOT NULL,
    environment  text NOT NULL,
    plan_hash    text NOT NULL,
    mode         text NOT NULL,
    tenant       text NOT NULL,
    compressed   bytea NOT NULL,        -- zlib of the plan's canonical JSON (RFC 8785)
    bytes        bigint NOT NULL,       -- its uncompressed size
    stored_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id       uuid NOT NULL,         -- the run that first stored it
    PRIMARY KEY (tenant_id, environment, plan_hash)
);

CREATE TABLE IF NOT EXISTS seedc.delta_checkpoints (
    tenant_id       uuid NOT NULL,
    environment     text NOT NULL,
    from_plan_hash  text NOT NULL,
    to_plan_hash    text NOT NULL,
    step_id         text NOT NULL,
    entity          text NOT NULL,
    kind            text NOT NULL,      -- insert | update | delete
    row_count       bigint NOT NULL,
    run_id          uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, environment, step_id)
);

ALTER TABLE seedc.plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE seedc.plans FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON seedc.plans
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE seedc.delta_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE seedc.delta_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON seedc.delta_checkpoints
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
