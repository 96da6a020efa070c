"""Retries of a batch on real conflicts: a lock timeout and a genuine serialization failure
(SQLSTATE 40001) are retried with backoff and the run ends correct; retries are bounded."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import IsolationLevel, errors

import seedc.runtime.apply as apply_module
from seedc.errors import ExitCode, RuntimeFailure
from seedc.runtime.apply import RunReport
from tests.runtime_support import (
    Background,
    Target,
    acme_plan,
    compile_variant,
    planned_counts,
    table_locked,
    wait_for,
    waiting_on_lock,
)

LOCK_200MS = ("baseline: {statement_ms: 30000, lock_ms: 5000}",
              "baseline: {statement_ms: 30000, lock_ms: 200}")


@pytest.fixture
def failures(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, type[BaseException]]]:
    """(batch id, exception type) of every failed batch attempt, recorded by a spy."""
    seen: list[tuple[str, type[BaseException]]] = []
    real = apply_module._write_batch

    def spy(conn: psycopg.Connection, plan: dict[str, Any], batch: dict[str, Any],
            *args: Any) -> None:
        try:
            real(conn, plan, batch, *args)
        except Exception as exc:
            seen.append((batch["id"], type(exc)))
            raise

    monkeypatch.setattr(apply_module, "_write_batch", spy)
    return seen


def _first_transactions_batch(plan: dict[str, Any]) -> str:
    return next(b["id"] for b in plan["batches"] if b["entity"] == "transactions")


def _retried(report: RunReport) -> dict[str, int]:
    return {b.id: b.retries for b in report.batches if b.retries}


def test_a_lock_timeout_is_retried_and_the_run_ends_correct(
        target: Target, tmp_path: Path, failures: list[tuple[str, type[BaseException]]]) -> None:
    plan = compile_variant(tmp_path / "lock200", [LOCK_200MS])
    assert plan["guards"]["timeouts"]["lock_ms"] == 200
    batch = _first_transactions_batch(plan)
    with table_locked(target.admin_dsn, "app.transactions") as lock:
        run = Background(lambda: target.apply(plan))
        run.start()
        wait_for(lambda: waiting_on_lock(target.admin_dsn), what="the batch waiting for the lock",
                 alive=run.alive)
        time.sleep(0.5)  # > lock_ms: the first attempt has timed out by now
        lock.rollback()
        report = run.result()
    assert report.status == "succeeded"
    assert set(_retried(report)) == {batch}
    assert failures
    assert set(failures) == {(batch, errors.LockNotAvailable)}
    assert _retried(report)[batch] == len(failures)
    assert len(target.checkpoints(plan)) == len(plan["batches"])
    assert target.counts(plan) == planned_counts(plan)


def test_a_serialization_failure_is_retried_and_the_run_ends_correct(
        target: Target, failures: list[tuple[str, type[BaseException]]]) -> None:
    """A real rw-conflict cycle: while the batch writing transactions waits (its snapshot is
    taken), a SERIALIZABLE transaction reads app.transactions and updates the bank accounts the
    batch's foreign-key checks then read, and commits first. PostgreSQL cancels the batch with
    40001; the retry runs in a new snapshot and succeeds."""
    plan = acme_plan()
    batch = _first_transactions_batch(plan)
    with table_locked(target.admin_dsn, "app.transactions") as lock:
        run = Background(lambda: target.apply(plan))
        run.start()
        wait_for(lambda: waiting_on_lock(target.admin_dsn), what="the batch waiting for the lock",
                 alive=run.alive)
        with psycopg.connect(target.admin_dsn) as other:
            other.isolation_level = IsolationLevel.SERIALIZABLE
            other.execute("SELECT count(*) FROM app.transactions WHERE tenant_id = %s",
                          (plan["tenant_id"],))
            updated = other.execute("UPDATE app.bank_accounts SET status = status "
                                    "WHERE tenant_id = %s", (plan["tenant_id"],)).rowcount
            assert updated == planned_counts(plan)["app.bank_accounts"]
            other.commit()
        lock.rollback()
        report = run.result()
    assert report.status == "succeeded"
    assert failures == [(batch, errors.SerializationFailure)]
    assert _retried(report) == {batch: 1}
    assert len(target.checkpoints(plan)) == len(plan["batches"])
    assert target.counts(plan) == planned_counts(plan)


def test_retries_are_bounded_and_a_failed_batch_leaves_no_rows(
        target: Target, tmp_path: Path, failures: list[tuple[str, type[BaseException]]]) -> None:
    plan = compile_variant(tmp_path / "noretry",
                           [LOCK_200MS, ("max_retries: 5", "max_retries: 1")])
    batch = _first_transactions_batch(plan)
    with table_locked(target.admin_dsn, "app.transactions"):
        failure = target.apply_error(plan)
    assert isinstance(failure, RuntimeFailure)
    assert failure.exit_code == ExitCode.RUNTIME_FAILURE
    assert failure.message.startswith(f"batch {batch}: still failing after 1 retries: ")
    assert failures == [(batch, errors.LockNotAvailable)] * 2
    ids = [b["id"] for b in plan["batches"]]
    assert [b for b, _ in target.checkpoints(plan)] == sorted(ids[:ids.index(batch)])
    assert target.counts(plan)["app.transactions"] == 0
    assert target.runs(plan)[-1][0] == "failed"
    assert target.scalar("SELECT count(*) FROM seedc.maintenance") == 0
