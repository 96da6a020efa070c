"""The coordinator's side of `seedc apply --workers N`: the work table drained by N writers.

Called by apply's `_run` in place of the sequential `_batches`, under the run's cluster slot,
tenant lease and maintenance flag. It fills the run's work table, runs the writer pool (joiners
on other pods may add writers), then checks every batch is checkpointed and verifies the whole
dataset on the primary in one snapshot, as the sequential path does. Any stop after writes
began is `RunStopped` (exit 4, resumable from the checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from seedc.errors import GuardRefused, SeedcError
from seedc.runtime.apply import (
    RESUME,
    ApplyOptions,
    BatchReport,
    RunReport,
    RunStopped,
    _verify,
    _write_with_retries,
)
from seedc.runtime.budget import Budget
from seedc.runtime.lease import Heartbeat
from seedc.runtime.payload import Payload
from seedc.runtime.rate_limit import check_pacing
from seedc.runtime.state import expected_digests, load_checkpoints
from seedc.runtime.telemetry import get_logger
from seedc.runtime.work_queue import populate
from seedc.runtime.writers import PoolSettings, run_pool

__all__ = ["parallel_batches"]

WORKERS_RULE = "2-4 parallel writers by entity under one lease (sessions 7, 8, 15)"


def parallel_batches(plan: dict[str, Any], dsn: str, options: ApplyOptions, report: RunReport,
                     work: psycopg.Connection, control: psycopg.Connection,
                     checkpoints: dict[str, Any], key: bytes, heartbeat: Heartbeat,
                     audit_event: Callable[..., None], work_started: float | None = None) -> None:
    todo = [b for b in plan["batches"] if b["id"] not in checkpoints]
    check_pacing(plan, todo)
    populate(control, plan, report.run_id, todo)
    audit_event("workers.start", WORKERS_RULE, writers=options.writers, batches=len(todo))
    log = get_logger("seedc.apply")
    mine: set[str] = set()
    budget = Budget(plan, options.clock,
                    options.clock() if work_started is None else work_started)

    def over_budget() -> str | None:
        """Asked by every writer before each batch (the sequential path asks after each)."""
        if not budget.exhausted():
            return None
        return (f"budget exhausted: {budget.max_seconds} s spent ({report.rows_written} rows "
                "written); no writer starts another batch")

    def write(conn: psycopg.Connection, batch: dict[str, Any], payload: Payload,
              item: Any) -> None:
        _write_with_retries(conn, plan, batch, payload, report.run_id, False, heartbeat.proof,
                            item)

    def on_written(item: BatchReport, payload: Payload) -> None:
        mine.add(item.id)
        report.batches.append(item)
        report.rows_written += payload.rows
        log.info("batch.written", entity=item.entity, rows=item.rows, retries=item.retries)
        if options.on_batch:
            options.on_batch(item, len(report.batches), len(plan["batches"]))

    settings = PoolSettings(
        plan=plan, dsn=dsn, key=key, run_id=report.run_id, proof=heartbeat.proof,
        writers=options.writers, role="coordinator", worker_ttl_s=options.worker_ttl_s,
        write=write, on_written=on_written,
        new_item=lambda b, p: BatchReport(b["id"], b["entity"], p.rows, "written"),
        run_failed=lambda: heartbeat.failed, now=options.now, over_budget=over_budget,
        poll_s=min(0.2, options.lease.poll_s),
        lease_floor_s=options.lease.lease_ttl_s / 2)
    try:
        run_pool(settings)
    except GuardRefused as exc:
        if report.rows_written:
            raise RunStopped(f"{exc.message}; the run is aborted; {RESUME}", rule=exc.rule,
                             details=exc.details) from None
        raise
    except SeedcError as exc:
        raise RunStopped(f"{exc.message}; other writers stopped after their current batch; "
                         f"the run is aborted; {RESUME}", rule=exc.rule or WORKERS_RULE,
                         details=exc.details) from None
    done = load_checkpoints(control, plan["tenant_id"], plan["environment"])
    missing = [b["id"] for b in todo if b["id"] not in done]
    if missing:
        raise RunStopped(f"{len(missing)} batch(es) not checkpointed after the writers "
                         f"finished; the run is aborted; {RESUME}", rule=WORKERS_RULE,
                         details=missing[:5])
    for batch in plan["batches"]:  # skipped (earlier runs) and joiners' batches
        if batch["id"] in mine:
            continue
        cp = done[batch["id"]]
        status = "skipped" if batch["id"] in checkpoints else "written"
        report.batches.append(BatchReport(batch["id"], batch["entity"], cp.row_count, status))
        if status == "written":
            report.rows_written += cp.row_count
    order = {b["id"]: i for i, b in enumerate(plan["batches"])}
    report.batches.sort(key=lambda b: order[b.id])
    _verify(work, plan, expected_digests(plan, done), in_transaction=False)
