"""`seedc apply PLAN --join`: extra writers for the active run of the same plan and tenant.

The first process coordinates (slot, lease, maintenance flag, verification, evidence); a
joiner only drains the run's work table with its own writers under worker leases, proving in
every batch that the coordinator still holds the tenant lease. It exits 0 when the run
succeeds, 4 when it ends otherwise, and waits up to `--lease-wait` for a run to join.
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import suppress
from typing import Any

import psycopg

from seedc.errors import InvalidInput, RuntimeFailure, SeedcError
from seedc.runtime.access import require_pipeline_identity
from seedc.runtime.apply import ApplyOptions, BatchReport, _write_with_retries, audit_row
from seedc.runtime.db import connect, set_tenant
from seedc.runtime.keys import KeyProvider
from seedc.runtime.lease import TENANT_CLASS, LeaseProof, assert_lease, lock_key
from seedc.runtime.payload import Payload
from seedc.runtime.writers import PoolSettings, run_pool

__all__ = ["JOIN_RULE", "check_workers_mode", "join_run"]

JOIN_RULE = "a joiner joins a running coordinator (issue 13)"

_FIND = ("SELECT r.run_id::text, r.backend_pid FROM seedc.runs r WHERE r.plan_hash = %s AND "
         "r.tenant_id = %s AND r.environment = %s AND r.status = 'running' AND NOT r.dry_run "
         "AND EXISTS (SELECT 1 FROM seedc.work_items w WHERE w.run_id = r.run_id) "
         "ORDER BY r.started_at DESC LIMIT 1")


def check_workers_mode(plan: dict[str, Any], workers: int, join: bool, dry_run: bool) -> None:
    """Baseline stays sequential (spec); a dry run is one rolled-back transaction."""
    if plan["mode"] == "baseline" and (workers > 1 or join):
        raise InvalidInput("baseline mode is applied sequentially: --workers must be 1 and "
                           "--join is not allowed (spec sessions 7, 8)")
    if join and dry_run:
        raise InvalidInput("--join cannot be combined with --dry-run")


def join_run(plan: dict[str, Any], dsn: str, keys: KeyProvider,
             options: ApplyOptions) -> dict[str, Any]:
    written: list[int] = []
    with connect(dsn, autocommit=True, application="seedc-join") as conn:
        # a joiner writes like apply: outside isolated dev only as the pipeline (issue 15)
        identity = require_pipeline_identity(conn, plan, keys, None, None, spend=False)
        key = keys.fetch(plan)
        set_tenant(conn, plan["tenant_id"], local=False)
        deadline = time.monotonic() + options.lease.lease_wait_s
        while True:
            row = conn.execute(_FIND, (plan["plan_hash"], plan["tenant_id"],
                                       plan["environment"])).fetchone()
            if row is not None:
                break
            if time.monotonic() >= deadline:
                raise RuntimeFailure(
                    f"no active run of plan {plan['plan_hash'][:19]}… for tenant "
                    f"{plan['tenant']} to join after {options.lease.lease_wait_s:g} s",
                    rule=JOIN_RULE)
            time.sleep(options.lease.poll_s)
        run_id, pid = row
        env, tenant_id = plan["environment"], plan["tenant_id"]
        proof = LeaseProof(tenant_id, env, run_id, pid,
                           (lock_key(TENANT_CLASS, env), lock_key(TENANT_CLASS, tenant_id)))

        def write(c: Any, batch: dict[str, Any], payload: Payload, item: Any) -> None:
            _write_with_retries(c, plan, batch, payload, run_id, False, proof, item)

        def audit(event: str, **detail: Any) -> None:
            """The joiner's part in the run's audit trail: who joined, what it wrote."""
            audit_row(conn, run_id, plan["tenant"], env, event, JOIN_RULE,
                      {"host": socket.gethostname(), "pid": os.getpid(), **detail})

        audit("join.start", identity=identity.describe(), writers=options.writers)
        try:
            _pool(plan, dsn, key.key, run_id, proof, options, write, written)
        except SeedcError as exc:
            with suppress(psycopg.Error):  # the database may be what failed: keep the cause
                audit("join.stopped", reason=exc.message, batches=len(written),
                      rows_written=sum(written))
            raise
        audit("join.end", batches=len(written), rows_written=sum(written))
        budget = plan["guards"]["budget"]["max_seconds"] + options.lease.lease_ttl_s
        deadline = time.monotonic() + budget
        status = "running"
        while status == "running" and time.monotonic() < deadline:
            got = conn.execute("SELECT status FROM seedc.runs WHERE run_id = %s",
                               (run_id,)).fetchone()
            status = got[0] if got else "missing"
            if status == "running":
                assert_lease(conn, proof, lock_row=False)  # the coordinator is still there
                time.sleep(options.lease.poll_s)
    result = {"run_id": run_id, "status": status, "rows_written": sum(written),
              "batches": len(written)}
    if status != "succeeded":
        raise RuntimeFailure(f"joined run {run_id} ended {status}",
                             rule="a joiner exits 4 when the run fails (issue 13)")
    return result


def _pool(plan: dict[str, Any], dsn: str, key: bytes, run_id: str, proof: LeaseProof,
          options: ApplyOptions, write: Any, written: list[int]) -> None:
    run_pool(PoolSettings(
        plan=plan, dsn=dsn, key=key, run_id=run_id, proof=proof,
        writers=options.writers, role="joiner", worker_ttl_s=options.worker_ttl_s,
        write=write, on_written=lambda item, p: written.append(p.rows),
        new_item=lambda b, p: BatchReport(b["id"], b["entity"], p.rows, "written"),
        poll_s=min(0.2, options.lease.poll_s), now=options.now,
        lease_floor_s=options.lease.lease_ttl_s / 2))
