"""Faults on the way to the database while a load run writes: a terminated backend, a frozen
network path, a table lock that never goes away, a storm of conflicting transactions.

The run is caught by a trap when it starts the first transactions batch (batch 13 of 19, twelve
committed), the fault is injected, the trap released; one more lock is held from the start so
that the purge (the first write of a load run) meets it. Expected (issue 10): connection loss and
a lock that outlives the bounded retries stop the run with exit 4 and a clear message, a frozen
network within 30 s, never a hang or a traceback; a serialization storm is retried with backoff
and the run succeeds. Then the common checks (support.finish).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import IsolationLevel, errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.faults.support import (
    FROZEN_LIMIT,
    CliRun,
    FreezableProxy,
    Outcome,
    Trap,
    apply_args,
    batch_index,
    checkpoint_count,
    finish,
    locked,
    terminate,
    wait_until,
)
from tests.runtime_support import Target

pytestmark = pytest.mark.faults

#: Seconds the writer stays trapped after a connection is terminated: longer than the lease
#: heartbeat's renewal interval, so the runtime has had the chance to notice (issue 10 item 2).
NOTICE_S = 4.0
#: Seconds the storm of conflicting transactions lasts once the writer goes on.
STORM_S = 0.5


def _exit_within(run: CliRun, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while run.running and time.monotonic() < deadline:
        time.sleep(0.05)


def _first_transactions_trap(t: Target, plan: dict[str, Any]) -> Trap:
    assert batch_index(plan, "app.transactions") == 13
    return Trap(t.admin_dsn, "app.transactions", "INSERT", 0)


@pytest.mark.parametrize("application", ["seedc-control", "seedc-apply", "seedc-heartbeat"])
def test_a_terminated_connection_stops_the_run_with_exit_4(
        application: str, ft: Target, load_plan: dict[str, Any], plan_path: Path,
        reference: dict[str, str]) -> None:
    outcome = Outcome(f"pg_terminate_backend {application}", 4)
    with _first_transactions_trap(ft, load_plan) as trap:
        run = CliRun(apply_args(plan_path, ft.apply_dsn), ft.tmp)
        try:
            wait_until(trap.sprung, "batch 13 trapped", alive=run.alive)
            terminated = terminate(ft.admin_dsn, application)
            at = time.monotonic()
            outcome.check("backend found and terminated", terminated >= 1, f"{terminated}")
            _exit_within(run, NOTICE_S)
            trap.release()
            code = run.wait()
            outcome.note = f"exit {time.monotonic() - at:.1f} s after the termination"
        finally:
            run.close()
    outcome.check("a one-line error names the failure", "seedc: " in run.text,
                  run.text[-800:])
    finish(outcome, ft, load_plan, plan_path, reference, run, code)


def test_a_frozen_network_path_fails_the_run_within_seconds(
        ft: Target, load_plan: dict[str, Any], plan_path: Path,
        reference: dict[str, str]) -> None:
    outcome = Outcome("frozen network path (proxy drops bytes)", 4)
    params = conninfo_to_dict(ft.apply_dsn)
    proxy = FreezableProxy((str(params.get("host") or "127.0.0.1"),
                            int(params.get("port") or 5432)))
    proxied = make_conninfo("", **{**params, "host": "127.0.0.1", "port": str(proxy.port)})
    try:
        with _first_transactions_trap(ft, load_plan) as trap:
            run = CliRun(apply_args(plan_path, proxied), ft.tmp)
            try:
                wait_until(trap.sprung, "batch 13 trapped", alive=run.alive)
                proxy.freeze()
                frozen_at = time.monotonic()
                trap.release()
                _exit_within(run, FROZEN_LIMIT)
                waited = time.monotonic() - frozen_at
                outcome.note = f"exit {waited:.1f} s after the freeze"
                outcome.check(f"exits within {FROZEN_LIMIT:g} s of the freeze",
                              not run.running, f"still running after {waited:.1f} s (killed)")
                code = run.wait(1) if not run.running else run.kill9()
            finally:
                run.close()
                # the server's side sees EOF: the run's backends end and free the table
                # locks the trap's trigger needs dropped
                proxy.close()
    finally:
        proxy.close()
    finish(outcome, ft, load_plan, plan_path, reference, run, code)


def test_a_table_lock_held_past_the_retries_stops_the_run_with_exit_4(
        ft: Target, load_plan: dict[str, Any], plan_path: Path,
        reference: dict[str, str]) -> None:
    outcome = Outcome("ACCESS EXCLUSIVE lock held on app.loans", 4)
    loans = batch_index(load_plan, "app.loans")
    with _first_transactions_trap(ft, load_plan) as trap:
        run = CliRun(apply_args(plan_path, ft.apply_dsn), ft.tmp)
        try:
            wait_until(trap.sprung, "batch 13 trapped", alive=run.alive)
            with locked(ft.admin_dsn, "app.loans"):
                trap.release()
                code = run.wait(60)
                kept = checkpoint_count(ft.admin_dsn, load_plan)
        finally:
            run.close()
    outcome.note = f"{kept} checkpoints kept"
    outcome.check("batches before the locked table committed", kept == loans - 1,
                  f"{kept} checkpoints, expected {loans - 1}")
    outcome.check("the message names the bounded retries", "retries" in run.text,
                  run.text[-800:])
    finish(outcome, ft, load_plan, plan_path, reference, run, code)


def test_a_table_lock_held_during_the_purge_fails_the_run_not_hangs_it(
        ft: Target, load_plan: dict[str, Any], plan_path: Path,
        reference: dict[str, str]) -> None:
    """The purge (load re-creates its dataset, session 7) meets the lock first: it must give
    up after the mode's lock timeout (session 5), exit 4 — or 3, refused before any write."""
    first = load_plan["entities"][-1]["table"]  # children first: the first table purged
    outcome = Outcome(f"ACCESS EXCLUSIVE lock held on {first} from the start", 4, also=3)
    limit = load_plan["guards"]["timeouts"]["lock_ms"] / 1000 + 10
    with locked(ft.admin_dsn, first):
        run = CliRun(apply_args(plan_path, ft.apply_dsn), ft.tmp)
        try:
            _exit_within(run, limit)
            outcome.note = f"exit within {run.seconds:.1f} s" if not run.running else \
                f"still waiting after {run.seconds:.1f} s (killed)"
            outcome.check(f"exits within lock_ms + 10 s ({limit:g} s)", not run.running,
                          outcome.note)
            code = run.wait(1) if not run.running else run.kill9()
        finally:
            run.close()
    outcome.check("nothing written", checkpoint_count(ft.admin_dsn, load_plan) == 0, "")
    finish(outcome, ft, load_plan, plan_path, reference, run, code)


class Storm:
    """Threads of SERIALIZABLE transactions that read the table seedc writes and update rows
    it reads through foreign keys: each overlapping batch is a pivot and fails with 40001."""

    def __init__(self, admin_dsn: str, plan: dict[str, Any], threads: int = 2) -> None:
        self.admin_dsn, self.plan = admin_dsn, plan
        self.stop = threading.Event()
        self.commits = 0
        self.failures = 0
        self.threads = [threading.Thread(target=self._loop, daemon=True)
                        for _ in range(threads)]

    def _loop(self) -> None:
        with psycopg.connect(self.admin_dsn) as conn:
            conn.isolation_level = IsolationLevel.SERIALIZABLE
            while not self.stop.is_set():
                try:
                    with conn.transaction():
                        conn.execute("SELECT count(*) FROM app.transactions")
                        conn.execute("UPDATE app.bank_accounts SET status = status WHERE id = "
                                     "(SELECT id FROM app.bank_accounts WHERE tenant_id = %s "
                                     "ORDER BY random() LIMIT 1)", (self.plan["tenant_id"],))
                    self.commits += 1
                except errors.SerializationFailure:
                    self.failures += 1

    def __enter__(self) -> Storm:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)


def test_a_serialization_storm_is_retried_and_the_run_succeeds(
        ft: Target, load_plan: dict[str, Any], plan_path: Path,
        reference: dict[str, str]) -> None:
    outcome = Outcome(f"serialization storm ({STORM_S:g} s, 2 threads)", 0)
    with _first_transactions_trap(ft, load_plan) as trap:
        run = CliRun(apply_args(plan_path, ft.apply_dsn), ft.tmp)
        try:
            wait_until(trap.sprung, "batch 13 trapped", alive=run.alive)
            with Storm(ft.admin_dsn, load_plan) as storm:
                trap.release()
                time.sleep(STORM_S)
            code = run.wait()
        finally:
            run.close()
    retries = sum(int(b.get("retries", 0)) for b in run.report().get("batches", []))
    outcome.check("the storm committed while the run wrote", storm.commits > 0,
                  f"{storm.commits} commits, {storm.failures} failures")
    outcome.check("40001 retried by the run", retries >= 1, f"{retries} retries")
    outcome.note = f"{retries} retries; storm {storm.commits} commits, {storm.failures} 40001"
    finish(outcome, ft, load_plan, plan_path, reference, run, code)
