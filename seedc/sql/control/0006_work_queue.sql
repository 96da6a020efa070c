-- seedc control schema, version 6 (issue 13): parallel writers and fan-out across pods.
-- A run's batches become rows of a work table that any writer of the run (threads of the
-- coordinator, joiners on other pods) claims with FOR UPDATE SKIP LOCKED; a claim carries the
-- claimer's lease, so a batch claimed by a worker that died is reclaimed once it expires.
-- The rate ledger paces the whole run across all of its writers (sliding 5-second windows).
CREATE TABLE IF NOT EXISTS seedc.work_items (
    run_id            uuid NOT NULL,
    tenant_id         uuid NOT NULL,
    environment       text NOT NULL,
    batch_id          text NOT NULL,
    ord               integer NOT NULL,   -- the batch's position in the plan
    entity            text NOT NULL,
    depends_on        text[] NOT NULL,    -- entities whose batches must all be done first
    row_count         bigint NOT NULL,
    claimed_by        text,               -- a worker id of seedc.work_workers
    claim_expires_at  timestamptz,
    done_at           timestamptz,        -- set in the batch's own transaction
    PRIMARY KEY (run_id, batch_id)
);
CREATE INDEX IF NOT EXISTS work_items_open ON seedc.work_items (run_id, ord)
    WHERE done_at IS NULL;

CREATE TABLE IF NOT EXISTS seedc.work_workers (
    run_id      uuid NOT NULL,
    tenant_id   uuid NOT NULL,
    worker_id   text NOT NULL,            -- host:pid:n
    role        text NOT NULL,            -- coordinator | joiner
    joined_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at  timestamptz NOT NULL,     -- renewed by the worker's heartbeat
    left_at     timestamptz,
    PRIMARY KEY (run_id, worker_id)
);

CREATE TABLE IF NOT EXISTS seedc.rate_ledger (
    run_id      uuid NOT NULL,
    tenant_id   uuid NOT NULL,
    at          timestamptz NOT NULL,     -- when the batch may start writing
    row_count   bigint NOT NULL,
    batch_id    text NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_ledger_run_at ON seedc.rate_ledger (run_id, at);

ALTER TABLE seedc.work_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE seedc.work_items FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON seedc.work_items
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE seedc.work_workers ENABLE ROW LEVEL SECURITY;
ALTER TABLE seedc.work_workers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON seedc.work_workers
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE seedc.rate_ledger ENABLE ROW LEVEL SECURITY;
ALTER TABLE seedc.rate_ledger FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON seedc.rate_ledger
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
