"""Apply a plan: preflight, slot and lease, SERIALIZABLE batches with checkpoints, verify.

The order is the contract (DESIGN.md): every guard runs before the first data write, and any
refusal leaves an audit record and zero rows. Each batch commits its rows and its checkpoint in
one SERIALIZABLE transaction; a re-run skips checkpointed batches and stops at a divergent one.
`dry_run` takes the very same path inside one transaction that is rolled back.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import IsolationLevel, errors

from seedc.errors import GuardRefused, RuntimeFailure, SeedcError
from seedc.rules import rule_name
from seedc.runtime.abandoned import mark_abandoned
from seedc.runtime.access import access_check
from seedc.runtime.budget import BUDGET_RULE, Budget
from seedc.runtime.cache import invalidate_cache
from seedc.runtime.datasets import record_dataset
from seedc.runtime.db import connect, plan_rls_setting, set_tenant
from seedc.runtime.dual_write import refuse_diverging_pairs
from seedc.runtime.incremental import change_base
from seedc.runtime.keys import KeyProvider
from seedc.runtime.lease import (
    Heartbeat,
    LeaseProof,
    LeaseSettings,
    cluster_slot,
    quietly,
    tenant_lease,
)
from seedc.runtime.payload import Payload
from seedc.runtime.plan_store import store_plan
from seedc.runtime.prefetch import payloads
from seedc.runtime.preflight import PRIMARY_RULE, CheckResult, check_primary, run_preflight
from seedc.runtime.purge import purge_tenant
from seedc.runtime.retention import refuse_stale_resume
from seedc.runtime.schema_checks import unindexed_foreign_keys
from seedc.runtime.staging import stage_rows
from seedc.runtime.state import (
    EntityDigest,
    check_checkpoints,
    compare,
    database_digests,
    expected_digests,
    load_checkpoints,
    refuse_drift,
)
from seedc.runtime.telemetry import Telemetry, current_trace_ids, get_logger, setup_telemetry
from seedc.runtime.telemetry.redaction import redact, redact_text
from seedc.runtime.window_guard import WINDOW_CLOSED_RULE, utc_now, window_closed

__all__ = ["ApplyOptions", "BatchReport", "RunReport", "apply_plan"]

RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected, errors.LockNotAvailable,
             errors.QueryCanceled)  # a statement timeout is overload too (issue 13)
#: What a stop after writes began tells the operator (issue 10 item 6; session 4).
RESUME = "checkpointed batches stay; re-run `seedc apply PLAN` in the window to resume"


class RunStopped(RuntimeFailure):
    """A deliberate stop after writes began (budget, digest, verification, lost lease): the
    run is marked `aborted`, exit 4, resumable from its checkpoints (issue 10 item 6)."""


@dataclass
class EvidenceSink:
    """The WORM store and signer of the run's evidence report (seeds sessions 9, 14)."""

    store: Any
    signer: Any
    published: Any = None


@dataclass
class ApplyOptions:
    dry_run: bool = False
    lease: LeaseSettings = field(default_factory=LeaseSettings)
    on_batch: Callable[[BatchReport, int, int], None] | None = None  # (report, done, total)
    workers: int | None = None  # generation workers for large plans; None = spare cores
    # where the run's signed report goes (not on dry runs); a factory so that a store or
    # signer that cannot even be set up is a preflight failure with an audit record.
    # None: `evidence_factory(None, plan)` (environment and isolated-dev defaults).
    evidence: Callable[[], EvidenceSink] | None = None
    telemetry: Telemetry | None = None  # None: from the OTEL_* environment (off by default)
    clock: Callable[[], float] = time.monotonic  # the budget's clock (injectable in tests)
    plan_path: str | None = None  # the plan file as the user named it (for refusal hints)
    breakglass: str | None = None  # an approved breakglass ticket id, spent by this run (issue 15)
    writers: int = 1  # parallel batch writers (`--workers`, issue 13); 1 = the sequential path
    worker_ttl_s: int = 15  # a writer's lease: its batch is reclaimable once this lapses
    now: Callable[[], datetime] = utc_now  # wall clock for the window during the run (tests)


@dataclass
class BatchReport:
    id: str
    entity: str
    rows: int
    status: str  # written | skipped | would-write | failed
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
    key_version: int | None = None
    evidence: EvidenceSink | None = None  # set when the store passed its preflight check
    change: dict[str, Any] | None = None  # an incremental run: OLD and NEW hashes, delta counts

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "plan_hash": self.plan_hash, "tenant": self.tenant,
            "environment": self.environment, "mode": self.mode, "dry_run": self.dry_run,
            "status": self.status, "message": self.message,
            "rows_written": self.rows_written, "seconds": round(self.seconds, 3),
            "key_source": self.key_source, "change": self.change,
            "checks": [{"name": c.name, "ok": c.ok, "rule": c.rule, "detail": c.detail}
                       for c in self.checks],
            "batches": [{"id": b.id, "entity": b.entity, "rows": b.rows, "status": b.status,
                         "retries": b.retries, "seconds": round(b.seconds, 3)}
                        for b in self.batches],
        }


def _check_evidence(factory: Callable[[], EvidenceSink] | None, dry_run: bool
                    ) -> tuple[CheckResult, EvidenceSink | None]:
    rule = "evidence store writable before any data write (sessions 9, 14)"
    if dry_run:
        return CheckResult("evidence", rule, True, "dry run: no evidence is published "
                           "(session 7)"), None
    if factory is None:
        return CheckResult("evidence", rule, False, "no evidence store configured: set "
                           "--evidence or SEEDC_EVIDENCE_URI (s3://bucket/prefix or "
                           "file://path)"), None
    try:
        evidence = factory()
        evidence.store.check_writable()
        evidence.signer.check()
    except GuardRefused as exc:
        return CheckResult("evidence", rule, False, exc.message), None
    return CheckResult("evidence", rule, True,
                       f"store {evidence.store!r} writable, signer ready"), evidence


def audit_row(conn: psycopg.Connection, run_id: str, tenant: str, environment: str,
              event: str, rule: str | None, detail: dict[str, Any]) -> None:
    """One row of a run's audit trail, its detail redacted (a run's and a joiner's)."""
    conn.execute(
        "INSERT INTO seedc.audit (run_id, tenant, environment, event, rule, detail) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (run_id, tenant, environment, event, rule, json.dumps(redact(detail), sort_keys=True)))


class _Audit:
    """Audit records and the run row, written on their own autocommit connection.

    Every text it writes goes through `redact_text`: PostgreSQL's messages can quote row values
    (issue 9 item 7). After the control connection died, `conn` is replaced by a fresh one.
    """

    def __init__(self, conn: psycopg.Connection, report: RunReport, tenant_id: str,
                 lease_ttl: int) -> None:
        self.conn, self.report, self.tenant_id = conn, report, tenant_id
        self.lease_ttl = lease_ttl

    def event(self, event: str, rule: str | None = None, **detail: Any) -> None:
        r = self.report
        audit_row(self.conn, r.run_id, r.tenant, r.environment, event, rule,
                  {"dry_run": r.dry_run, **detail})

    def start(self) -> None:
        r = self.report
        self.conn.execute(
            "INSERT INTO seedc.runs (run_id, plan_hash, tenant, tenant_id, environment, mode, "
            "dry_run, status, lease_expires_at, backend_pid, backend_start) VALUES (%s, %s, %s, "
            "%s, %s, %s, %s, 'running', clock_timestamp() + make_interval(secs => %s), "
            "pg_backend_pid(), (SELECT backend_start FROM pg_stat_activity "
            "WHERE pid = pg_backend_pid()))",
            (r.run_id, r.plan_hash, r.tenant, self.tenant_id, r.environment, r.mode, r.dry_run,
             self.lease_ttl))

    def finish(self, status: str, detail: str) -> None:
        self.conn.execute(
            "UPDATE seedc.runs SET status = %s, detail = %s, rows_written = %s, "
            "finished_at = clock_timestamp() WHERE run_id = %s",
            (status, redact_text(detail)[:2000], self.report.rows_written, self.report.run_id))


def _backoff(plan: dict[str, Any], attempt: int) -> float:
    b = plan["guards"]["rate_limit"]["backoff"]
    ceiling = min(b["max_ms"], b["initial_ms"] * (2 ** attempt)) / 1000
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311  (jitter, not crypto)


def _write_batch(conn: psycopg.Connection, plan: dict[str, Any], batch: dict[str, Any],
                 payload: Payload, run_id: str, dry_run: bool, proof: LeaseProof | None) -> None:
    """Rows and checkpoint of one batch, in one transaction (a savepoint in a dry run).

    Its first statement proves the run still holds the tenant lease (row locked FOR SHARE), so
    a lapsed lease never commits a batch (issue 10 item 2).
    """
    sql = batch["sql"]
    with conn.transaction():
        stage_rows(conn, plan, sql, proof, not dry_run, payload.copy)
        with conn.cursor() as cur:
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


def _db_reason(exc: psycopg.Error) -> str:
    """PostgreSQL's reason without `message_detail` (which quotes row values, e.g. a CPF in a
    unique violation): the primary message, the constraint's name and the SQLSTATE only
    (issue 9 item 7)."""
    primary = exc.diag.message_primary or type(exc).__name__
    constraint = exc.diag.constraint_name
    reason = primary + (f" (constraint {constraint})" if constraint else "")
    return redact_text(reason) + (f" [SQLSTATE {exc.sqlstate}]" if exc.sqlstate else "")


def _write_with_retries(conn: psycopg.Connection, plan: dict[str, Any], batch: dict[str, Any],
                        payload: Payload, run_id: str, dry_run: bool, proof: LeaseProof | None,
                        item: BatchReport) -> None:
    """One batch, retried on serialization failures and lock timeouts (`with_retries`)."""
    with_retries(conn, plan, "batch " + batch["id"], batch["table"], item,
                 lambda: _write_batch(conn, plan, batch, payload, run_id, dry_run, proof))


def with_retries(conn: psycopg.Connection, plan: dict[str, Any], label: str, table: str,
                 item: BatchReport, write: Callable[[], None]) -> None:
    """Retry serialization failures and lock timeouts with backoff and jitter, bounded; each
    retry is logged (`batch.retry`) and counted in `item.retries` (session 19). `write` runs
    one whole transaction; any other database error is one RuntimeFailure naming `label`."""
    limit = plan["guards"]["rate_limit"]["backoff"]["max_retries"]
    log = get_logger("seedc.apply")
    for attempt in range(limit + 1):
        try:
            write()
            return
        except RETRYABLE as exc:
            if conn.broken:
                raise _connection_lost(label, exc) from None
            if attempt == limit:
                raise RuntimeFailure(
                    f"{label}: still failing after {limit} retries: "
                    f"{_db_reason(exc)} ({table}); {RESUME}",
                    rule="bounded retries (session 19)") from None
            wait = _backoff(plan, attempt)
            item.retries = attempt + 1
            log.warning("batch.retry", batch=item.id, attempt=attempt + 1,
                        wait_ms=int(wait * 1000), sqlstate=exc.sqlstate)
            time.sleep(wait)
        except psycopg.Error as exc:
            if conn.broken:
                raise _connection_lost(label, exc) from None
            raise RuntimeFailure(
                f"{label} ({table}) failed and was rolled back: "
                f"{_db_reason(exc)}; {RESUME}",
                rule="each batch commits with its checkpoint or not at all; re-apply resumes "
                     "(session 4)") from None


def _connection_lost(step: str, exc: BaseException) -> RuntimeFailure:
    """One clear message for a connection that died under the run (server restart, network)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RuntimeFailure(
        f"lost the database connection during {step} ({redact_text(first)}); the open "
        f"transaction was rolled back; {RESUME}",
        rule="a run never outlives its connection: stop, mark it failed (issue 10)")


@contextmanager
def _step(name: str, conn: psycopg.Connection) -> Iterator[None]:
    """A database error in a step outside batches (drift check, purge) as one RuntimeFailure
    naming the step; timeouts bound its waits (issue 10 item 7)."""
    try:
        yield
    except psycopg.Error as exc:
        if conn.broken:
            raise _connection_lost(name, exc) from None
        raise RuntimeFailure(f"{name} failed and was rolled back: {_db_reason(exc)}; {RESUME}",
                             rule="every statement runs under the plan's statement and lock "
                                  "timeouts (session 5)") from None


def _clear_stale_maintenance(conn: psycopg.Connection, plan: dict[str, Any], run_id: str,
                             audit: _Audit) -> None:
    """Whoever holds the tenant lease clears a maintenance flag left by a run that is gone
    (killed mid-verification, say): the lease is exclusive, so its holder is not running
    under a live lease (issue 10 item 3; session 16). Audited."""
    rows = conn.execute(
        "DELETE FROM seedc.maintenance m WHERE m.tenant_id = %s AND m.environment = %s AND "
        "m.run_id <> %s AND NOT EXISTS (SELECT 1 FROM seedc.leases l WHERE l.tenant_id = "
        "m.tenant_id AND l.environment = m.environment AND l.run_id = m.run_id AND "
        "l.expires_at > clock_timestamp()) RETURNING m.run_id::text, m.since",
        (plan["tenant_id"], plan["environment"], run_id)).fetchall()
    for stale_run, since in rows:
        audit.event("maintenance.cleared",
                    "a stale maintenance flag is cleared by the next lease holder (session 16)",
                    stale_run_id=stale_run, since=since.isoformat())


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
        quietly(conn, "DELETE FROM seedc.maintenance WHERE tenant_id = %s AND environment = %s "
                "AND run_id = %s", (plan["tenant_id"], plan["environment"], run_id))


def _verify(conn: psycopg.Connection, plan: dict[str, Any],
            expected: dict[str, EntityDigest], in_transaction: bool) -> None:
    """Every entity holds exactly the planned rows, read in one snapshot (session 18)."""
    snapshot = nullcontext() if in_transaction else conn.transaction()
    if not in_transaction:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
    try:
        with _step("verification", conn), snapshot:
            set_tenant(conn, plan["tenant_id"], local=True, setting=plan_rls_setting(plan))
            problems = compare(expected, database_digests(conn, plan))
    finally:
        if not in_transaction and not conn.broken:
            conn.isolation_level = IsolationLevel.SERIALIZABLE
    if problems:
        raise RunStopped("verification failed: the tables do not hold exactly the planned "
                         f"rows; the run is aborted; {RESUME} after fixing the cause",
                         rule="verify on the primary in one snapshot (session 18)",
                         details=problems)


def evidence_factory(uri: str | None, plan: dict[str, Any],
                     env_file: Path = Path(".env.local")) -> Callable[[], EvidenceSink] | None:
    """How apply finds its evidence store and signer.

    The store is `uri`, else $SEEDC_EVIDENCE_URI, else — for an isolated dev plan only — the
    local folder `.seedc/evidence` beside `env_file` (read-only files, hash-chained). The
    signer is Vault Transit
    when VAULT_ADDR is set, else the dev-only local key, created in `env_file` on first use in
    isolated dev. None when nothing is configured: preflight then refuses the run.
    """
    environment = plan["environment"]
    isolated_dev = environment == "dev" and bool(plan["guards"].get("isolated_dev"))
    uri = uri or os.environ.get("SEEDC_EVIDENCE_URI")
    if not uri and isolated_dev:
        uri = f"file://{env_file.resolve().parent / '.seedc' / 'evidence'}"
    if not uri:
        return None
    create_dev_key = isolated_dev

    def build() -> EvidenceSink:
        from seedc.runtime.evidence import LocalDevSigner, signer_for, store_from_uri

        store = store_from_uri(uri, environment)
        if os.environ.get("VAULT_ADDR"):
            from seedc.runtime.keys.vault import VaultKeyProvider

            client = VaultKeyProvider.from_environment().authenticated_client()
            return EvidenceSink(store, signer_for(environment, client=client))
        if create_dev_key:
            return EvidenceSink(store, LocalDevSigner.from_env_file(env_file, create=True))
        return EvidenceSink(store, signer_for(environment, env_file=env_file))

    return build


def _control_schema(control: psycopg.Connection) -> None:
    """The control schema must be installed and current before a run row can be written:
    every table and column its shipped migrations create is there."""
    from seedc.runtime.install import control_objects

    tables, columns = control_objects()
    missing = [r[0] for r in control.execute(
        "SELECT t FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NULL",
        (tables,)).fetchall()]
    missing += [r[0] for r in control.execute(
        "SELECT t || '.' || c FROM unnest(%s::text[], %s::text[]) AS x(t, c) "
        "WHERE to_regclass(t) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute "
        "WHERE attrelid = to_regclass(t) AND attname = c AND NOT attisdropped)",
        ([t for t, _ in columns], [c for _, c in columns])).fetchall()]
    if missing:
        state = "missing" if "seedc.runs" in missing else "outdated"
        raise GuardRefused(
            f"seedc's control schema is {state} in this database: run `seedc db install "
            "--dsn ADMIN_DSN --apply-role ROLE` first",
            rule="control schema installed by an admin (DESIGN: the runtime)",
            details=[f"lacks {', '.join(missing[:8])}" + (" …" if len(missing) > 8 else "")])


def apply_plan(plan: dict[str, Any], dsn: str, keys: KeyProvider,
               options: ApplyOptions | None = None) -> RunReport:
    """Apply a verified plan as the connecting role; raises SeedcError on refusal/failure.

    Whatever fails inside — a guard, a batch, a lost connection, an unexpected bug — the run
    row is finalised (`refused`, `failed` or `aborted`, never left `running`; from a fresh
    connection when the control one died) and the evidence is published where the store is
    reachable. Database errors and unexpected exceptions are raised as RuntimeFailure (exit
    4), chained to the original (issue 9 item 1, issue 10 item 1).
    """
    options = options or ApplyOptions()
    started = time.monotonic()
    report = RunReport(str(uuid.uuid4()), plan["plan_hash"], plan["tenant"],
                       plan["environment"], plan["mode"], options.dry_run)
    timeouts = plan["guards"]["timeouts"]
    control = connect(dsn, autocommit=True, application="seedc-control")
    try:
        work = connect(dsn, autocommit=False, application="seedc-apply",
                       timeouts=(timeouts["statement_ms"], timeouts["lock_ms"]))
    except BaseException:
        control.close()
        raise
    work.isolation_level = IsolationLevel.SERIALIZABLE
    audit = _Audit(control, report, plan["tenant_id"], options.lease.lease_ttl_s)
    heartbeat = Heartbeat(dsn, report.run_id, options.lease.lease_ttl_s,
                          min(options.lease.heartbeat_s, options.lease.lease_ttl_s / 3))
    heartbeat.watch(control)
    heartbeat.watch(work)
    tel = options.telemetry or setup_telemetry()
    log = get_logger("seedc.apply")
    started_row = publishing = False
    try:
        with tel.run_span(report):
            log.info("run.start", plan_hash=plan["plan_hash"], dry_run=options.dry_run)
            try:
                _refuse_standby(control, plan, report)
                _control_schema(control)
                audit.start()
                started_row = True
                heartbeat.start()
                audit.event("start", plan_hash=plan["plan_hash"])
                for gone in mark_abandoned(control, plan["environment"]):
                    log.warning("run.abandoned", run_id=gone)
                _run(plan, dsn, keys, options, report, control, work, audit, tel, heartbeat)
                # evidence before the final status: a run killed while publishing is not
                # `succeeded` without its report (its lease expires: `abandoned`)
                publishing = True
                _publish(plan, options, report, audit.conn, started)
                audit.finish(report.status, report.message)
                if report.status == "succeeded" and not options.dry_run:  # TTL's origin (issue 14)
                    record_dataset(audit.conn, plan, report.run_id)
                audit.event(report.status, rows_written=report.rows_written)
            except BaseException as raised:
                exc = _as_seedc_error(raised, control, work)
                report.status = ("refused" if isinstance(exc, GuardRefused) else
                                 "aborted" if isinstance(exc, RunStopped) else "failed")
                report.message = exc.render()
                if started_row:
                    _finalise(dsn, audit, report, exc)
                log.error("run." + report.status, rule=exc.rule, reason=exc.message)
                exc.report = report  # type: ignore[attr-defined]
                if not publishing:  # a failed publication already kept its report unsent
                    _publish_after_failure(plan, options, report, audit, started, exc)
                if exc is raised:
                    raise
                if not isinstance(raised, Exception):
                    raise  # KeyboardInterrupt, SystemExit: as they are, after the cleanup
                raise exc from raised
            log.info("run." + report.status, rows_written=report.rows_written,
                     seconds=round(report.seconds, 3))
            return report
    finally:
        heartbeat.stop.set()
        if heartbeat.is_alive():
            heartbeat.join(timeout=5)
        work.close()
        control.close()
        if audit.conn is not control:
            audit.conn.close()
        if options.telemetry is None:
            tel.shutdown()


def _as_seedc_error(raised: BaseException, control: psycopg.Connection,
                    work: psycopg.Connection) -> SeedcError:
    """The error to report: a SeedcError as it is (its text redacted), a database error as
    one RuntimeFailure line, anything else as an unexpected RuntimeFailure (exit 4)."""
    if isinstance(raised, SeedcError):
        exc = raised
    elif isinstance(raised, psycopg.Error):
        if control.broken or work.broken or _connection_error(raised):
            exc = _connection_lost("the run", raised)
        else:
            exc = RuntimeFailure(f"database error: {_db_reason(raised)}; {RESUME}",
                                 rule="unexpected database error (issue 9)")
    else:
        first = str(raised).strip().splitlines()[0] if str(raised).strip() else ""
        exc = RuntimeFailure(f"unexpected {type(raised).__name__}"
                             + (f": {first}" if first else "") + f"; the run is marked "
                             f"failed; {RESUME}", rule="unexpected error (a bug: report it)")
    exc.message = redact_text(exc.message)
    exc.details = [redact_text(d) for d in exc.details]
    return exc


def _connection_error(exc: psycopg.Error) -> bool:
    """A lost connection or server (client-side errors carry no SQLSTATE; class 08 is a
    connection exception; 57P01-57P03 a terminated backend or a server going down)."""
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _usable(conn: psycopg.Connection) -> bool:
    return not (conn.closed or conn.broken)


def _finalise(dsn: str, audit: _Audit, report: RunReport, exc: SeedcError) -> None:
    """Mark the run row and audit it; on a fresh connection when the control one is gone.
    When the database itself is unreachable the row stays `running` until its lease expires
    and the next run marks it `abandoned`."""
    if not _usable(audit.conn):
        try:
            # short: when the network is what failed, the run must still end in seconds
            audit.conn = connect(dsn, autocommit=True, application="seedc-control",
                                 connect_timeout=5)
        except SeedcError:
            get_logger("seedc.apply").error("run.unrecorded", run_id=report.run_id)
            return
    _safe(lambda: audit.finish(report.status, report.message))
    _safe(lambda: audit.event(report.status, exc.rule, message=exc.message,
                              details=exc.details))


def _publish_after_failure(plan: dict[str, Any], options: ApplyOptions, report: RunReport,
                           audit: _Audit, started: float, exc: SeedcError) -> None:
    """Evidence of a failed run too; a publishing failure is added to the run's error rather
    than replacing it (the evidence is then kept unsent, see evidence/publish.py)."""
    conn = audit.conn if _usable(audit.conn) else None
    status = report.status
    try:
        _publish(plan, options, report, conn, started)
    except SeedcError as failure:
        report.status = status
        exc.details = [*exc.details, "evidence: " + redact_text(failure.message)]
        report.message = exc.render()
        if conn is not None:
            _safe(lambda: audit.finish(report.status, report.message))


def _publish(plan: dict[str, Any], options: ApplyOptions, report: RunReport,
             control: psycopg.Connection | None, started: float) -> None:
    """Sign and store the run's evidence when the store passed its check (never on dry runs;
    a NOOP only in homolog/prod, whose audit trail wants every run: issue 11).

    A report that cannot be stored fails the run (exit 4); it is kept locally and indexed.
    """
    report.seconds = time.monotonic() - started
    evidence = report.evidence
    if options.dry_run or evidence is None:
        return
    from seedc.runtime.evidence.store import WORM_REQUIRED

    if report.status == "noop" and plan["environment"] not in WORM_REQUIRED:
        return  # issue 11: a NOOP writes a report only where the audit trail needs it
    from seedc import __version__
    from seedc.runtime.evidence import publish_evidence

    trace_id, span_id = current_trace_ids()
    try:
        evidence.published = publish_evidence(
            report, plan, store=evidence.store, signer=evidence.signer, conn=control,
            seedc_version=__version__, key_version=report.key_version,
            measured={"rows": report.rows_written,
                      "milliseconds": int(report.seconds * 1000)},
            trace_id=trace_id, span_id=span_id)
    except SeedcError as exc:
        report.status = "failed"
        report.message = redact_text(exc.render())
        if control is not None:
            _safe(lambda: control.execute(
                "UPDATE seedc.runs SET status = 'failed', detail = %s WHERE run_id = %s",
                (report.message[:2000], report.run_id)))
        exc.report = report  # type: ignore[attr-defined]
        raise


def _safe(fn: Callable[[], object]) -> None:
    """Audit after a failure must not hide the failure itself."""
    with suppress(psycopg.Error):
        fn()


def _cite(rule: str) -> str:
    """A preflight check's rule as `rule NAME: text` (seedc/rules.toml), or its text alone."""
    name = rule_name(rule)
    return f"rule {name}: {rule}" if name else rule


def _refuse_failed(checks: list[CheckResult]) -> None:
    failed = [c for c in checks if not c.ok]
    if failed:
        raise GuardRefused(f"preflight refused the run ({len(failed)} check(s) failed)",
                           rule="fail-closed preflight",
                           details=[f"{c.name}: {c.detail} [{_cite(c.rule)}]" for c in failed])


def _refuse_standby(control: psycopg.Connection, plan: dict[str, Any],
                    report: RunReport) -> None:
    """A standby is read-only: refuse before the first audit write could fail there."""
    ok, detail = check_primary(control, plan)
    report.checks = [CheckResult("primary", PRIMARY_RULE, ok, detail)]
    _refuse_failed(report.checks)


def _run(plan: dict[str, Any], dsn: str, keys: KeyProvider, options: ApplyOptions,
         report: RunReport, control: psycopg.Connection, work: psycopg.Connection,
         audit: _Audit, tel: Telemetry, heartbeat: Heartbeat) -> None:
    with tel.preflight_span():
        report.checks += run_preflight(control, plan)
        env_file = getattr(keys, "path", Path(".env.local"))
        factory = options.evidence or evidence_factory(None, plan, env_file)
        check, report.evidence = _check_evidence(factory, options.dry_run)
        report.checks.append(check)
        key = None
        try:
            key = keys.fetch(plan)
            report.key_source = key.source
            report.key_version = key.version
            report.checks.append(CheckResult(
                "key", "key version equals salt_version (sessions 1, 3, 6)", True,
                f"key version {key.version} from {key.source.split(':')[0]}"))
        except GuardRefused as exc:
            report.checks.append(CheckResult("key", exc.rule or "key", False, exc.message))
        report.checks.append(access_check(control, plan, keys, options.breakglass,
                                          report.run_id, report.checks))
        tel.record_checks(report.checks)
    log = get_logger("seedc.apply")
    for c in report.checks:
        log.info("preflight.check", check=c.name, ok=c.ok, detail=c.detail)
    for check in report.checks:
        audit.event("preflight", check.rule, check=check.name, ok=check.ok, detail=check.detail)
    _refuse_failed(report.checks)
    _warn_unindexed_foreign_keys(control, plan, audit)
    assert key is not None
    set_tenant(control, plan["tenant_id"], local=False, setting=plan_rls_setting(plan))
    # RLS on seedc.leases for the lease proof
    set_tenant(work, plan["tenant_id"], local=False, setting=plan_rls_setting(plan))
    work.commit()
    settings = options.lease
    with cluster_slot(control, plan["environment"], plan["tenant"], report.run_id, settings), \
            tenant_lease(control, dsn, plan["tenant_id"], plan["environment"], report.run_id,
                         settings, heartbeat=heartbeat, tenant=plan["tenant"]):
        _clear_stale_maintenance(control, plan, report.run_id, audit)
        checkpoints = load_checkpoints(control, plan["tenant_id"], plan["environment"])
        with _step("change check", control):
            old = change_base(control, plan, checkpoints, options.plan_path)
        if old is not None:  # the tenant holds an earlier plan: write only the delta (issue 12)
            _change(plan, old, checkpoints, options, report, work, control, audit, heartbeat,
                    key.key)
            return
        divergent = check_checkpoints(plan, checkpoints)
        refuse_stale_resume(control, plan, checkpoints, divergent)  # session 17 (issue 14)
        resuming = bool(checkpoints) and not divergent
        recreate = plan["mode"] in ("load", "dr") and not resuming
        if divergent and not recreate:
            raise GuardRefused("checkpoints diverge from this plan; `seedc reset PLAN` and "
                               "re-apply (coordinated reseed)",
                               rule="divergent checkpoint is a hard stop (session 8)",
                               details=divergent)
        # A dry run does everything below — purge included — in one transaction rolled back.
        outer = work.transaction(force_rollback=True) if options.dry_run else nullcontext()
        # the budget counts the run's own work (purge included, issue 10), not time queued
        # for a slot or lease
        work_started = options.clock()
        invalidate_cache(plan, "before", options.dry_run, audit.event)
        with outer:
            if recreate:
                with _step("purge", work):
                    deleted = purge_tenant(work, plan, dry_run=options.dry_run)
                audit.event("purge", "load/dr re-create their dataset (session 7)",
                            deleted=deleted)
                checkpoints = {}
            else:
                with _step("drift check", work), work.transaction():
                    set_tenant(work, plan["tenant_id"], local=True, setting=plan_rls_setting(plan))
                    refuse_diverging_pairs(work, plan)
                    refuse_drift(compare(expected_digests(plan, checkpoints),
                                         database_digests(work, plan)))
            with _step("plan store", work), work.transaction():
                set_tenant(work, plan["tenant_id"], local=True)
                store_plan(work, plan, report.run_id)  # the database knows its plan (issue 12)
            done = [b for b in plan["batches"] if b["id"] in checkpoints]
            if len(done) == len(plan["batches"]):
                report.status = "noop"
                report.message = ("nothing to do: every batch is checkpointed and the data "
                                  "matches")
                report.batches = [BatchReport(b["id"], b["entity"], b["row_count"], "skipped")
                                  for b in plan["batches"]]
                return
            with _maintenance(control, plan, report.run_id, options.dry_run):
                if options.writers > 1 and not options.dry_run:  # issue 13
                    from seedc.runtime.parallel_apply import parallel_batches

                    parallel_batches(plan, dsn, options, report, work, control, checkpoints,
                                     key.key, heartbeat, audit.event, work_started)
                else:
                    from seedc.runtime.rate_limit import LocalPacer

                    pacer = None if options.dry_run else LocalPacer(plan)
                    _batches(plan, options, report, work, checkpoints, key.key, heartbeat,
                             work_started, tel, began=recreate, pacer=pacer)
        invalidate_cache(plan, "after", options.dry_run, audit.event)
        report.status = "succeeded"
        report.message = (f"dry run: would write {report.rows_written} rows (rolled back)"
                          if options.dry_run else f"wrote {report.rows_written} rows")


def _change(plan: dict[str, Any], old: dict[str, Any], checkpoints: dict[str, Any],
            options: ApplyOptions, report: RunReport, work: psycopg.Connection,
            control: psycopg.Connection, audit: _Audit, heartbeat: Heartbeat, key: bytes) -> None:
    """The incremental path: the delta from OLD to this plan, under this run's guards."""
    from seedc.runtime.delta import DeltaStep
    from seedc.runtime.incremental import ChangeContext, apply_change

    log = get_logger("seedc.apply")
    max_seconds = plan["guards"]["budget"]["max_seconds"]
    work_started = options.clock()

    def write_step(step: DeltaStep, write: Callable[[], None]) -> None:
        _stop_check(heartbeat)
        _window_check(plan, options)
        t0 = time.monotonic()
        item = BatchReport(step.id, step.entity, step.rows,
                           "would-write" if options.dry_run else "written")
        try:
            with_retries(work, plan, f"step {step.id}", step.entity, item, write)
        except BaseException:
            item.status = "failed"
            report.batches.append(item)
            raise
        item.seconds = time.monotonic() - t0
        report.batches.append(item)
        report.rows_written += step.rows
        log.info("change.step", step=step.id, kind=step.kind, entity=step.entity,
                 rows=step.rows, retries=item.retries, seconds=round(item.seconds, 3))
        if options.on_batch:
            options.on_batch(item, len(report.batches), 0)
        spent = options.clock() - work_started
        if spent > max_seconds:
            raise RunStopped(f"budget exhausted: {max_seconds} s spent after step {step.id} "
                             f"({report.rows_written} rows written); the run is aborted; "
                             f"{RESUME}", rule="abort at 100% of budget (sessions 7, 16)")

    ctx = ChangeContext(
        plan=plan, old=old, checkpoints=checkpoints, work=work, key=key, heartbeat=heartbeat,
        dry_run=options.dry_run, run_id=report.run_id,
        audit_event=lambda event, rule, **detail: audit.event(event, rule, **detail),
        maintenance=lambda: _maintenance(control, plan, report.run_id, options.dry_run),
        write_step=write_step,
        skip_step=lambda step: report.batches.append(
            BatchReport(step.id, step.entity, step.rows, "skipped")),
        verify=lambda expected: _verify(work, plan, expected, in_transaction=options.dry_run))
    with _step("change", work):
        delta = apply_change(ctx)
    report.change = delta.summary()
    totals = delta.totals()
    done = (f"{totals['insert']} inserted, {totals['update']} updated, "
            f"{totals['delete']} deleted")
    report.status = "succeeded"
    report.message = (f"dry run: the change from {old['plan_hash'][:19]}… would write "
                      f"{report.rows_written} rows ({done}; rolled back)" if options.dry_run
                      else f"changed from plan {old['plan_hash'][:19]}…: {done}")


def _warn_unindexed_foreign_keys(conn: psycopg.Connection, plan: dict[str, Any],
                                 audit: _Audit) -> None:
    """Advice, not a guard: unindexed foreign-key columns make purge and reset scan the child
    table once per deleted parent row (issue 10); say so in the log and the audit trail."""
    lines = unindexed_foreign_keys(conn, [e["table"] for e in plan["entities"]])
    if lines:
        get_logger("seedc.apply").warning("preflight.unindexed_foreign_keys", count=len(lines),
                                          detail=lines)
        audit.event("warning", "index foreign-key columns of target tables (issue 10)",
                    unindexed_fk_columns=lines)


def _stop_check(heartbeat: Heartbeat) -> None:
    if heartbeat.failed:
        raise RuntimeFailure(f"{heartbeat.failed}; stopped before the next batch; {RESUME}",
                         rule="a batch commits only under the run's live lease (sessions 1, 4)")


def _window_check(plan: dict[str, Any], options: ApplyOptions) -> None:
    """Before a batch is written: the off-peak window is still open."""
    closed = window_closed(plan, options.now())
    if closed:
        raise RunStopped(f"{closed}; {RESUME}", rule=WINDOW_CLOSED_RULE)


def _batches(plan: dict[str, Any], options: ApplyOptions, report: RunReport,
             work: psycopg.Connection, checkpoints: dict[str, Any], key: bytes,
             heartbeat: Heartbeat, work_started: float, tel: Telemetry, began: bool,
             pacer: Any = None) -> None:
    """Write the batches in order; any stop after writes began is `RunStopped` (exit 4).
    `pacer` (rate_limit.LocalPacer) holds each batch to the run's rate limit (issue 13)."""
    log = get_logger("seedc.apply")
    budget = Budget(plan, options.clock, work_started)
    expected = expected_digests(plan, checkpoints)
    total = len(plan["batches"])
    todo = [b for b in plan["batches"] if b["id"] not in checkpoints]
    with payloads(plan, key, todo, options.workers) as built:
        for index, batch in enumerate(plan["batches"], start=1):
            _stop_check(heartbeat)
            if batch["id"] in checkpoints:
                item = BatchReport(batch["id"], batch["entity"], batch["row_count"], "skipped")
            else:
                _window_check(plan, options)
                with tel.batch_span(batch, report):
                    t0 = time.monotonic()
                    item = BatchReport(batch["id"], batch["entity"], batch["row_count"],
                                       "would-write" if options.dry_run else "written")
                    try:
                        payload = next(built)
                        item.rows = payload.rows
                        if pacer is not None:
                            pacer.wait(batch["id"], payload.rows)
                        _write_with_retries(work, plan, batch, payload, report.run_id,
                                            options.dry_run, heartbeat.proof, item)
                    except BaseException as exc:
                        item.status = "failed"
                        item.seconds = time.monotonic() - t0
                        report.batches.append(item)
                        log.error("batch.failed", batch=batch["id"], entity=batch["entity"],
                                  retries=item.retries)
                        if isinstance(exc, GuardRefused) and (began or report.rows_written):
                            raise RunStopped(f"{exc.message}; the run is aborted; {RESUME}",
                                             rule=exc.rule, details=exc.details) from None
                        raise
                    expected[batch["entity"]].add(payload.rows, payload.digest)
                    report.rows_written += payload.rows
                    item.seconds = time.monotonic() - t0
                    tel.record_batch(item.rows, item.seconds, item.retries,
                                     entity=item.entity, status=item.status)
                    log.info("batch." + item.status.replace("-", "_"), entity=item.entity,
                             rows=item.rows, retries=item.retries,
                             seconds=round(item.seconds, 3))
            report.batches.append(item)
            if options.on_batch:
                options.on_batch(item, index, total)
            if budget.exhausted() and index < total:
                raise RunStopped(
                    f"budget exhausted: {budget.max_seconds} s spent after batch {batch['id']} "
                    f"({report.rows_written} rows written); the run is aborted; {RESUME} "
                    "(or adjust the manifest's budget)", rule=BUDGET_RULE)
        _stop_check(heartbeat)
        _verify(work, plan, expected, in_transaction=options.dry_run)
