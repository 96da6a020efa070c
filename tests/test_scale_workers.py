"""`seedc apply --workers N` and `--join` on real PostgreSQL (issue 13).

The plan is dev/acme in load mode with 24,000 transactions (~24.4k rows, regenerated at apply
from the program, so each writer's payload builder is a child interpreter). Every parallel
apply must leave exactly the rows a 1-worker apply leaves (same key, table dumps equal).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from seedc.compiler.pipeline import compile_manifest
from seedc.runtime.apply import ApplyOptions
from tests.manifests import variant
from tests.runtime_support import (
    Target,
    compile_variant,
    planned_counts,
    prepared_target,
    second_target,
    start_cli,
    table_dump,
    wait_for,
)

LOAD_EDITS = [
    ("mode: baseline ", "mode: load     "),
    ("transactions:  {count: 200, cap: 500}", "transactions:  {count: 24000, cap: 30000}"),
    ("max_rows: 2000, max_bytes: 2000000", "max_rows: 40000, max_bytes: 20000000"),
]


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return compile_manifest(variant(tmp_path_factory.mktemp("scale"), LOAD_EDITS))


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def reference(plan: dict[str, Any], pg_admin_dsn: str,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, bytes]]]:
    """A 1-worker apply's table dumps and the key it used (shared by the tests)."""
    tmp = tmp_path_factory.mktemp("reference")
    with second_target(pg_admin_dsn, tmp) as ref:
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("CI", raising=False)
            mp.delenv("VAULT_ADDR", raising=False)
            ref.apply(plan)
        yield ref.env_file, table_dump(ref.admin_dsn, plan)


def _keyed(target: Target, key_file: Path) -> Target:
    target.env_file.write_bytes(key_file.read_bytes())
    return target


def _work_rows(target: Target, run_id: str) -> list[tuple[str, str | None, bool]]:
    with psycopg.connect(target.admin_dsn, autocommit=True) as conn:
        return [(r[0], r[1], r[2]) for r in conn.execute(
            "SELECT batch_id, claimed_by, done_at IS NOT NULL FROM seedc.work_items "
            "WHERE run_id = %s ORDER BY ord", (run_id,))]


@pytest.mark.parametrize("writers", [2, 4])
def test_n_writers_leave_exactly_the_rows_of_one(
        target: Target, plan: dict[str, Any], reference: tuple[Path, dict[str, bytes]],
        writers: int) -> None:
    key_file, expected = reference
    _keyed(target, key_file)
    report = target.apply(plan, ApplyOptions(writers=writers))
    assert report.status == "succeeded"
    assert report.rows_written == sum(b["row_count"] for b in plan["batches"])
    assert target.counts(plan) == planned_counts(plan)
    assert table_dump(target.admin_dsn, plan) == expected
    work = _work_rows(target, report.run_id)
    assert len(work) == len(plan["batches"])
    assert all(done for _, _, done in work)
    assert len({claimer for _, claimer, _ in work}) > 1  # more than one writer took batches
    assert len(target.checkpoints(plan)) == len(plan["batches"])


def test_baseline_refuses_workers_before_anything(target: Target) -> None:
    from tests.runtime_support import acme_plan

    plan = acme_plan()
    path = target.plan_file(plan)
    result = target.cli("apply", str(path), "--dsn", target.apply_dsn, "--workers", "2")
    assert result.code == 2, result.text
    assert "baseline mode is applied sequentially" in result.error
    assert target.scalar("SELECT count(*) FROM seedc.runs") == 0
    assert sum(target.counts(plan).values()) == 0


def test_joined_processes_and_kill_9_of_a_joiner_reclaims_its_batch(
        target: Target, plan: dict[str, Any], reference: tuple[Path, dict[str, bytes]]) -> None:
    """A coordinator (2 writers) and a joiner (1 writer) in two processes; the joiner is
    killed with -9 while it holds a claim: the coordinator reclaims the batch once the
    joiner's worker lease lapses, and the tables end exactly as a 1-worker apply leaves them."""
    key_file, expected = reference
    _keyed(target, key_file)
    path = target.plan_file(plan)
    env = {"SEEDC_WORKERS": "1"}
    with start_cli(["apply", str(path), "--dsn", target.apply_dsn, "--workers", "2",
                    "--worker-ttl", "3", "--json"], cwd=target.tmp, env=env) as coordinator, \
            start_cli(["apply", str(path), "--dsn", target.apply_dsn, "--join", "--workers",
                       "1", "--worker-ttl", "3"], cwd=target.tmp, env=env) as joiner:

        def joiner_holds_claim() -> bool:
            return bool(target.scalar(
                "SELECT count(*) FROM seedc.work_items i JOIN seedc.work_workers w ON "
                "w.run_id = i.run_id AND w.worker_id = i.claimed_by WHERE w.role = 'joiner' "
                "AND i.done_at IS NULL"))

        wait_for(joiner_holds_claim, timeout=60, alive=joiner.alive)
        claimed = target.scalar(
            "SELECT array_agg(i.batch_id) FROM seedc.work_items i JOIN seedc.work_workers w ON "
            "w.run_id = i.run_id AND w.worker_id = i.claimed_by WHERE w.role = 'joiner' AND "
            "i.done_at IS NULL")
        joiner.proc.send_signal(signal.SIGKILL)
        joiner.proc.wait(timeout=10)
        # a claimed batch the joiner committed in the instant before the kill is not reclaimed
        committed = {b for b, _ in target.checkpoints(plan)}
        result = coordinator.finish(timeout=180)
    assert result.code == 0, result.text
    out = json.loads(result.out)
    assert out["status"] == "succeeded"
    assert table_dump(target.admin_dsn, plan) == expected
    # the killed joiner's claimed batches were done by a coordinator writer
    rows = _work_rows(target, out["run_id"])
    done_by = {b: c for b, c, _ in rows}
    assert claimed
    assert all(done for _, _, done in rows)
    with psycopg.connect(target.admin_dsn, autocommit=True) as conn:
        coordinator_ids = {r[0] for r in conn.execute(
            "SELECT worker_id FROM seedc.work_workers WHERE role = 'coordinator'")}
    reclaimed = [b for b in claimed if b not in committed]
    assert all(done_by[b] in coordinator_ids for b in reclaimed)
    assert len(target.checkpoints(plan)) == len(plan["batches"])


def test_a_joiner_without_a_run_waits_then_exits_4(target: Target,
                                                    plan: dict[str, Any]) -> None:
    path = target.plan_file(plan)
    t0 = time.monotonic()
    result = target.cli("apply", str(path), "--dsn", target.apply_dsn, "--join",
                        "--lease-wait", "1")
    assert result.code == 4, result.text
    assert "no active run of plan" in result.error
    assert time.monotonic() - t0 >= 1
    assert sum(target.counts(plan).values()) == 0


def test_two_processes_joined_give_exactly_the_plan_rows(
        target: Target, plan: dict[str, Any], reference: tuple[Path, dict[str, bytes]]) -> None:
    key_file, expected = reference
    _keyed(target, key_file)
    path = target.plan_file(plan)
    env = {"SEEDC_WORKERS": "1"}
    with start_cli(["apply", str(path), "--dsn", target.apply_dsn, "--workers", "2",
                    "--json"], cwd=target.tmp, env=env) as coordinator, \
            start_cli(["apply", str(path), "--dsn", target.apply_dsn, "--join", "--workers",
                       "2", "--json"], cwd=target.tmp, env=env) as joiner:
        done = coordinator.finish(timeout=180)
        joined = joiner.finish(timeout=60)
    assert done.code == 0, done.text
    assert joined.code == 0, joined.text
    out, extra = json.loads(done.out), json.loads(joined.out)
    assert extra["run_id"] == out["run_id"]
    assert extra["status"] == "succeeded"
    assert extra["batches"] >= 1  # the joiner did write part of the run
    assert out["rows_written"] == sum(b["row_count"] for b in plan["batches"])
    assert table_dump(target.admin_dsn, plan) == expected
    assert len(target.checkpoints(plan)) == len(plan["batches"])
    # four writers at most: the second process had room for exactly two
    assert target.scalar("SELECT count(*) FROM seedc.work_workers WHERE run_id = %s",
                         (out["run_id"],)) == 4
    # the joiner's part is in the run's audit trail: who joined and what it wrote
    with psycopg.connect(target.admin_dsn, autocommit=True) as conn:
        joins = conn.execute(
            "SELECT event, detail FROM seedc.audit WHERE run_id = %s AND event LIKE 'join.%%' "
            "ORDER BY id", (out["run_id"],)).fetchall()
    assert [e for e, _ in joins] == ["join.start", "join.end"]
    assert joins[0][1]["identity"].startswith("isolated dev: database role ")
    assert joins[1][1]["batches"] == extra["batches"]
    assert joins[1][1]["rows_written"] == extra["rows_written"]


def test_a_fifth_writer_is_refused_and_a_joiner_exits_4_when_the_run_dies(
        target: Target, tmp_path: Path) -> None:
    """4 writers (coordinator) leave no room: a joiner is refused (exit 3) writing nothing.
    Then the coordinator is killed with -9: a joiner already in the run loses the proof of
    the tenant lease in its next batch and exits 4. The plan is paced at 2,000 rows/s (~12 s
    a run), so a run cannot finish before the joiner comes and the kill lands."""
    plan = compile_manifest(variant(tmp_path / "slow", [
        *LOAD_EDITS, ("target_rows_per_second: 5000", "target_rows_per_second: 2000")]))
    path = target.plan_file(plan)
    env = {"SEEDC_WORKERS": "1"}
    with start_cli(["apply", str(path), "--dsn", target.apply_dsn, "--workers", "4"],
                   cwd=target.tmp, env=env) as coordinator:
        wait_for(lambda: target.scalar("SELECT count(*) FROM seedc.work_workers") == 4,
                 timeout=60, alive=coordinator.alive)
        refused = target.cli("apply", str(path), "--dsn", target.apply_dsn, "--join",
                             env=env)
        assert refused.code == 3, refused.text
        assert "already has 4 live writers" in refused.error
        assert target.scalar("SELECT count(*) FROM seedc.work_workers WHERE role = 'joiner'") \
            == 0
        coordinator.finish(timeout=180)
    assert target.scalar("SELECT status FROM seedc.runs") == "succeeded"
    target.execute("DELETE FROM seedc.checkpoints")  # so that the next run writes again
    with start_cli(["apply", str(path), "--dsn", target.apply_dsn, "--workers", "2"],
                   cwd=target.tmp, env=env) as coordinator, \
            start_cli(["apply", str(path), "--dsn", target.apply_dsn, "--join"],
                      cwd=target.tmp, env=env) as joiner:
        wait_for(lambda: target.scalar(
            "SELECT count(*) FROM seedc.work_workers w JOIN seedc.runs r USING (run_id) "
            "WHERE w.role = 'joiner' AND r.status = 'running'"), timeout=60,
            alive=joiner.alive)
        coordinator.proc.send_signal(signal.SIGKILL)
        coordinator.proc.wait(timeout=10)
        result = joiner.finish(timeout=60)
    assert result.code == 4, result.text
    assert "tenant lease" in result.error, result.error



def test_a_joiner_outside_isolated_dev_needs_the_pipeline_identity(target: Target,
                                                                   tmp_path: Path) -> None:
    """Issue 15 on issue 13's --join: no Vault machine identity, not the pipeline role: the
    joiner is refused (exit 3) before it looks for a run, and writes nothing."""
    plan = compile_variant(tmp_path / "shared", [
        ("mode: baseline", "mode: load"),
        ("isolated_dev: true", "isolated_dev: false"),
        ("canary: {enabled: false}",
         "canary: {enabled: false}\nstates:\n"
         "  customers: {active: 0.7, blocked: 0.1, defaulted: 0.1, closed: 0.1}")])
    result = target.cli("apply", str(target.plan_file(plan)), "--dsn", target.apply_dsn,
                        "--join", "--lease-wait", "1")
    assert result.code == 3, result.text
    assert "pipeline" in result.error
    assert sum(target.counts(plan).values()) == 0
