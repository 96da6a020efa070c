-- seedc control schema, version 1: runs, audit, checkpoints, leases, queue, maintenance,
-- evidence index. Tenant-scoped tables have RLS keyed by the session's app.tenant_id
-- (seeds session 4). Installed by `seedc db install`, which also grants the apply role.

CREATE TABLE IF NOT EXISTS seedc.runs (
    run_id        uuid PRIMARY KEY,
    plan_hash     text NOT NULL,
    tenant        text NOT NULL,
    tenant_id     uuid NOT NULL,
    environment   text NOT NULL,
    mode          text NOT NULL,
    dry_run       boolean NOT NULL,
    status        text NOT NULL,   -- running | succeeded | refused | failed | noop
    detail        text,
    rows_written  bigint NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at   timestamptz
);

CREATE TABLE IF NOT EXISTS seedc.audit (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id       uuid,
    tenant       text NOT NULL,
    environment  text NOT NULL,
    event        text NOT NULL,
    rule         text,
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE IF NOT EXISTS seedc.checkpoints (
    tenant_id        uuid NOT NULL,
    environment      text NOT NULL,
    batch_id         text NOT NULL,
    chain_hash       text NOT NULL,
    plan_hash        text NOT NULL,
    entity           text NOT NULL,
    row_count        bigint NOT NULL,
    resolved_digest  text NOT NULL,
    run_id           uuid NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, environment, batch_id)
);

CREATE TABLE IF NOT EXISTS seedc.leases (
    tenant_id    uuid NOT NULL,
    environment  text NOT NULL,
    run_id       uuid NOT NULL,
    holder       text NOT NULL,
    acquired_at  timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, environment)
);

CREATE TABLE IF NOT EXISTS seedc.queue (
    run_id       uuid PRIMARY KEY,
    environment  text NOT NULL,
    tenant       text NOT NULL,
    holder       text NOT NULL,
    enqueued_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at   timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS seedc.maintenance (
    tenant_id    uuid NOT NULL,
    environment  text NOT NULL,
    run_id       uuid NOT NULL,
    since        timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, environment)
);

CREATE TABLE IF NOT EXISTS seedc.evidence (
    run_id          uuid PRIMARY KEY,
    tenant          text NOT NULL,
    environment     text NOT NULL,
    uri             text NOT NULL,
    version_id      text,
    sha256          text NOT NULL,
    retain_until    timestamptz,
    status          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

ALTER TABLE seedc.checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE seedc.checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON seedc.checkpoints
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE seedc.leases ENABLE ROW LEVEL SECURITY;
ALTER TABLE seedc.leases FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON seedc.leases
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE seedc.maintenance ENABLE ROW LEVEL SECURITY;
ALTER TABLE seedc.maintenance FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON seedc.maintenance
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
