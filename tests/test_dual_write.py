"""Expand/backfill dual-write and dual-read (issue 15 part 4, session 11), with the demo's real
expand migration (manifests/schema/0004_transactions_memo.sql: `memo` beside `description`):
compile emits both columns, apply writes both, apply refuses (exit 3, audited, nothing
written) and `diff --dsn` reports (exit 1) when they diverge; the contract phase drops the old
column and the plan diff shows exactly that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seedc.rules import rule_name
from seedc.runtime.dual_write import DUAL_WRITE_RULE
from tests.manifests import variant
from tests.runtime_support import (
    Target,
    acme_plan,
    compile_variant,
    planned_counts,
    prepared_target,
    row_versions,
    run_cli_inprocess,
    write_plan,
)

DESCRIPTION = 'description:     {type: text, expr: "words(\\"transaction_descriptions\\")",'
EXPAND = "                        expand: {column: memo, type: text, relation: copy}}"
MESSAGE = "expand/contract columns diverge"


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


def _transactions(plan: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in plan["entities"] if e["name"] == "transactions")


def _diverge_one_row(t: Target, plan: dict[str, Any]) -> None:
    """The application's old code path: it updates only the old column."""
    assert t.execute("UPDATE app.transactions SET description = 'edited by the old code' "
                     "WHERE id = (SELECT min(id::text)::uuid FROM app.transactions "
                     "WHERE tenant_id = %s)", (plan["tenant_id"],)) == 1


def test_compile_emits_both_columns_with_the_same_value() -> None:
    plan = acme_plan()
    entity = _transactions(plan)
    assert entity["pairs"] == [{"old": "description", "new": "memo"}]
    columns = entity["columns"]
    old, new = columns.index("description"), columns.index("memo")
    rows = [r for b in plan["batches"] if b["entity"] == "transactions" for r in b["rows"]]
    assert rows
    assert all(r[new] == r[old] and r[old] for r in rows)


def test_apply_writes_both_columns(target: Target) -> None:
    plan = acme_plan()
    assert target.apply(plan).status == "succeeded"
    total = planned_counts(plan)["app.transactions"]
    assert target.scalar("SELECT count(*) FROM app.transactions WHERE tenant_id = %s AND "
                         "memo IS NOT NULL AND memo = description", (plan["tenant_id"],)) == total


def test_diverging_columns_refuse_the_run_and_diff_reports_them(target: Target) -> None:
    plan = acme_plan()
    assert target.apply(plan).status == "succeeded"
    _diverge_one_row(target, plan)
    versions, marks = row_versions(target.admin_dsn, plan), target.checkpoints(plan)
    path = str(target.plan_file(plan))

    result = target.cli_inprocess("apply", path, "--dsn", target.apply_dsn)
    assert result.code == 3, result.text
    assert result.error.startswith(f"seedc: {MESSAGE}"), result.text
    assert f"[rule {rule_name(DUAL_WRITE_RULE)}: {DUAL_WRITE_RULE}]" in result.error
    assert "app.transactions: description and memo differ in 1 row(s)" in result.error
    assert row_versions(target.admin_dsn, plan) == versions  # nothing written
    assert target.checkpoints(plan) == marks
    assert [r for e, r, _ in target.audit(plan) if e == "refused"] == [DUAL_WRITE_RULE]
    assert [s for s, _, _ in target.runs(plan)] == ["succeeded", "refused"]

    diff = target.cli_inprocess("diff", path, "--dsn", target.apply_dsn)
    assert diff.code == 1, diff.text
    assert "pair diverges: app.transactions: description and memo differ in 1 row(s)" \
        in diff.err


def test_diff_is_clean_when_both_columns_agree(target: Target) -> None:
    plan = acme_plan()
    assert target.apply(plan).status == "succeeded"
    diff = target.cli_inprocess("diff", str(target.plan_file(plan)), "--dsn", target.apply_dsn)
    assert diff.code == 0, diff.text
    assert "pair diverges" not in diff.text


def test_the_contract_phase_drops_exactly_the_old_column(tmp_path: Path) -> None:
    expand = acme_plan()
    contract = compile_variant(tmp_path / "contract", model_edits=[
        # the old column stays only as the virtual source of the new one: its values (which
        # depend on the column's name) carry over unchanged, it is never written again
        (DESCRIPTION + "\n" + EXPAND,
         'description: {virtual: true, expr: "words(\\"transaction_descriptions\\")"}\n'
         '      memo:        {type: text, expr: "row.description"}')])
    old, new = _transactions(expand), _transactions(contract)
    assert "pairs" not in new
    assert [c for c in old["columns"] if c != "description"] == new["columns"]
    drop = old["columns"].index("description")
    before = [b for b in expand["batches"] if b["entity"] == "transactions"]
    after = [b for b in contract["batches"] if b["entity"] == "transactions"]
    assert [[r[:drop] + r[drop + 1:] for r in b["rows"]] for b in before] == \
        [b["rows"] for b in after]
    others = [(e["name"], e["columns"]) for e in expand["entities"] if e["name"] != "transactions"]
    assert others == [(e["name"], e["columns"]) for e in contract["entities"]
                      if e["name"] != "transactions"]
    assert [b["rows_digest"] for b in expand["batches"] if b["entity"] != "transactions"] == \
        [b["rows_digest"] for b in contract["batches"] if b["entity"] != "transactions"]

    path_old = write_plan(expand, tmp_path / "expand.json")
    path_new = write_plan(contract, tmp_path / "contract.json")
    result = run_cli_inprocess(["diff", str(path_old), str(path_new)], cwd=tmp_path)
    assert result.code == 1, result.text
    assert "transactions: 200 -> 200 rows (+0): 0 added, 0 removed, 200 changed" in result.out
    changes = [line.strip() for line in result.out.splitlines()
               if line.startswith("          ")]
    assert len(changes) == 200
    assert all(c.startswith("description: ") and c.endswith(" -> null") for c in changes)
    assert "memo" not in result.out  # the new column's values do not change
    assert "~ batch transactions-0001 (columns, sql, rows_digest, rows)" in result.out
    assert [line for line in result.out.splitlines() if line.startswith("  ~ batch")] == [
        "  ~ batch transactions-0001 (columns, sql, rows_digest, rows)"]


@pytest.mark.parametrize(("expand", "message"), [
    pytest.param("expand: {column: amount, type: text, relation: copy}}",
                 "'amount' is already a column", id="collides"),
    pytest.param("expand: {column: memo, type: blob, relation: copy}}", "blob", id="bad-type"),
    pytest.param("expand: {column: memo, type: text, relation: guess}}", "guess",
                 id="unknown-relation"),
])
def test_invalid_pairs_exit_2(tmp_path: Path, expand: str, message: str) -> None:
    path = variant(tmp_path, model_edits=[
        ("expand: {column: memo, type: text, relation: copy}}", expand)])
    result = run_cli_inprocess(["compile", str(path)], cwd=tmp_path)
    assert result.code == 2, result.text
    assert message in result.err, result.err
