"""A run killed with SIGKILL in the middle of a batch, then re-applied, ends exactly like a clean
apply: row for row, with every batch checkpointed exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The example with batches of 20 rows: many batches, several of them transactions."""
    plan = compile_variant(tmp_path_factory.mktemp("batched"),
                           [("mode: baseline ", "batch_size: 20\nmode: baseline ")])
    assert sum(b["entity"] == "transactions" for b in plan["batches"]) > 1
    return plan


def test_sigkill_mid_batch_then_reapply_equals_a_clean_apply(
        target: Target, plan: dict[str, Any], pg_admin_dsn: str, tmp_path: Path) -> None:
    path = target.plan_file(plan)
    ids = [b["id"] for b in plan["batches"]]
    first_txn = next(i for i, b in enumerate(plan["batches"]) if b["entity"] == "transactions")

    # EXCLUSIVE on app.transactions lets the run read (drift check) and write every batch
    # before transactions, then blocks its first transactions batch inside the INSERT.
    with table_locked(target.admin_dsn, "app.transactions") as lock, \
            start_cli(["apply", str(path), "--dsn", target.apply_dsn], target.tmp) as child:
        wait_for(lambda: waiting_on_lock(target.admin_dsn), what="the run blocked in a batch",
                 alive=child.alive)
        before_kill = target.checkpoints(plan)
        assert [b for b, _ in before_kill] == sorted(ids[:first_txn])
        child.kill()  # SIGKILL: no finally, no rollback from the client side
        assert child.proc.returncode == -9
        lock.rollback()
    for application in ("seedc-apply", "seedc-control", "seedc-heartbeat"):
        wait_for(lambda app=application: backends(target.admin_dsn, app) == 0,
                 what=f"the killed run's {application} session to end")

    # the interrupted batch left nothing: only the committed batches are there
    assert target.checkpoints(plan) == before_kill
    assert target.counts(plan)["app.transactions"] == 0
    killed_run = {run for _, run in before_kill}
    assert len(killed_run) == 1

    resumed = target.cli("apply", str(path), "--dsn", target.apply_dsn, "--json")
    assert resumed.code == 0, resumed.text
    report = json.loads(resumed.out)
    assert report["status"] == "succeeded"
    assert [b["status"] for b in report["batches"]] == (
        ["skipped"] * first_txn + ["written"] * (len(ids) - first_txn))

    marks = target.checkpoints(plan)
    assert [b for b, _ in marks] == sorted(ids)  # every batch, exactly once
    assert {run for b, run in marks if b in ids[:first_txn]} == killed_run
    assert {run for b, run in marks if b in ids[first_txn:]} == {report["run_id"]}
    assert target.counts(plan) == planned_counts(plan)
    assert target.scalar("SELECT count(*) FROM seedc.maintenance") == 0
    assert target.scalar("SELECT count(*) FROM seedc.leases") == 0

    with second_target(pg_admin_dsn, tmp_path / "clean", key_from=target.env_file) as clean:
        assert clean.apply(plan).status == "succeeded"
        expected = table_dump(clean.admin_dsn, plan)
    got = table_dump(target.admin_dsn, plan)
    for table in expected:
        assert got[table] == expected[table], f"{table} differs from a clean apply"
