"""Apply a plan: preflight, slot and lease, SERIALIZABLE batches with checkpoints, verify.

The order is the contract (DESIGN.md): every guard runs before the first data write, and any
refusal leaves an audit record and zero rows. Each batch commits its rows and its checkpoint in
one SERIALIZABLE transaction; a re-run skips checkpointed batches and stops at a divergent one.
`dry_run` takes the very same path inside one transaction that is rolled back.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import IsolationLevel, errors

from seedc.errors import GuardRefused, RuntimeFailure, SeedcError
from seedc.runtime.db import connect, set_tenant
from seedc.runtime.keys import KeyProvider
from seedc.runtime.lease import LeaseSettings, cluster_slot, tenant_lease
from seedc.runtime.payload import Payload
from seedc.runtime.prefetch import payloads
from seedc.runtime.preflight import CheckResult, run_preflight
from seedc.runtime.state import (
    EntityDigest,
    check_checkpoints,
    compare,
    database_digests,
    expected_digests,
    load_checkpoints,
    refuse_drift,
)

__all__ = ["ApplyOptions", "BatchReport", "RunReport", "apply_plan"]

RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected, errors.LockNotAvailable)


@dataclass
class ApplyOptions:
    dry_run: bool = False
    lease: LeaseSettings = field(default_factory=LeaseSettings)
    on_batch: Callable[[BatchReport, int, int], None] | None = None  # (report, done, total)
    workers: int | None = None  # generation workers for large plans; None = spare cores


@dataclass
class BatchReport:
    id: str
    entity: str
    rows: int
    status: str  # written | skipped | would-write
    retries: int = 0
    seconds: float = 0.0


@dataclass
class RunReport:
    run_id: str
    plan_hash: str
    tenant: str
    environment: str
    mode: str
    dry_run: bool
    status: str = "running"
    message: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    batches: list[BatchReport] = field(default_factory=list)
    rows_written: int = 0
    seconds: float = 0.0
    key_source: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "plan_hash": self.plan_hash, "tenant": self.tenant,
            "environment": self.environment, "mode": self.mode, "dry_run": self.dry_run,
            "status": self.status, "message": self.message,
            "rows_written": self.rows_written, "seconds": round(self.seconds, 3),
            "key_source": self.key_source,
            "checks": [{"name": c.name, "ok": c.ok, "rule": c.rule, "detail": c.detail}
                       for c in self.checks],
            "batches": [{"id": b.id, "entity": b.entity, "rows": b.rows, "status": b.status,
                         "retries": b.retries, "seconds": round(b.seconds, 3)}
                        for b in self.batches],
        }


class _Audit:
    """Audit records and the run row, written on their own autocommit connection."""

    def __init__(self, conn: psycopg.Connection, report: RunReport, tenant_id: str) -> None:
        self.conn, self.report, self.tenant_id = conn, report, tenant_id

    def event(self, event: str, rule: str | None = None, **detail: Any) -> None:
        self.conn.execute(
            "INSERT INTO seedc.audit (run_id, tenant, environment, event, rule, detail) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (self.report.run_id, self.report.tenant, self.report.environment, event, rule,
             json.dumps({"dry_run": self.report.dry_run, **detail}, sort_keys=True)))

    def start(self) -> None:
        r = self.report
        self.conn.execute(
            "INSERT INTO seedc.runs (run_id, plan_hash, tenant, tenant_id, environment, mode, "
            "dry_run, status) VALUES (%s, %s, %s, %s, %s, %s, %s, 'running')",
            (r.run_id, r.plan_hash, r.tenant, self.tenant_id, r.environment, r.mode, r.dry_run))

    def finish(self, status: str, detail: str) -> None:
        self.conn.execute(
            "UPDATE seedc.runs SET status = %s, detail = %s, rows_written = %s, "
            "finished_at = clock_timestamp() WHERE run_id = %s",
            (status, detail[:2000], self.report.rows_written, self.report.run_id))


def _backoff(plan: dict[str, Any], attempt: int) -> float:
    b = plan["guards"]["rate_limit"]["backoff"]
    ceiling = min(b["max_ms"], b["initial_ms"] * (2 ** attempt)) / 1000
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311  (jitter, not crypto)


def _write_batch(conn: psycopg.Connection, plan: dict[str, Any], batch: dict[str, Any],
                 payload: Payload, run_id: str, dry_run: bool) -> None:
    """Rows and checkpoint of one batch, in one transaction (a savepoint in a dry run)."""
    sql = batch["sql"]
    timeouts = plan["guards"]["timeouts"]
    with conn.transaction():
        conn.execute("SELECT set_config('statement_timeout', %s, true), "
                     "set_config('lock_timeout', %s, true)",
                     (str(timeouts["statement_ms"]), str(timeouts["lock_ms"])))
        conn.execute(sql["context"], {"tenant_id": plan["tenant_id"]})
        conn.execute(sql["stage"])
        conn.execute(sql["clear"])
        with conn.cursor() as cur:
            with cur.copy(sql["copy"]) as copy:
                copy.write(payload.copy)
            cur.execute(sql["insert"])
            if cur.rowcount != payload.rows:
                raise RuntimeFailure(f"batch {batch['id']}: inserted {cur.rowcount} rows, "
                                     f"expected {payload.rows}")
            if dry_run:
                return
            cur.execute(
                "INSERT INTO seedc.checkpoints (tenant_id, environment, batch_id, chain_hash, "
                "plan_hash, entity, row_count, resolved_digest, run_id) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (plan["tenant_id"], plan["environment"], batch["id"], batch["chain_hash"],
                 plan["plan_hash"], batch["entity"], payload.rows, f"{payload.digest:032x}",
                 run_id))
            if cur.rowcount != 1:
                raise RuntimeFailure(
                    f"batch {batch['id']}: its checkpoint already exists (written concurrently?)",
                    rule="checkpoint written with the data, exactly one row")


def _write_with_retries(conn: psycopg.Connection, plan: dict[str, Any], batch: dict[str, Any],
                        payload: Payload, run_id: str, dry_run: bool) -> int:
    """Retry serialization failures and lock timeouts with backoff and jitter, bounded."""
    limit = plan["guards"]["rate_limit"]["backoff"]["max_retries"]
    for attempt in range(limit + 1):
        try:
            _write_batch(conn, plan, batch, payload, run_id, dry_run)
            return attempt
        except RETRYABLE as exc:
            if attempt == limit:
                raise RuntimeFailure(
                    f"batch {batch['id']}: still failing after {limit} retries: "
                    f"{exc.diag.message_primary}", rule="bounded retries (session 19)") from None
            time.sleep(_backoff(plan, attempt))
        except psycopg.Error as exc:
            raise RuntimeFailure(
                f"batch {batch['id']} ({batch['table']}) failed and was rolled back: "
                f"{exc.diag.message_primary or type(exc).__name__}"
                + (f" ({exc.diag.message_detail})" if exc.diag.message_detail else ""),
                rule="each batch commits with its checkpoint or not at all; re-apply resumes "
                     "(session 4)") from None
    return limit


def _purge(conn: psycopg.Connection, plan: dict[str, Any], dry_run: bool) -> None:
    """Load/dr re-create their dataset: delete the tenant's rows (children first) and
    checkpoints, in one transaction (session 7)."""
    with conn.transaction():
        set_tenant(conn, plan["tenant_id"], local=True)
        for entity in reversed(plan["entities"]):
            conn.execute(entity["sql"]["purge"])
        if not dry_run:
            conn.execute("DELETE FROM seedc.checkpoints WHERE tenant_id = %s "
                         "AND environment = %s", (plan["tenant_id"], plan["environment"]))


@contextmanager
def _maintenance(conn: psycopg.Connection, plan: dict[str, Any], run_id: str,
                 dry_run: bool) -> Iterator[None]:
    """The tenant's maintenance flag, set for the run and cleared after it (session 16)."""
    if dry_run:
        yield
        return
    conn.execute("INSERT INTO seedc.maintenance (tenant_id, environment, run_id) VALUES "
                 "(%s, %s, %s) ON CONFLICT (tenant_id, environment) DO UPDATE SET run_id = "
                 "excluded.run_id, since = clock_timestamp()",
                 (plan["tenant_id"], plan["environment"], run_id))
    try:
        yield
    finally:
        conn.execute("DELETE FROM seedc.maintenance WHERE tenant_id = %s AND environment = %s",
                     (plan["tenant_id"], plan["environment"]))


def _verify(conn: psycopg.Connection, plan: dict[str, Any],
            expected: dict[str, EntityDigest], in_transaction: bool) -> None:
    """Every entity holds exactly the planned rows, read in one snapshot (session 18)."""
    snapshot = nullcontext() if in_transaction else conn.transaction()
    if not in_transaction:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
    try:
        with snapshot:
            set_tenant(conn, plan["tenant_id"], local=True)
            problems = compare(expected, database_digests(conn, plan))
    finally:
        if not in_transaction:
            conn.isolation_level = IsolationLevel.SERIALIZABLE
    if problems:
        raise RuntimeFailure("verification failed: the tables do not hold exactly the planned "
                             "rows", rule="verify on the primary in one snapshot (session 18)",
                             details=problems)


def apply_plan(plan: dict[str, Any], dsn: str, keys: KeyProvider,
               options: ApplyOptions | None = None) -> RunReport:
    """Apply a verified plan as the connecting role; raises SeedcError on refusal/failure."""
    options = options or ApplyOptions()
    started = time.monotonic()
    report = RunReport(str(uuid.uuid4()), plan["plan_hash"], plan["tenant"],
                       plan["environment"], plan["mode"], options.dry_run)
    control = connect(dsn, autocommit=True, application="seedc-control")
    work = connect(dsn, autocommit=False, application="seedc-apply")
    work.isolation_level = IsolationLevel.SERIALIZABLE
    audit = _Audit(control, report, plan["tenant_id"])
    try:
        audit.start()
        audit.event("start", plan_hash=plan["plan_hash"])
        _run(plan, dsn, keys, options, report, control, work, audit, started)
        audit.finish(report.status, report.message)
        audit.event(report.status, rows_written=report.rows_written)
        return report
    except SeedcError as exc:
        report.status = "refused" if isinstance(exc, GuardRefused) else "failed"
        report.message = exc.render()
        rule, message, details = exc.rule, exc.message, exc.details
        _safe(lambda: audit.finish(report.status, report.message))
        _safe(lambda: audit.event(report.status, rule, message=message, details=details))
        exc.report = report  # type: ignore[attr-defined]
        raise
    finally:
        report.seconds = time.monotonic() - started
        work.close()
        control.close()


def _safe(fn: Callable[[], None]) -> None:
    """Audit after a failure must not hide the failure itself."""
    with suppress(psycopg.Error):
        fn()


def _run(plan: dict[str, Any], dsn: str, keys: KeyProvider, options: ApplyOptions,
         report: RunReport, control: psycopg.Connection, work: psycopg.Connection,
         audit: _Audit, started: float) -> None:
    report.checks = run_preflight(control, plan)
    key = None
    try:
        key = keys.fetch(plan)
        report.key_source = key.source
        report.checks.append(CheckResult("key", "key version equals salt_version (sessions 1, "
                                         "3, 6)", True, f"key version {key.version} from "
                                         f"{key.source.split(':')[0]}"))
    except GuardRefused as exc:
        report.checks.append(CheckResult("key", exc.rule or "key", False, exc.message))
    failed = [c for c in report.checks if not c.ok]
    for check in report.checks:
        audit.event("preflight", check.rule, check=check.name, ok=check.ok, detail=check.detail)
    if failed:
        raise GuardRefused(f"preflight refused the run ({len(failed)} check(s) failed)",
                           rule="fail-closed preflight",
                           details=[f"{c.name}: {c.detail} [{c.rule}]" for c in failed])
    assert key is not None
    set_tenant(control, plan["tenant_id"], local=False)
    settings = options.lease
    with cluster_slot(control, plan["environment"], plan["tenant"], report.run_id, settings), \
            tenant_lease(control, dsn, plan["tenant_id"], plan["environment"], report.run_id,
                         settings) as heartbeat:
        checkpoints = load_checkpoints(control, plan["tenant_id"], plan["environment"])
        divergent = check_checkpoints(plan, checkpoints)
        resuming = bool(checkpoints) and not divergent
        recreate = plan["mode"] in ("load", "dr") and not resuming
        if divergent and not recreate:
            raise GuardRefused("checkpoints diverge from this plan; `seedc reset PLAN` and "
                               "re-apply (coordinated reseed)",
                               rule="divergent checkpoint is a hard stop (session 8)",
                               details=divergent)
        if recreate:
            _purge(work, plan, options.dry_run)
            audit.event("purge", "load/dr re-create their dataset (session 7)")
            checkpoints = {}
        else:
            with work.transaction():
                set_tenant(work, plan["tenant_id"], local=True)
                refuse_drift(compare(expected_digests(plan, checkpoints),
                                     database_digests(work, plan)))
        done = [b for b in plan["batches"] if b["id"] in checkpoints]
        if len(done) == len(plan["batches"]):
            report.status = "noop"
            report.message = "nothing to do: every batch is checkpointed and the data matches"
            report.batches = [BatchReport(b["id"], b["entity"], b["row_count"], "skipped")
                              for b in plan["batches"]]
            return
        with _maintenance(control, plan, report.run_id, options.dry_run):
            _batches(plan, options, report, work, checkpoints, key.key, heartbeat, started)
        report.status = "succeeded"
        report.message = (f"dry run: would write {report.rows_written} rows (rolled back)"
                          if options.dry_run else f"wrote {report.rows_written} rows")


def _batches(plan: dict[str, Any], options: ApplyOptions, report: RunReport,
             work: psycopg.Connection, checkpoints: dict[str, Any], key: bytes,
             heartbeat: Any, started: float) -> None:
    expected = expected_digests(plan, checkpoints)
    max_seconds = plan["guards"]["budget"]["max_seconds"]
    outer = work.transaction(force_rollback=True) if options.dry_run else nullcontext()
    total = len(plan["batches"])
    todo = [b for b in plan["batches"] if b["id"] not in checkpoints]
    with outer, payloads(plan, key, todo, options.workers) as built:
        for index, batch in enumerate(plan["batches"], start=1):
            if heartbeat.failed:
                raise RuntimeFailure(f"lease heartbeat failed: {heartbeat.failed}")
            if batch["id"] in checkpoints:
                item = BatchReport(batch["id"], batch["entity"], batch["row_count"], "skipped")
            else:
                t0 = time.monotonic()
                payload = next(built)
                retries = _write_with_retries(work, plan, batch, payload, report.run_id,
                                              options.dry_run)
                expected[batch["entity"]].add(payload.rows, payload.digest)
                report.rows_written += payload.rows
                item = BatchReport(batch["id"], batch["entity"], payload.rows,
                                   "would-write" if options.dry_run else "written", retries,
                                   time.monotonic() - t0)
            report.batches.append(item)
            if options.on_batch:
                options.on_batch(item, index, total)
            if time.monotonic() - started > max_seconds:
                raise GuardRefused(
                    f"budget exhausted: {max_seconds} s spent after batch {batch['id']}; "
                    "checkpoints keep what committed, adjust the manifest and resume",
                    rule="abort at 100% of budget (sessions 7, 16)")
        _verify(work, plan, expected, in_transaction=options.dry_run)
