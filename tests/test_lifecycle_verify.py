"""`seedc verify PLAN --dsn` (session 14; issue 14): read-only post-deploy verification, the
command the Argo CD PostSync hook runs. Exit 0 equal, 1 drift, 3 refused; never writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.runtime_support import Target, prepared_target


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


def _writes(target: Target) -> tuple[int, int, int]:
    """Rows of seedc's own tables a verification must never add to."""
    return (target.scalar("SELECT count(*) FROM seedc.runs"),
            target.scalar("SELECT count(*) FROM seedc.audit"),
            target.scalar("SELECT count(*) FROM seedc.leases"))


def _verify(target: Target, plan: dict[str, Any], dsn: str | None = None) -> Any:
    return target.cli_inprocess("verify", str(target.plan_file(plan)), "--dsn",
                                dsn or target.apply_dsn, "--json")


def test_equal_after_apply_exit_0_and_nothing_written(target: Target,
                                                      plan: dict[str, Any]) -> None:
    target.apply(plan)
    before = _writes(target)
    result = _verify(target, plan)
    assert result.code == 0, result.text
    verdict = json.loads(result.out)
    assert verdict["equal"] is True
    assert verdict["checkpointed"] == len(plan["batches"])
    assert _writes(target) == before


def test_changed_row_is_drift_exit_1(target: Target, plan: dict[str, Any]) -> None:
    target.apply(plan)
    changed = target.execute("UPDATE app.categories SET name = name || ' (edited)' WHERE "
                             "tenant_id = %s AND code = (SELECT min(code) FROM app.categories "
                             "WHERE tenant_id = %s)", (plan["tenant_id"], plan["tenant_id"]))
    assert changed == 1
    before = _writes(target)
    result = _verify(target, plan)
    assert result.code == 1, result.text
    assert json.loads(result.out)["problems"] == [
        "categories: 8 rows as planned but their content differs"]
    assert "differs from plan" in result.err
    assert _writes(target) == before


def test_a_plan_never_applied_is_drift_exit_1(target: Target, plan: dict[str, Any]) -> None:
    result = _verify(target, plan)
    assert result.code == 1, result.text
    problems = json.loads(result.out)["problems"]
    assert problems[0].endswith("batches have no checkpoint: this plan is not (fully) applied")


def test_superuser_is_refused_exit_3(target: Target, plan: dict[str, Any]) -> None:
    target.apply(plan)
    result = _verify(target, plan, dsn=target.admin_dsn)
    assert result.code == 3, result.text
    assert "is a superuser; verify with a least-privilege role" in result.err


def test_missing_table_is_refused_exit_3(target: Target, plan: dict[str, Any]) -> None:
    target.execute("DROP TABLE app.installments")
    result = _verify(target, plan)
    assert result.code == 3, result.text
    assert "cannot verify: missing app.installments" in result.err
