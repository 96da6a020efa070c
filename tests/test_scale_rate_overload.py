"""The run's shared rate limit and its stop under persistent overload (issue 13), on real
PostgreSQL with dev/acme in load mode (622 rows, 15 batches, the largest 200 rows)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from seedc.errors import ExitCode, SeedcError
from seedc.runtime.apply import ApplyOptions
from seedc.runtime.rate_limit import WINDOW_S, earliest_start
from tests.runtime_support import (
    Target,
    audit_events,
    compile_variant,
    planned_counts,
    prepared_target,
)

LOAD = ("mode: baseline ", "mode: load     ")
CAP = 60  # rows per second: 300 rows per 5-s window, so 622 rows need more than 5 s


def _paced(tmp: Path) -> dict[str, Any]:
    return compile_variant(tmp, [LOAD, ("target_rows_per_second: 5000",
                                        f"target_rows_per_second: {CAP}"),
                                 ("cap_rows_per_second: 20000", f"cap_rows_per_second: {CAP}")])


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


def _ledger(target: Target, run_id: str) -> list[tuple[float, int]]:
    with psycopg.connect(target.admin_dsn, autocommit=True) as conn:
        return [(float(r[0]), int(r[1])) for r in conn.execute(
            "SELECT extract(epoch FROM at), row_count FROM seedc.rate_ledger WHERE run_id = %s "
            "ORDER BY at", (run_id,))]


def test_a_paced_run_never_exceeds_the_cap_over_any_5_second_window(
        target: Target, tmp_path: Path) -> None:
    plan = _paced(tmp_path / "paced")
    total = sum(b["row_count"] for b in plan["batches"])
    started = time.monotonic()
    report = target.apply(plan, ApplyOptions(writers=3))
    elapsed = time.monotonic() - started
    assert report.status == "succeeded"
    assert target.counts(plan) == planned_counts(plan)
    ledger = _ledger(target, report.run_id)
    assert sum(n for _, n in ledger) == total
    assert len(ledger) == len(plan["batches"])
    # the worst 5-s windows start at a reservation: check every one of them
    for start, _ in ledger:
        in_window = sum(n for at, n in ledger if start <= at < start + WINDOW_S)
        assert in_window <= CAP * WINDOW_S, (start, in_window)
    # and the measured wall-clock rate: 622 rows cannot start within the first window
    assert elapsed >= (total - CAP * WINDOW_S) / CAP
    assert ledger[-1][0] - ledger[0][0] >= WINDOW_S


@contextlib.contextmanager
def row_in_flight(admin_dsn: str, plan: dict[str, Any], entity: str) -> Iterator[None]:
    """Another transaction holds, uncommitted, a row with the primary key of the entity's first
    planned row: the batch's INSERT waits on it (a lock wait, bounded by lock_timeout) until
    this ends. A load run's purge is not blocked (it cannot see the uncommitted row), unlike
    with a table lock. Foreign-key triggers are off in that transaction only (superuser)."""
    batch = next(b for b in plan["batches"] if b["entity"] == entity)
    table = sql.Identifier(*batch["table"].split("."))
    with psycopg.connect(admin_dsn) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")
        with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
                table, sql.SQL(", ").join(map(sql.Identifier, batch["columns"])))) as copy:
            copy.write_row(batch["rows"][0])
        yield
        conn.rollback()


def test_persistent_lock_timeouts_stop_the_run_with_exit_4_audit_and_whole_batches(
        target: Target, tmp_path: Path) -> None:
    plan = compile_variant(tmp_path / "locked", [
        LOAD, ("load:     {statement_ms: 90000, lock_ms: 15000}",
               "load:     {statement_ms: 90000, lock_ms: 200}"),
        ("backoff: {initial_ms: 100, max_ms: 2000, max_retries: 5}",
         "backoff: {initial_ms: 50, max_ms: 200, max_retries: 2}")])
    with row_in_flight(target.admin_dsn, plan, "transactions"), \
            pytest.raises(SeedcError) as raised:
        target.apply(plan, ApplyOptions(writers=2))
    exc = raised.value
    assert exc.exit_code == ExitCode.RUNTIME_FAILURE
    assert "still failing after 2 retries" in exc.message
    assert "lock timeout" in exc.message
    assert "resume" in exc.message
    report = exc.report  # type: ignore[attr-defined]
    assert report.status == "aborted"
    events = [(e, rule) for e, rule, run in audit_events(target.admin_dsn, plan["tenant"])
              if run == report.run_id]
    assert ("aborted", "bounded retries (session 19)") in events
    counts = target.counts(plan)
    assert counts["app.transactions"] == 0
    # never half a batch: every table holds exactly its checkpointed batches' rows
    with psycopg.connect(target.admin_dsn, autocommit=True) as conn:
        done = dict(conn.execute(
            "SELECT entity, sum(row_count)::int FROM seedc.checkpoints WHERE tenant_id = %s "
            "GROUP BY entity", (plan["tenant_id"],)).fetchall())
    for entity in plan["entities"]:
        assert counts[entity["table"]] == done.get(entity["name"], 0), entity["name"]
    assert target.scalar("SELECT status FROM seedc.runs WHERE run_id = %s",
                         (report.run_id,)) == "aborted"
    # resumable: once the lock is gone the next run completes the dataset
    again = target.apply(plan, ApplyOptions(writers=2))
    assert again.status == "succeeded"
    assert target.counts(plan) == planned_counts(plan)


def _connection_limit(target: Target, limit: int) -> None:
    with psycopg.connect(target.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(
            sql.Identifier(target.role), sql.Literal(limit)))


def test_too_many_connections_back_off_then_stop_with_exit_4(
        target: Target, tmp_path: Path) -> None:
    """The apply role may open 5 connections: the coordinator's control, work and heartbeat
    connections, the writers' lease heartbeat and one writer's claim connection. Every other
    writer connection finds no slot (SQLSTATE 53300), backs off within the manifest's backoff,
    and the run stops with exit 4, audited, nothing of a batch written."""
    plan = compile_variant(tmp_path / "slots", [
        LOAD, ("backoff: {initial_ms: 100, max_ms: 2000, max_retries: 5}",
               "backoff: {initial_ms: 20, max_ms: 50, max_retries: 2}")])
    target.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT 5").format(
        sql.Identifier(target.role)).as_string(None))
    try:
        with pytest.raises(SeedcError) as raised:
            target.apply(plan, ApplyOptions(writers=2))
    finally:
        _connection_limit(target, -1)
    exc = raised.value
    assert exc.exit_code == ExitCode.RUNTIME_FAILURE
    assert "no connection slot for another writer after 2 retries" in exc.message
    report = exc.report  # type: ignore[attr-defined]
    assert report.status == "aborted"
    events = [(e, rule) for e, rule, run in audit_events(target.admin_dsn, plan["tenant"])
              if run == report.run_id]
    assert ("aborted",
            "overload backs off within the manifest's backoff, then stops (sessions 7, 19)") \
        in events
    assert sum(target.counts(plan).values()) == 0
    assert target.scalar("SELECT count(*) FROM seedc.checkpoints") == 0


def test_a_sequential_run_is_paced_too(target: Target, tmp_path: Path) -> None:
    """One writer keeps the same sliding log in memory: its batches start no faster than the
    cap allows, so 622 rows at 60 rows/s need more than (622 - 300) / 60 s."""
    plan = _paced(tmp_path / "paced1")
    total = sum(b["row_count"] for b in plan["batches"])
    started = time.monotonic()
    report = target.apply(plan)
    assert report.status == "succeeded"
    assert time.monotonic() - started >= (total - CAP * WINDOW_S) / CAP
    assert target.counts(plan) == planned_counts(plan)


def test_the_sliding_log_keeps_every_window_within_budget() -> None:
    entries: list[tuple[float, int]] = []
    for rows in [200, 100, 150, 50, 200, 120, 200]:
        entries.append((earliest_start(entries, 0.0, rows, 300.0), rows))
    for start, _ in entries:
        assert sum(n for at, n in entries if start <= at < start + WINDOW_S) <= 300
    assert [at for at, _ in entries] == [0.0, 0.0, 5.0, 5.0, 10.0, 15.0, 20.0]
