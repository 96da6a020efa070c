"""kill -9 of `seedc apply` in every phase of a load run, then a re-run to completion.

Each phase is reached deterministically (support.py): preflight blocked on a lock of
app.schema_migrations, the slot queue with both slots held, the lease wait with the tenant's
lock held, the purge and individual batches stopped by a trap inside their transaction,
verification blocked on the last table it reads, the evidence index blocked on its table.
Expected (issue 10): exit -9; nothing of the killed batch committed; no process of the run
left (the generation worker dies with its parent); the re-run completes and the database
equals a clean run; no run left `running`; the maintenance flag clear.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from seedc.runtime.lease import SLOT_CLASS, lock_key
from tests.faults.support import (
    BackgroundLock,
    CliRun,
    Outcome,
    Trap,
    apply_args,
    batch_index,
    checkpoint_count,
    finish,
    locked,
    tagged_processes,
    wait_until,
    waiting,
)
from tests.runtime_support import Target, hold_slots, hold_tenant_lock

pytestmark = pytest.mark.faults

Gate = Callable[[CliRun], None]


def _queued(admin: str, environment: str) -> bool:
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM seedc.queue WHERE environment = %s",
                           (environment,)).fetchone()
    return bool(row and row[0])


def _holds_slot(admin: str, environment: str) -> bool:
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = "
            "'seedc-control' AND l.classid = %s::bigint::text::oid AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            (lock_key(SLOT_CLASS, environment) & 0xFFFFFFFF,)).fetchone()
    return bool(row and row[0])


def _queued_lock(admin: str, table: str) -> bool:
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND "
                           "mode = 'AccessExclusiveLock' AND NOT granted", (table,)).fetchone()
    return bool(row and row[0])


@contextlib.contextmanager
def reach(phase: str, t: Target, plan: dict[str, Any]) -> Iterator[tuple[Gate, int | None]]:
    """Set up what stops the run in `phase`; yield (wait until it is there, checkpoints the
    database must hold at that moment, or None when there is no fixed number)."""
    admin, env = t.admin_dsn, plan["environment"]
    total = len(plan["batches"])
    with contextlib.ExitStack() as stack:
        if phase == "preflight":
            stack.enter_context(locked(admin, "app.schema_migrations"))
            yield (lambda run: wait_until(lambda: waiting(admin, "seedc-control", "relation"),
                                          "preflight blocked", alive=run.alive)), 0
        elif phase == "slot":
            stack.enter_context(hold_slots(admin, env))
            yield (lambda run: wait_until(lambda: _queued(admin, env), "queued for a slot",
                                          alive=run.alive)), 0
        elif phase == "lease":
            stack.enter_context(hold_tenant_lock(admin, plan, "faults-suite:holder"))
            yield (lambda run: wait_until(lambda: _holds_slot(admin, env),
                                          "slot taken, waiting for the lease",
                                          alive=run.alive)), 0
        elif phase == "purge":
            trap = stack.enter_context(Trap(admin, plan["entities"][-1]["table"], "DELETE"))
            yield (lambda run: wait_until(trap.sprung, "purge trapped", alive=run.alive)), 0
        elif phase.startswith("batch-"):
            number = total if phase == "batch-last" else int(phase.split("-")[1])
            batch = plan["batches"][number - 1]
            before = sum(b["row_count"] for b in plan["batches"][:number - 1]
                         if b["table"] == batch["table"])
            trap = stack.enter_context(Trap(admin, batch["table"], "INSERT", before))
            yield (lambda run: wait_until(trap.sprung, f"batch {number} trapped",
                                          alive=run.alive)), number - 1
        elif phase == "verify":
            last = plan["batches"][-1]["table"]
            before = sum(b["row_count"] for b in plan["batches"][:-1] if b["table"] == last)
            assert last == plan["entities"][-1]["table"]  # the table verification reads last
            trap = stack.enter_context(Trap(admin, last, "INSERT", before))

            def gate(run: CliRun) -> None:
                wait_until(trap.sprung, "last batch trapped", alive=run.alive)
                blocker = BackgroundLock(admin, last)
                stack.callback(blocker.close)
                blocker.start()  # queues behind the batch's own lock on the table
                wait_until(lambda: _queued_lock(admin, last), "lock queued")
                trap.release()  # the last batch commits; verification then waits on `last`
                wait_until(lambda: blocker.granted.is_set()
                           and waiting(admin, "seedc-apply", "relation"),
                           "verification blocked", alive=run.alive)

            yield gate, total
        elif phase == "evidence":
            stack.enter_context(locked(admin, "seedc.evidence"))
            yield (lambda run: wait_until(lambda: waiting(admin, "seedc-control", "relation"),
                                          "evidence index blocked", timeout=60,
                                          alive=run.alive)), total
        else:
            raise AssertionError(phase)


#: batch-2 is the first batch after one committed, batch-4 the first after three, batch-15 the
#: third of five transactions batches (its table already holds rows of this run), batch-last
#: the 19th; "verify" and "evidence" come after every batch committed.
PHASES = ["preflight", "slot", "lease", "purge", "batch-2", "batch-4", "batch-15",
          "batch-last", "verify", "evidence"]


@pytest.mark.parametrize("phase", PHASES)
def test_kill_9_in_every_phase_then_a_rerun_restores_the_clean_dataset(
        phase: str, ft: Target, load_plan: dict[str, Any], plan_path: Path,
        reference: dict[str, str]) -> None:
    assert batch_index(load_plan, "app.transactions", 3) == 15
    outcome = Outcome(f"kill -9: {phase}", -9)
    with reach(phase, ft, load_plan) as (gate, expected_checkpoints):
        run = CliRun(apply_args(plan_path, ft.apply_dsn), ft.tmp)
        try:
            gate(run)
            workers = [p for p in tagged_processes(run.tag)
                       if not p.startswith(f"{run.proc.pid} ")]
            code = run.kill9()
        finally:
            run.close()
        if phase.startswith("batch-") or phase == "verify":
            # the path under test: batches regenerated by a spawned worker process, which
            # must die with the run (support.finish looks for it afterwards)
            outcome.check("a generation worker ran", bool(workers), "no worker process")
        # measured while the trap still holds the killed batch: nothing of it committed
        if expected_checkpoints is not None:
            got = checkpoint_count(ft.admin_dsn, load_plan)
            outcome.note = f"{got} checkpoints at the kill"
            # the run's own log agrees with the database (an independent account)
            logged = run.events["batch.written"]
            outcome.check("batch.written events = checkpoints", logged == got,
                          f"{logged} events, {got} checkpoints")
            outcome.check("checkpoints at the kill", got == expected_checkpoints,
                          f"expected {expected_checkpoints}, got {got}")
    finish(outcome, ft, load_plan, plan_path, reference, run, code)
