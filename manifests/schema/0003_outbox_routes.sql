-- Integrations of the demo application (seeds sessions 8 and 18): an outbox that tenant rows
-- feed, and the routes table that maps each outbox topic to a sink. A route is global
-- (tenant_id NULL) or one tenant's override. seedc's preflight reads the routes that the
-- tenant's rows could trigger and refuses the run when any sink is outside the manifest's
-- sandbox pattern (docs/integrations.md). Events seedc itself writes carry `sandbox = true`.
--
-- Idempotent and, like 0002, not recorded in app.schema_migrations: it adds tables beside the
-- seeded ones and changes none of them, so plans compiled for head 0001 stay valid.

CREATE TABLE IF NOT EXISTS app.event_routes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  uuid,                -- NULL: every tenant; no FK, so purging a tenant never trips on it
    topic      text NOT NULL,
    sink       text NOT NULL,
    UNIQUE NULLS NOT DISTINCT (tenant_id, topic)
);

CREATE TABLE IF NOT EXISTS app.outbox (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    topic       text NOT NULL,
    payload     text NOT NULL,          -- a JSON document
    sandbox     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS outbox_tenant_id_idx ON app.outbox (tenant_id);
CREATE INDEX IF NOT EXISTS event_routes_tenant_id_idx ON app.event_routes (tenant_id);

ALTER TABLE app.outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.outbox FORCE ROW LEVEL SECURITY;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polname = 'tenant_isolation'
                   AND polrelid = 'app.outbox'::regclass) THEN
        CREATE POLICY tenant_isolation ON app.outbox
            USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
    END IF;
END
$$;

-- The demo's global routes all stay in the sandbox.
INSERT INTO app.event_routes (tenant_id, topic, sink) VALUES
    (NULL, 'transaction.created', 'sandbox://events/transactions'),
    (NULL, 'loan.created',        'sandbox://events/loans'),
    (NULL, 'customer.created',    'sandbox://events/customers')
ON CONFLICT DO NOTHING;
