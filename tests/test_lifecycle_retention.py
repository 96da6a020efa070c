"""Checkpoint retention (session 17; issue 14): kept until the next successful reseed of the
tenant, never over 30 days. Ages are set on the checkpoint rows themselves (the database's
clock stamps them), so no test waits."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from seedc.compiler.pipeline import compile_manifest
from seedc.errors import ExitCode, GuardRefused
from seedc.runtime.ttl_purge import PurgeOptions, purge_expired
from tests.manifests import REPO
from tests.runtime_support import Target, compile_variant, planned_counts, prepared_target

LOAD_EDITS = [
    ("mode: baseline", "mode: load"),
    ("canary: {enabled: false}",
     "canary: {enabled: false}\nstates:\n"
     "  customers: {active: 0.7, blocked: 0.1, defaulted: 0.1, closed: 0.1}"),
]


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


def _age(target: Target, plan: dict[str, Any], days: int) -> int:
    return target.execute("UPDATE seedc.checkpoints SET created_at = created_at - "
                          "make_interval(days => %s) WHERE tenant_id = %s",
                          (days, plan["tenant_id"]))


def _now(target: Target) -> datetime:
    now: datetime = target.scalar("SELECT clock_timestamp()")
    return now


def test_purge_expired_removes_checkpoints_older_than_30_days_only(
        target: Target, plan: dict[str, Any]) -> None:
    globex = compile_manifest(REPO / "manifests" / "dev" / "globex.yaml")
    target.apply(plan)
    target.apply(globex)
    batches = len(plan["batches"])
    assert _age(target, plan, 31) == batches
    assert _age(target, globex, 29) == len(globex["batches"])
    dry = purge_expired(target.apply_dsn, "dev", PurgeOptions(now=_now(target), dry_run=True))
    assert dry.checkpoints_removed == {"acme": batches}
    assert len(target.checkpoints(plan)) == batches
    summary = purge_expired(target.apply_dsn, "dev", PurgeOptions(now=_now(target)))
    assert summary.checkpoints_removed == {"acme": batches}
    assert summary.exit_code == 0
    assert target.checkpoints(plan) == []
    assert len(target.checkpoints(globex)) == len(globex["batches"])
    # the data itself stays: retention is about checkpoints, TTL about datasets
    assert target.counts(plan) == planned_counts(plan)
    events = [e for e, _, _ in target.audit(plan)]
    assert "checkpoints.expired" in events


def test_a_reseed_removes_the_previous_runs_checkpoints(target: Target,
                                                        tmp_path: Path) -> None:
    first = compile_variant(tmp_path / "a", LOAD_EDITS)
    second = compile_variant(tmp_path / "b", [
        *LOAD_EDITS, ("transactions:  {count: 200", "transactions:  {count: 190")])
    old = target.apply(first)
    assert {run for _, run in target.checkpoints(first)} == {old.run_id}
    new = target.apply(second)
    assert new.status == "succeeded"
    assert {run for _, run in target.checkpoints(second)} == {new.run_id}
    assert len(target.checkpoints(second)) == len(second["batches"])


def test_a_resume_past_the_30_days_is_refused_with_nothing_written(
        target: Target, plan: dict[str, Any]) -> None:
    target.apply(plan)
    _age(target, plan, 31)
    before = target.checkpoints(plan)
    error = target.apply_error(plan)
    assert isinstance(error, GuardRefused)
    assert error.exit_code == ExitCode.REFUSED
    assert "past the 30-day retention" in error.message
    assert "seedc reset PLAN" in error.message
    assert error.rule is not None
    assert "30 days" in error.rule
    assert target.checkpoints(plan) == before
    assert target.counts(plan) == planned_counts(plan)
    assert target.runs(plan)[-1] == ("refused", False, 0)


def test_checkpoints_within_30_days_still_resume(target: Target,
                                                 plan: dict[str, Any]) -> None:
    target.apply(plan)
    _age(target, plan, 29)
    assert target.apply(plan).status == "noop"


def test_reset_forgets_the_dataset_so_no_ttl_purge_follows(target: Target,
                                                           tmp_path: Path) -> None:
    plan = compile_variant(tmp_path, LOAD_EDITS)
    target.apply(plan)
    assert target.scalar("SELECT mode FROM seedc.datasets WHERE tenant_id = %s",
                         (plan["tenant_id"],)) == "load"
    result = target.cli_inprocess("reset", str(target.plan_file(plan)), "--dsn",
                                  target.apply_dsn, "--yes")
    assert result.code == 0, result.text
    assert target.checkpoints(plan) == []
    assert target.scalar("SELECT count(*) FROM seedc.datasets") == 0
    far = _now(target).replace(year=_now(target).year + 1)
    assert purge_expired(target.apply_dsn, "dev", PurgeOptions(now=far)).datasets == []
