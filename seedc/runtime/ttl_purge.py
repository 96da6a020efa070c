"""`seedc purge --expired`: delete load/DR datasets whose TTL has elapsed (sessions 5, 9, 17).

Run by a cron job per environment. The TTL is the plan's `ttl`, counted from the successful
finish of the run that wrote the dataset (`seedc.datasets`, filled by apply from
`seedc.runs.finished_at`); baseline datasets are never purged by TTL. Each purge is a run of
its own under the rules of apply — evidence store checked first, the off-peak window, one of
the environment's cluster slots and the tenant lease — deletes the tenant's rows and
checkpoints in one transaction (seedc/runtime/purge.py), and leaves an audit row and a signed
evidence report. A dry run does the same deletes in a transaction rolled back, and publishes
nothing. The clock is the database's unless `now` is given (tests: no sleeps).
Checkpoints older than 30 days are removed on the way (seedc/runtime/retention.py).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from seedc.errors import GuardRefused, RuntimeFailure, SeedcError
from seedc.runtime.access import require_pipeline_identity
from seedc.runtime.apply import EvidenceSink, evidence_factory
from seedc.runtime.datasets import purge_plan
from seedc.runtime.db import connect, plan_rls_setting, set_tenant
from seedc.runtime.lease import LeaseSettings, cluster_slot, tenant_lease
from seedc.runtime.preflight import window_open
from seedc.runtime.purge import purge_tenant
from seedc.runtime.retention import remove_stale_checkpoints
from seedc.runtime.telemetry.redaction import redact_text

__all__ = ["PurgeOptions", "PurgeOutcome", "PurgeSummary", "purge_expired"]

TTL_RULE = "load/dr datasets are purged when their TTL elapses; baseline never (sessions 5, 9)"
_WINDOW_RULE = "only inside the off-peak window, UTC (sessions 8, 17)"
_EVIDENCE_RULE = "evidence store writable before any data write (sessions 9, 14)"

_EXPIRED = (
    "SELECT tenant_id::text, tenant, mode, plan_hash, run_id::text, finished_at, ttl, spec "
    "FROM seedc.datasets WHERE environment = %(env)s AND mode IN ('load', 'dr') "
    "AND ttl IS NOT NULL AND finished_at + ttl <= %(now)s ORDER BY tenant, tenant_id"
)


@dataclass
class PurgeOptions:
    dry_run: bool = False
    now: datetime | None = None  # the reference clock; None: the database's clock_timestamp()
    lease: LeaseSettings = field(default_factory=LeaseSettings)
    # the evidence sink of one dataset's purge (by its spec); None: like apply's default
    evidence: Callable[[dict[str, Any]], Callable[[], EvidenceSink] | None] | None = None
    evidence_uri: str | None = None
    env_file: Path = Path(".env.local")
    keys: Any = None  # the key provider whose Vault token proves the pipeline identity


@dataclass
class PurgeOutcome:
    tenant: str
    tenant_id: str
    mode: str
    plan_hash: str
    dataset_run_id: str
    finished_at: datetime
    expires_at: datetime
    run_id: str
    status: str = "pending"  # purged | would-purge | skipped | refused | failed
    deleted: dict[str, int] = field(default_factory=dict)
    evidence: str | None = None
    message: str = ""
    exit_code: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "tenant_id": self.tenant_id, "mode": self.mode,
                "plan_hash": self.plan_hash, "dataset_run_id": self.dataset_run_id,
                "finished_at": self.finished_at.isoformat(),
                "expires_at": self.expires_at.isoformat(), "run_id": self.run_id,
                "status": self.status, "deleted": self.deleted, "evidence": self.evidence,
                "message": self.message}


@dataclass
class PurgeSummary:
    environment: str
    now: datetime
    dry_run: bool
    datasets: list[PurgeOutcome] = field(default_factory=list)
    checkpoints_removed: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """The worst outcome: 4 over 3 over 2 over 0 (the cron job's status says it)."""
        return max([0, *(o.exit_code for o in self.datasets)])

    def as_json(self) -> dict[str, Any]:
        return {"environment": self.environment, "now": self.now.isoformat(),
                "dry_run": self.dry_run, "datasets": [o.as_json() for o in self.datasets],
                "checkpoints_removed": self.checkpoints_removed,
                "exit_code": self.exit_code}


def purge_expired(dsn: str, environment: str, options: PurgeOptions | None = None
                  ) -> PurgeSummary:
    """Purge every expired load/DR dataset of `environment`, tenant by tenant.

    A refusal or failure of one tenant is recorded in its outcome (and audited) and the others
    still run; `PurgeSummary.exit_code` is the worst of them.
    """
    options = options or PurgeOptions()
    with connect(dsn, autocommit=True, application="seedc-purge") as control, \
            connect(dsn, autocommit=False, application="seedc-purge") as work:
        _require_schema(control)
        now = options.now or _db_now(control)
        summary = PurgeSummary(environment, now, options.dry_run)
        for row in control.execute(_EXPIRED, {"env": environment, "now": now}).fetchall():
            tenant_id, tenant, mode, plan_hash, dataset_run, finished, ttl, spec = row
            outcome = PurgeOutcome(tenant, tenant_id, mode, plan_hash, dataset_run, finished,
                                   finished + ttl, str(uuid.uuid4()))
            summary.datasets.append(outcome)
            _purge_one(dsn, control, work, spec, outcome, options, now)
        summary.checkpoints_removed = remove_stale_checkpoints(
            control, environment, now, dry_run=options.dry_run)
        for tenant, count in summary.checkpoints_removed.items():
            _audit(control, None, tenant, environment, "checkpoints.expired",
                   "checkpoints are kept at most 30 days; no resume past that (session 17)",
                   {"dry_run": options.dry_run, "removed": count})
    return summary


def _require_schema(conn: psycopg.Connection) -> None:
    row = conn.execute("SELECT to_regclass('seedc.datasets') IS NOT NULL").fetchone()
    if not (row and row[0]):
        raise GuardRefused("seedc's control schema has no seedc.datasets (control migration 7):"
                           " run `seedc db install --dsn ADMIN_DSN --apply-role ROLE` first",
                           rule="control schema installed by an admin (DESIGN: the runtime)")


def _db_now(conn: psycopg.Connection) -> datetime:
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


def _audit(conn: psycopg.Connection, run_id: str | None, tenant: str, environment: str,
           event: str, rule: str | None, detail: dict[str, Any]) -> None:
    conn.execute("INSERT INTO seedc.audit (run_id, tenant, environment, event, rule, detail) "
                 "VALUES (%s, %s, %s, %s, %s, %s)",
                 (run_id, tenant, environment, event, rule, json.dumps(detail, sort_keys=True)))


def _sink(spec: dict[str, Any], options: PurgeOptions) -> EvidenceSink:
    """The checked evidence sink of one purge: GuardRefused (exit 3) before any delete."""
    if options.evidence is not None:
        factory = options.evidence(spec)
    else:
        factory = evidence_factory(options.evidence_uri, {
            "environment": spec["environment"],
            "guards": {"isolated_dev": spec.get("isolated_dev", False)}}, options.env_file)
    if factory is None:
        raise GuardRefused("no evidence store configured: set --evidence or "
                           "SEEDC_EVIDENCE_URI (s3://bucket/prefix or file://path)",
                           rule=_EVIDENCE_RULE)
    sink = factory()
    sink.store.check_writable()
    sink.signer.check()
    return sink


def _purge_one(dsn: str, control: psycopg.Connection, work: psycopg.Connection,
               spec: dict[str, Any], outcome: PurgeOutcome, options: PurgeOptions,
               now: datetime) -> None:
    """One tenant's purge, under the rules of apply; the outcome says what happened."""
    started = time.monotonic()
    env = spec["environment"]
    base = {"dry_run": options.dry_run, "plan_hash": outcome.plan_hash,
            "dataset_run_id": outcome.dataset_run_id, "expired_at": outcome.expires_at.isoformat()}
    sink = None
    try:
        window = spec["window"]
        if not window_open(window["start_utc"], window["end_utc"], now):
            raise GuardRefused(f"outside the off-peak window {window['start_utc']}–"
                               f"{window['end_utc']} UTC (now {now:%H:%M} UTC); the next "
                               "run inside the window purges it", rule=_WINDOW_RULE)
        if not options.dry_run:
            sink = _sink(spec, options)
        plan = purge_plan(control, spec)
        # outside isolated dev only the pipeline purges (issue 15; session 5)
        identity = require_pipeline_identity(control, plan, options.keys, None, outcome.run_id)
        base["identity"] = identity.as_json()
        settings = options.lease
        set_tenant(control, outcome.tenant_id, local=False)  # RLS on seedc.leases
        with cluster_slot(control, env, outcome.tenant, outcome.run_id, settings), \
                tenant_lease(control, dsn, outcome.tenant_id, env, outcome.run_id, settings,
                             tenant=outcome.tenant):
            if not _still_current(control, outcome, env):
                outcome.status = "skipped"
                outcome.message = "reseeded or purged meanwhile; nothing to do"
                return
            with work.transaction(force_rollback=options.dry_run):
                set_tenant(work, outcome.tenant_id, local=True,
                           setting=plan_rls_setting(plan))
                outcome.deleted = purge_tenant(work, plan, dry_run=options.dry_run)
                if not options.dry_run:
                    work.execute("DELETE FROM seedc.datasets WHERE tenant_id = %s AND "
                                 "environment = %s AND run_id = %s",
                                 (outcome.tenant_id, env, outcome.dataset_run_id))
        rows = sum(v for k, v in outcome.deleted.items() if k != "seedc.checkpoints")
        checkpoints = outcome.deleted.get("seedc.checkpoints", 0)
        outcome.status = "would-purge" if options.dry_run else "purged"
        outcome.message = (f"TTL {spec.get('ttl')} elapsed at {outcome.expires_at:%Y-%m-%dT%H:%MZ}"
                           f": {'would delete' if options.dry_run else 'deleted'} {rows} rows"
                           + ("" if options.dry_run else f" and {checkpoints} checkpoints"))
        _audit(control, outcome.run_id, outcome.tenant, env, "purge.ttl", rule=TTL_RULE,
               detail={**base, "deleted": outcome.deleted})
        if sink is not None:
            outcome.evidence = _publish(control, sink, spec, outcome, started)
    except SeedcError as exc:
        _refused(control, outcome, env, base, exc)
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        _refused(control, outcome, env, base, RuntimeFailure(
            f"purge of tenant {outcome.tenant} failed and was rolled back: {redact_text(first)}",
            rule="every statement runs under the plan's statement and lock timeouts (session 5)"))


def _still_current(control: psycopg.Connection, outcome: PurgeOutcome, env: str) -> bool:
    """Under the lease: the dataset found expired is still the tenant's (no reseed since)."""
    row = control.execute("SELECT 1 FROM seedc.datasets WHERE tenant_id = %s AND "
                          "environment = %s AND run_id = %s",
                          (outcome.tenant_id, env, outcome.dataset_run_id)).fetchone()
    return row is not None


def _refused(control: psycopg.Connection, outcome: PurgeOutcome, env: str,
             base: dict[str, Any], exc: SeedcError) -> None:
    """Record a refusal (exit 3) or failure (exit 2 or 4) in the outcome and the audit trail."""
    outcome.status = "refused" if isinstance(exc, GuardRefused) else "failed"
    outcome.exit_code = int(exc.exit_code)  # 2 bad input (e.g. the evidence URI), 3, 4
    outcome.message = redact_text(exc.render())
    try:
        _audit(control, outcome.run_id, outcome.tenant, env, f"purge.{outcome.status}",
               exc.rule, {**base, "message": exc.message, "deleted": outcome.deleted})
    except psycopg.Error:
        outcome.message += " (the audit row could not be written)"


def _publish(control: psycopg.Connection, sink: EvidenceSink, spec: dict[str, Any],
             outcome: PurgeOutcome, started: float) -> str:
    """The purge's signed evidence report, indexed in seedc.evidence; its URI."""
    from seedc import __version__
    from seedc.runtime.evidence import publish_evidence

    rows = sum(v for k, v in outcome.deleted.items() if k != "seedc.checkpoints")
    run = {"run_id": outcome.run_id, "plan_hash": outcome.plan_hash, "tenant": outcome.tenant,
           "environment": spec["environment"], "mode": spec["mode"], "dry_run": False,
           "status": "purged", "message": outcome.message, "rows_written": 0,
           "seconds": time.monotonic() - started, "key_source": "",
           "checks": [{"name": "ttl", "ok": True, "rule": TTL_RULE,
                       "detail": f"dataset of run {outcome.dataset_run_id} finished "
                                 f"{outcome.finished_at.isoformat()}, expired "
                                 f"{outcome.expires_at.isoformat()}"}],
           "batches": []}
    plan = {"plan_hash": outcome.plan_hash, "tenant_id": outcome.tenant_id, "batches": []}
    published = publish_evidence(run, plan, store=sink.store, signer=sink.signer,
                                 conn=control, seedc_version=__version__, key_version=None,
                                 measured={"rows_deleted": rows, "deleted": outcome.deleted})
    uri: str = published.stored.uri
    return uri
