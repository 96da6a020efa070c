"""Issue 16: `seedc model check MODEL --dsn` keeps a model in step with the live schema, and
apply's schema-fingerprint refusal names the differing columns with the same code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.manifests import REPO
from tests.runtime_support import (
    Target,
    acme_plan,
    admin_execute,
    prepared_target,
    run_cli_inprocess,
    tenant_counts,
    zero_counts,
)

MODEL = REPO / "manifests" / "models" / "banking-core.yaml"


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


def _check(target: Target, *extra: str) -> tuple[int, str]:
    result = run_cli_inprocess(["model", "check", str(MODEL), "--dsn", target.admin_dsn,
                                *extra], target.tmp)
    return result.code, result.out


def test_the_demo_model_is_in_step_with_the_demo_schema(target: Target) -> None:
    code, out = _check(target)
    assert code == 0, out
    assert "in step with the database (15 tables)" in out
    code, out = _check(target, "--json")
    assert code == 0
    assert json.loads(out)["findings"] == []
    assert json.loads(out)["in_step"] is True


@pytest.mark.parametrize(("ddl", "kind", "message"), [
    ("ALTER TABLE app.customers ADD COLUMN nickname text NOT NULL",
     "required_column",
     "app.customers.nickname: NOT NULL text without a default and no expression in the model"),
    ("ALTER TABLE app.users DROP COLUMN role",
     "missing_column",
     "app.users.role: in the model but not in the database (dropped or renamed)"),
    ("ALTER TABLE app.consultants ALTER COLUMN phone TYPE varchar(20)",
     "type_mismatch",
     "app.consultants.phone: the model says varchar(14), the database has varchar(20)"),
    ("ALTER TABLE app.suppliers DISABLE ROW LEVEL SECURITY",
     "rls_disabled",
     "app.suppliers: row-level security is disabled"),
])
def test_each_schema_change_is_found_with_exit_1(target: Target, ddl: str, kind: str,
                                                 message: str) -> None:
    admin_execute(target.admin_dsn, ddl)
    code, out = _check(target)
    assert code == 1, out
    assert f"[{kind}] {message}" in out
    assert "1 difference(s) with the database" in out
    code, out = _check(target, "--json")
    assert code == 1
    findings = json.loads(out)["findings"]
    assert [f["kind"] for f in findings] == [kind]
    assert message in findings[0]["message"]


def test_rls_enabled_but_not_forced_is_found(target: Target) -> None:
    admin_execute(target.admin_dsn, "ALTER TABLE app.loans NO FORCE ROW LEVEL SECURITY")
    code, out = _check(target)
    assert code == 1
    assert "[rls_not_forced] app.loans: row-level security is enabled but not forced" in out


def test_an_invalid_model_is_refused_with_exit_2(target: Target) -> None:
    bad = target.tmp / "bad.yaml"
    bad.write_text(MODEL.read_text(encoding="utf-8").replace("table: app.users",
                                                             "table: seedc.users"),
                   encoding="utf-8")
    result = run_cli_inprocess(["model", "check", str(bad), "--dsn", target.admin_dsn],
                               target.tmp)
    assert result.code == 2
    assert "invalid model" in result.text


def test_apply_refusal_names_the_added_required_column(target: Target) -> None:
    plan = acme_plan()
    admin_execute(target.admin_dsn, "ALTER TABLE app.customers ADD COLUMN nickname text NOT NULL")
    error = target.apply_error(plan)
    assert error.exit_code == 3
    text = "\n".join(error.details)
    assert "schema fingerprint" in text
    assert "app.customers.nickname: NOT NULL text without a default" in text
    assert tenant_counts(target.admin_dsn, plan) == zero_counts(plan)


def test_apply_refusal_on_a_widened_column_points_to_model_check(target: Target) -> None:
    plan = acme_plan()
    admin_execute(target.admin_dsn,
                  "ALTER TABLE app.consultants ALTER COLUMN phone TYPE varchar(20)")
    error = target.apply_error(plan)
    assert error.exit_code == 3
    assert "seedc model check" in "\n".join(error.details)
    assert tenant_counts(target.admin_dsn, plan) == zero_counts(plan)


def test_policies_reading_another_setting_are_found(target: Target) -> None:
    admin_execute(target.admin_dsn,
                  "DROP POLICY tenant_isolation ON app.users; "
                  "CREATE POLICY tenant_isolation ON app.users USING (tenant_id = nullif("
                  "current_setting('tenancy.current_org', true), '')::uuid)")
    code, out = _check(target)
    assert code == 1
    assert ("[rls_setting_mismatch] app.users: no policy reads "
            "current_setting('app.tenant_id')") in out
