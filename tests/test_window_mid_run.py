"""A run that must stop mid-way stops after whole batches, exit 4, audited and resumable
(issue 13): when the off-peak window closes (sessions 8, 17) — sequential, parallel writers and
change steps — and when parallel writers spend the budget (sessions 7, 16).

The window is [now − 1 h, now + 1 h) UTC, so preflight (which reads the real clock) passes;
the run's `now` is then moved past the window's end after a given number of batch starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from seedc.errors import ExitCode, SeedcError
from seedc.runtime.apply import ApplyOptions
from seedc.runtime.window_guard import WINDOW_CLOSED_RULE, window_closed
from tests.runtime_support import (
    Target,
    audit_events,
    compile_variant,
    planned_counts,
    prepared_target,
)

LOAD = ("mode: baseline ", "mode: load     ")


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


def _window_edit() -> tuple[str, str]:
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)), (now + timedelta(hours=1))
    return ('window: {start_utc: "00:00", end_utc: "00:00"}',
            f'window: {{start_utc: "{start:%H:%M}", end_utc: "{end:%H:%M}"}}')


def _two_hour_window(tmp: Path) -> dict[str, Any]:
    return compile_variant(tmp, [LOAD, _window_edit()])


def _closing_after(starts: int) -> Callable[[], datetime]:
    """A clock inside the window for the first `starts` calls, then three hours later."""
    calls = 0
    lock = threading.Lock()

    def now() -> datetime:
        nonlocal calls
        with lock:
            calls += 1
            late = calls > starts
        return datetime.now(UTC) + (timedelta(hours=3) if late else timedelta())

    return now


def _checkpointed_rows(target: Target, plan: dict[str, Any]) -> dict[str, int]:
    with psycopg.connect(target.admin_dsn, autocommit=True) as conn:
        done = dict(conn.execute(
            "SELECT entity, sum(row_count)::int FROM seedc.checkpoints WHERE tenant_id = %s "
            "GROUP BY entity", (plan["tenant_id"],)).fetchall())
    return {e["table"]: done.get(e["name"], 0) for e in plan["entities"]}


def test_window_closed_names_the_window_and_is_none_inside_it() -> None:
    plan = {"guards": {"window": {"start_utc": "01:00", "end_utc": "05:00"}}}
    inside = datetime(2026, 12, 4, 4, 59, tzinfo=UTC)
    assert window_closed(plan, inside) is None
    message = window_closed(plan, inside + timedelta(minutes=1))
    assert message is not None
    assert "01:00–05:00 UTC closed (now 05:00 UTC)" in message


@pytest.mark.parametrize("writers", [1, 2])
def test_a_window_closing_mid_run_stops_after_whole_batches_with_exit_4_then_resumes(
        target: Target, tmp_path: Path, writers: int) -> None:
    plan = _two_hour_window(tmp_path / "window")
    assert len(plan["batches"]) > 6
    with pytest.raises(SeedcError) as raised:
        target.apply(plan, ApplyOptions(writers=writers, now=_closing_after(4)))
    exc = raised.value
    assert exc.exit_code == ExitCode.RUNTIME_FAILURE
    assert "window" in exc.message
    assert "closed" in exc.message
    assert "resume" in exc.message
    report = exc.report  # type: ignore[attr-defined]
    assert report.status == "aborted"
    assert target.scalar("SELECT status FROM seedc.runs WHERE run_id = %s",
                         (report.run_id,)) == "aborted"
    events = [(e, rule) for e, rule, run in audit_events(target.admin_dsn, plan["tenant"])
              if run == report.run_id]
    assert ("aborted", WINDOW_CLOSED_RULE) in events
    # some batches were written, not all, and never half of one
    written = len(target.checkpoints(plan))
    assert 0 < written <= 4
    if writers == 1:
        assert written == 4  # one window check per batch start
    assert target.counts(plan) == _checkpointed_rows(target, plan)
    # the next window: the same plan resumes from the checkpoints and completes
    again = target.apply(plan, ApplyOptions(writers=writers))
    assert again.status == "succeeded"
    assert sum(1 for b in again.batches if b.status == "skipped") == written
    assert target.counts(plan) == planned_counts(plan)


def test_a_plan_change_stops_before_its_first_step_once_the_window_has_closed(
        target: Target, tmp_path: Path) -> None:
    """The incremental path checks the window before each step too: a change started just
    as the window closes writes nothing, exits 4, and runs whole in the next window."""
    line = "customers:     {count: %d, cap: 100}"
    old = compile_variant(tmp_path / "old", [_window_edit()])
    new = compile_variant(tmp_path / "new", [_window_edit(), (line % 40, line % 45)])
    assert target.apply(old).status == "succeeded"
    before = target.counts(old)
    with pytest.raises(SeedcError) as raised:
        target.apply(new, ApplyOptions(now=_closing_after(0)))
    exc = raised.value
    assert exc.exit_code == ExitCode.RUNTIME_FAILURE
    assert "window" in exc.message
    assert target.counts(old) == before
    again = target.apply(new)
    assert again.status == "succeeded", again.message
    assert target.counts(new) == planned_counts(new)


def test_the_budget_spent_mid_run_stops_parallel_writers_after_whole_batches(
        target: Target, tmp_path: Path) -> None:
    """`--workers` keeps the budget rule of the sequential path: once `budget.max_seconds` is
    spent, no writer starts another batch; exit 4, audited, resumable (sessions 7, 16)."""
    plan = compile_variant(tmp_path / "budget", [LOAD])
    calls = 0
    lock = threading.Lock()

    def clock() -> float:  # the run's budget clock: 0 s for the first 6 reads, then a day
        nonlocal calls
        with lock:
            calls += 1
            return 0.0 if calls <= 6 else 86_400.0

    with pytest.raises(SeedcError) as raised:
        target.apply(plan, ApplyOptions(writers=2, clock=clock))
    exc = raised.value
    assert exc.exit_code == ExitCode.RUNTIME_FAILURE
    assert "budget exhausted" in exc.message
    report = exc.report  # type: ignore[attr-defined]
    events = [(e, rule) for e, rule, run in audit_events(target.admin_dsn, plan["tenant"])
              if run == report.run_id]
    assert ("aborted", "abort at 100% of budget (sessions 7, 16)") in events
    written = len(target.checkpoints(plan))
    assert 0 < written < len(plan["batches"])
    assert target.counts(plan) == _checkpointed_rows(target, plan)
    again = target.apply(plan, ApplyOptions(writers=2))
    assert again.status == "succeeded"
    assert target.counts(plan) == planned_counts(plan)
