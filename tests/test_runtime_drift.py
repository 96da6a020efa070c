"""Drift: `seedc diff PLAN --dsn` names rows changed, deleted and inserted by hand; apply is
fail-closed on any of them even when every batch is checkpointed; `seedc reset` then re-apply
restores the planned data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from seedc.errors import ExitCode, GuardRefused
from seedc.runtime.apply import ApplyOptions
from tests.runtime_support import (
    Target,
    compile_variant,
    planned_counts,
)

DRIFT_RULE = "no data outside the plan, fail-closed (session 8)"


def _first_id(t: Target, table: str, plan: dict[str, Any]) -> str:
    statement = sql.SQL("SELECT id::text FROM {} WHERE tenant_id = %s ORDER BY id LIMIT 1")
    return str(t.scalar(statement.format(sql.Identifier("app", table)), (plan["tenant_id"],)))


def _change(t: Target, plan: dict[str, Any]) -> tuple[str, str]:
    row = _first_id(t, "customers", plan)
    assert t.execute("UPDATE app.customers SET status = 'edited' WHERE id = %s", (row,)) == 1
    return "customers", row


def _delete(t: Target, plan: dict[str, Any]) -> tuple[str, str]:
    row = _first_id(t, "transactions", plan)
    assert t.execute("DELETE FROM app.transactions WHERE id = %s", (row,)) == 1
    return "transactions", row


def _insert(t: Target, plan: dict[str, Any]) -> tuple[str, str]:
    row = "00000000-0000-4000-8000-00000000beef"
    t.execute("INSERT INTO app.categories (id, tenant_id, code, name) VALUES (%s, %s, 'hand', "
              "'Inserted by hand')", (row, plan["tenant_id"]))
    return "categories", row


def test_diff_names_each_kind_of_drift_apply_refuses_and_reset_restores(
        target: Target, plan: dict[str, Any]) -> None:
    path = str(target.plan_file(plan))
    dsn = ("--dsn", target.apply_dsn)
    assert target.apply(plan).status == "succeeded"
    clean = target.cli("diff", path, *dsn)
    assert clean.code == 0, clean.text
    assert clean.out.startswith("no drift: tenant acme (dev) matches"), clean.out

    changed, deleted, inserted = _change(target, plan), _delete(target, plan), _insert(target, plan)
    diff = target.cli("diff", path, *dsn)
    assert diff.code == 1, diff.text
    lines = diff.out.splitlines()
    assert lines[0].startswith(f"drift: tenant acme (dev) vs plan {plan['plan_hash']}")
    counts = planned_counts(plan)
    n = {name: counts[f"app.{name}"] for name in ("customers", "transactions", "categories")}
    assert f"  customers: planned {n['customers']}, found {n['customers']}: 0 missing, " \
        "1 changed, 0 not in the plan" in lines
    assert f"      changed: {changed[1]}" in lines
    column = lines[lines.index(f"      changed: {changed[1]}") + 1]  # issue 11: which column
    assert column.startswith("          status: "), column
    assert column.endswith(' -> "edited"'), column
    assert f"  transactions: planned {n['transactions']}, found {n['transactions'] - 1}: " \
        "1 missing, 0 changed, 0 not in the plan" in lines
    assert f"      missing: {deleted[1]}" in lines
    assert f"  categories: planned {n['categories']}, found {n['categories'] + 1}: 0 missing, " \
        "0 changed, 1 not in the plan" in lines
    assert f"      not in plan: {inserted[1]}" in lines
    assert len([line for line in lines if line.startswith("  ") and
                not line.startswith("    ")]) == 3  # no other entity is reported

    refused = target.cli_inprocess("apply", path, *dsn)
    assert refused.code == 3, refused.text
    assert refused.error.startswith("seedc: drift: the tenant's data differs"), refused.text
    assert f"[rule drift.outside-plan: {DRIFT_RULE}]" in refused.error
    for entity in ("customers", "transactions", "categories"):
        assert f"  - {entity}: " in refused.error

    reset = target.cli("reset", path, *dsn)
    assert reset.code == 2  # no --yes: a usage error, nothing deleted
    assert target.counts(plan)["app.customers"] == n["customers"]
    reset = target.cli("reset", path, *dsn, "--yes")
    assert reset.code == 0, reset.text
    assert f"app.categories: {n['categories'] + 1} row(s) deleted" in reset.out
    assert f"seedc.checkpoints: {len(plan['batches'])} row(s) deleted" in reset.out
    assert target.counts(plan) == dict.fromkeys(counts, 0)
    assert "reset" in [e for e, _, _ in target.audit(plan)]

    again = target.cli_inprocess("apply", path, *dsn)
    assert again.code == 0, again.text
    assert again.out.startswith("SUCCEEDED: wrote "), again.out
    assert target.counts(plan) == counts
    assert target.cli_inprocess("diff", path, *dsn).code == 0


@pytest.mark.parametrize("tamper", [_change, _delete, _insert], ids=["changed", "deleted",
                                                                     "inserted"])
def test_any_drift_refuses_apply_although_every_batch_is_checkpointed(
        target: Target, plan: dict[str, Any],
        tamper: Callable[[Target, dict[str, Any]], tuple[str, str]]) -> None:
    target.apply(plan)
    assert len(target.checkpoints(plan)) == len(plan["batches"])
    entity, _ = tamper(target, plan)
    refusal = target.apply_error(plan)
    assert isinstance(refusal, GuardRefused)
    assert refusal.exit_code == ExitCode.REFUSED
    assert refusal.rule == DRIFT_RULE
    assert [d.split(":")[0] for d in refusal.details] == [entity]


def test_dry_run_of_a_load_plan_leaves_the_existing_dataset_alone(
        target: Target, tmp_path: Path) -> None:
    load = ("mode: baseline ", "mode: load ")
    current = compile_variant(tmp_path / "v1", [load])
    bigger = compile_variant(tmp_path / "v2", [load, ("customers:     {count: 40",
                                                      "customers:     {count: 41")])
    assert target.apply(current).status == "succeeded"
    before = target.counts(current)

    preview = target.apply(bigger, ApplyOptions(dry_run=True))
    assert preview.status == "succeeded"
    assert preview.rows_written == bigger["estimate"]["rows"]
    assert target.counts(current) == before  # a dry run writes nothing, deletes nothing
