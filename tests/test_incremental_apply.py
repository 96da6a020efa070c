"""Incremental apply of a reviewed plan change (issue 12 part 2), on real PostgreSQL.

The oracle is a fresh database where NEW is applied from scratch: after the change, every table
must hold byte-for-byte the same rows (`COPY (SELECT * … ORDER BY id)`). "Exactly the delta" is
measured on the server: the rows whose `xmin` changed, appeared or vanished.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from seedc.errors import GuardRefused
from tests.runtime_support import (
    Target,
    backends,
    compile_variant,
    planned_counts,
    second_target,
    start_cli,
    table_dump,
    table_locked,
    wait_for,
    waiting_on_lock,
)

LINE = "customers:     {count: %d, cap: 100}"


def _customers(tmp: Path, count: int, extra: list[tuple[str, str]] | None = None
               ) -> dict[str, Any]:
    return compile_variant(tmp / f"c{count}-{len(extra or [])}",
                           [(LINE % 40, LINE % count), *(extra or [])])


def _versions(admin_dsn: str, plan: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Per table, id -> xmin: which rows a later write touched."""
    out = {}
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for entity in plan["entities"]:
            schema, table = entity["table"].split(".")
            rows = conn.execute(sql.SQL("SELECT id::text, xmin::text FROM {}").format(
                sql.Identifier(schema, table))).fetchall()
            out[entity["table"]] = dict(rows)
    return out


def _touched(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> int:
    total = 0
    for table, rows in after.items():
        old = before.get(table, {})
        total += sum(1 for k, v in rows.items() if old.get(k) != v)  # inserted or updated
        total += sum(1 for k in old if k not in rows)                # deleted
    return total


def _fresh_dump(pg_admin_dsn: str, tmp: Path, target: Target, plan: dict[str, Any]
                ) -> dict[str, bytes]:
    with second_target(pg_admin_dsn, tmp, key_from=target.env_file) as clean:
        assert clean.apply(plan).status == "succeeded"
        return table_dump(clean.admin_dsn, plan)


@pytest.mark.parametrize(("old_count", "new_count"), [(40, 45), (45, 40)])
def test_a_count_change_writes_exactly_the_delta_and_equals_a_fresh_apply(
        target: Target, pg_admin_dsn: str, tmp_path: Path, old_count: int,
        new_count: int) -> None:
    old, new = _customers(tmp_path, old_count), _customers(tmp_path, new_count)
    assert target.apply(old).status == "succeeded"
    before = _versions(target.admin_dsn, old)

    report = target.apply(new)

    assert report.status == "succeeded", report.message
    change = report.change
    assert change is not None
    assert (change["from_plan_hash"], change["to_plan_hash"]) == (old["plan_hash"],
                                                                  new["plan_hash"])
    totals = change["totals"]
    delta = totals["insert"] + totals["update"] + totals["delete"]
    assert report.rows_written == delta
    assert _touched(before, _versions(target.admin_dsn, new)) == delta  # nothing more written
    customers = change["entities"]["customers"]
    if new_count > old_count:
        assert (customers["insert"], customers["delete"]) == (5, 0)
        assert totals["delete"] == 0
    else:
        assert (customers["insert"], customers["delete"]) == (0, 5)
        assert totals["insert"] == 0
    assert delta < sum(planned_counts(new).values()) / 4  # a delta, not a reseed
    assert target.counts(new) == planned_counts(new)
    assert table_dump(target.admin_dsn, new) == _fresh_dump(pg_admin_dsn, tmp_path / "fresh",
                                                            target, new)
    # the database now holds NEW: its checkpoints, its stored plan; a re-run is a NOOP
    marks = target.checkpoints(new)
    assert [b for b, _ in marks] == sorted(b["id"] for b in new["batches"])
    assert target.scalar("SELECT count(*) FROM seedc.delta_checkpoints") == 0
    stored = target.scalar("SELECT count(*) FROM seedc.plans WHERE plan_hash = ANY(%s)",
                           ([old["plan_hash"], new["plan_hash"]],))
    assert stored == 2
    assert target.apply(new).status == "noop"
    after = target.cli("diff", str(target.plan_file(new)), "--dsn", target.apply_dsn)
    assert after.code == 0, after.text
    events = [e for e, _, _ in target.audit(new)]
    assert "change" in events


def test_dry_run_of_a_change_writes_nothing(target: Target, tmp_path: Path) -> None:
    old, new = _customers(tmp_path, 40), _customers(tmp_path, 45)
    target.apply(old)
    dump = table_dump(target.admin_dsn, old)
    path = target.plan_file(new)
    result = target.cli("apply", str(path), "--dsn", target.apply_dsn, "--dry-run", "--json")
    assert result.code == 0, result.text
    report = json.loads(result.out)
    assert report["change"]["totals"]["insert"] > 0
    assert "would write" in report["message"]
    assert table_dump(target.admin_dsn, old) == dump
    assert target.checkpoints(old)[0][0] in {b["id"] for b in old["batches"]}
    assert target.scalar("SELECT count(*) FROM seedc.plans WHERE plan_hash = %s",
                         (new["plan_hash"],)) == 0


def test_drift_before_a_change_refuses_with_zero_rows_written(
        target: Target, tmp_path: Path) -> None:
    old, new = _customers(tmp_path, 40), _customers(tmp_path, 45)
    target.apply(old)
    target.execute("UPDATE app.suppliers SET legal_name = 'edited by hand' WHERE id = "
                   "(SELECT min(id::text)::uuid FROM app.suppliers)")
    before = _versions(target.admin_dsn, old)
    result = target.cli("apply", str(target.plan_file(new)), "--dsn", target.apply_dsn)
    assert result.code == 3, result.text
    assert "drift" in result.error
    assert "suppliers" in result.error
    assert _touched(before, _versions(target.admin_dsn, new)) == 0
    assert target.scalar("SELECT count(*) FROM seedc.plans WHERE plan_hash = %s",
                         (new["plan_hash"],)) == 0


def test_a_reference_datetime_change_refuses_with_the_reseed_steps(
        target: Target, tmp_path: Path) -> None:
    old = _customers(tmp_path, 40)
    new = _customers(tmp_path, 40, [('reference_datetime: "2025-01-01T00:00:00Z"',
                                     'reference_datetime: "2025-02-01T00:00:00Z"')])
    target.apply(old)
    dump = table_dump(target.admin_dsn, old)
    path = target.plan_file(new)
    result = target.cli("apply", str(path), "--dsn", target.apply_dsn)
    assert result.code == 3, result.text
    assert "reference_datetime" in result.error
    assert f"seedc reset {path} --yes" in result.error
    assert "seedc reset" in result.error
    assert "seedc apply" in result.error
    assert "change.reseed" in result.error  # cites its rule by name
    assert table_dump(target.admin_dsn, old) == dump


def test_an_unstored_earlier_plan_refuses_and_says_to_reseed(target: Target,
                                                             tmp_path: Path) -> None:
    old, new = _customers(tmp_path, 40), _customers(tmp_path, 45)
    target.apply(old)
    target.execute("DELETE FROM seedc.plans")  # as if applied by a seedc before issue 12
    error = target.apply_error(new)
    assert isinstance(error, GuardRefused)
    assert "does not hold" in error.message
    assert any("seedc reset" in d for d in error.details)


def test_sigkill_during_a_change_then_rerun_gives_the_same_rows_written_once(
        target: Target, pg_admin_dsn: str, tmp_path: Path) -> None:
    old, new = _customers(tmp_path, 40), _customers(tmp_path, 45)
    target.apply(old)
    path = target.plan_file(new)
    # EXCLUSIVE on credit_limits lets the run read (drift check) and commit the steps before
    # it, then blocks the update step of credit_limits inside its statement.
    with table_locked(target.admin_dsn, "app.credit_limits") as lock, \
            start_cli(["apply", str(path), "--dsn", target.apply_dsn], target.tmp) as child:
        wait_for(lambda: waiting_on_lock(target.admin_dsn), what="the change blocked in a step",
                 alive=child.alive)
        done_before = target.scalar("SELECT count(*) FROM seedc.delta_checkpoints")
        assert done_before >= 2
        child.kill()
        lock.rollback()
    for application in ("seedc-apply", "seedc-control", "seedc-heartbeat"):
        wait_for(lambda app=application: backends(target.admin_dsn, app) == 0,
                 what=f"the killed run's {application} session to end")
    assert target.scalar("SELECT count(*) FROM seedc.delta_checkpoints") == done_before

    resumed = target.cli("apply", str(path), "--dsn", target.apply_dsn, "--json")
    assert resumed.code == 0, resumed.text
    report = json.loads(resumed.out)
    statuses = [b["status"] for b in report["batches"]]
    assert statuses.count("skipped") == done_before
    assert "written" in statuses
    assert target.scalar("SELECT count(*) FROM seedc.delta_checkpoints") == 0
    assert table_dump(target.admin_dsn, new) == _fresh_dump(pg_admin_dsn, tmp_path / "fresh",
                                                            target, new)


def test_diff_new_against_the_database_separates_the_change_from_drift(
        target: Target, tmp_path: Path) -> None:
    old, new = _customers(tmp_path, 40), _customers(tmp_path, 45)
    target.apply(old)
    path = target.plan_file(new)
    result = target.cli("diff", str(path), "--dsn", target.apply_dsn, "--json")
    assert result.code == 1, result.text
    report = json.loads(result.out)
    assert (report["pending"], report["drifted"]) == (True, False)
    assert report["from_plan_hash"] == old["plan_hash"]
    assert report["entities"]["customers"]["insert"] == 5
    assert report["entities"]["bank_accounts"]["update"] > 0
    text = target.cli("diff", str(path), "--dsn", target.apply_dsn)
    assert "customers: 5 to insert, 0 to update, 0 to delete" in text.out
    assert "Plan: " in text.out
    assert "no drift" in text.out

    # a hand edit: a row that matches neither plan is drift, reported apart from the change
    target.execute("UPDATE app.suppliers SET legal_name = 'edited by hand' WHERE id = "
                   "(SELECT min(id::text)::uuid FROM app.suppliers)")
    report = json.loads(target.cli("diff", str(path), "--dsn", target.apply_dsn, "--json").out)
    assert report["drifted"] is True
    assert len(report["entities"]["suppliers"]["drift_changed"]) == 1
    assert report["entities"]["customers"]["insert"] == 5

    # after the apply (drift fixed first), NEW is what the database holds: exit 0
    target.execute("DELETE FROM app.suppliers WHERE legal_name = 'edited by hand'")
    refused = target.cli("apply", str(path), "--dsn", target.apply_dsn)
    assert refused.code == 3, refused.text


def test_the_evidence_of_a_change_records_both_plans_and_the_delta(
        target: Target, tmp_path: Path) -> None:
    old, new = _customers(tmp_path, 40), _customers(tmp_path, 45)
    target.apply(old)
    report = target.apply(new)
    files = [p for p in (target.tmp / ".seedc" / "evidence").glob("*.json")
             if report.run_id in p.name]
    assert len(files) == 1
    body = json.loads(files[0].read_text(encoding="utf-8"))["report"]  # the signed body
    change = body["change"]
    assert change["from_plan_hash"] == old["plan_hash"]
    assert change["to_plan_hash"] == new["plan_hash"] == body["plan_hash"]
    assert change["totals"] == report.change["totals"]  # type: ignore[index]
    assert change["entities"]["customers"]["insert"] == 5


def test_a_damaged_stored_plan_refuses_and_writes_nothing(target: Target,
                                                          tmp_path: Path) -> None:
    old, new = _customers(tmp_path, 40), _customers(tmp_path, 45)
    target.apply(old)
    target.execute("UPDATE seedc.plans SET compressed = '\\x789c0300000000'::bytea")
    dump = table_dump(target.admin_dsn, old)
    result = target.cli("apply", str(target.plan_file(new)), "--dsn", target.apply_dsn)
    assert result.code == 3, result.text
    assert "damaged" in result.error
    assert table_dump(target.admin_dsn, old) == dump


def test_a_change_interrupted_towards_another_plan_must_be_finished_first(
        target: Target, tmp_path: Path) -> None:
    old, new = _customers(tmp_path, 40), _customers(tmp_path, 45)
    other = _customers(tmp_path, 42)
    target.apply(old)
    # an unfinished change towards `other`: one of its steps is checkpointed
    target.execute(
        "INSERT INTO seedc.delta_checkpoints (tenant_id, environment, from_plan_hash, "
        "to_plan_hash, step_id, entity, kind, row_count, run_id) VALUES (%s, 'dev', %s, %s, "
        "'x-00001-insert-customers', 'customers', 'insert', 2, gen_random_uuid())",
        (old["tenant_id"], old["plan_hash"], other["plan_hash"]))
    error = target.apply_error(new)
    assert isinstance(error, GuardRefused)
    assert "interrupted" in error.message
    assert target.counts(old) == planned_counts(old)


def test_the_applied_plan_is_retrievable_from_the_database(target: Target,
                                                            tmp_path: Path) -> None:
    old = _customers(tmp_path, 40)
    report = target.apply(old)
    out = tmp_path / "applied.plan.json"
    result = target.cli("runs", "--dsn", target.apply_dsn, "plan", report.run_id[:8],
                        "-o", str(out))
    assert result.code == 0, result.text
    assert json.loads(out.read_text(encoding="utf-8")) == old  # byte-exact plan, verified
    # an applied plan, byte for byte what was compiled: the diff against it is empty
    same = target.cli("diff", str(out), str(target.plan_file(old)))
    assert same.code == 0, same.text
    unknown = target.cli("runs", "--dsn", target.apply_dsn, "plan", "0000000000")
    assert unknown.code == 2, unknown.text


def test_an_outdated_control_schema_is_refused_before_any_write(target: Target,
                                                                 tmp_path: Path) -> None:
    plan = _customers(tmp_path, 40)
    target.execute("DROP TABLE seedc.plans")  # as if migration 0005 were not installed
    result = target.cli("apply", str(target.plan_file(plan)), "--dsn", target.apply_dsn)
    assert result.code == 3, result.text
    assert "control schema is outdated" in result.error
    assert "seedc.plans" in result.error
    assert sum(target.counts(plan).values()) == 0


def test_diff_of_a_breaking_change_says_apply_would_refuse_it(target: Target,
                                                              tmp_path: Path) -> None:
    old = _customers(tmp_path, 40)
    new = _customers(tmp_path, 40, [('reference_datetime: "2025-01-01T00:00:00Z"',
                                     'reference_datetime: "2025-02-01T00:00:00Z"')])
    target.apply(old)
    path = target.plan_file(new, "july.plan.json")
    result = target.cli("diff", str(path), "--dsn", target.apply_dsn)
    assert result.code == 1, result.text
    assert "cannot be applied as a change" in result.out
    assert "reference_datetime" in result.out
    assert f"seedc reset {path} --yes" in result.out  # the file as named, not a placeholder
    assert "to update" not in result.out
    report = json.loads(target.cli("diff", str(path), "--dsn", target.apply_dsn, "--json").out)
    assert report["breaking"]
    assert report["pending"] is True
