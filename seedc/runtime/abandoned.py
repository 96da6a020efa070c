"""Runs that crashed without a finish: `running` rows whose lease expired, or whose control
session is gone, become `abandoned`.

A run renews its row's `lease_expires_at` with its heartbeat (seedc.runtime.lease); once that
moment passes, or once the control session it recorded (backend pid and start) no longer exists,
nothing can finish it any more. A session of another role whose start time this role cannot
see counts as alive (never mark a live run). The next
run of any tenant in the environment, `seedc runs`, and a purge mark it, with an audit event
(issue 10 item 4; sessions 4, 8: the run index never lies about a dead run).
"""

from __future__ import annotations

import psycopg
from psycopg import errors

__all__ = ["mark_abandoned"]

# Rows written before migration 3 have no lease_expires_at: their lease was 60 s at most.
_MARK = (
    "WITH gone AS (UPDATE seedc.runs r SET status = 'abandoned', "
    "abandoned_at = clock_timestamp(), finished_at = coalesce(r.finished_at, "
    "least(clock_timestamp(), coalesce(r.lease_expires_at, "
    "r.started_at + interval '60 seconds'))), "
    "detail = 'abandoned: it ended without a finish (the process died or lost the database: "
    "its control session is gone or its lease expired at ' || to_char(coalesce("
    "r.lease_expires_at, r.started_at + interval '60 seconds') AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || '); checkpointed batches stay, re-run "
    "`seedc apply PLAN` to resume' "
    "WHERE r.status = 'running' AND (%(env)s::text IS NULL OR r.environment = %(env)s) "
    "AND (coalesce(r.lease_expires_at, r.started_at + interval '60 seconds') "
    "< clock_timestamp() "
    # its control session is gone (a pid whose start this role cannot see counts as alive)
    "OR (r.backend_pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a "
    "WHERE a.pid = r.backend_pid AND (a.backend_start IS NULL "
    "OR a.backend_start = r.backend_start)))) "
    "RETURNING r.run_id, r.tenant, r.environment, r.detail) "
    ", logged AS (INSERT INTO seedc.audit (run_id, tenant, environment, event, rule, detail) "
    "SELECT run_id, tenant, environment, 'abandoned', "
    "'a run whose lease expired without a finish is abandoned (sessions 4, 8)', "
    "jsonb_build_object('message', detail) FROM gone) SELECT run_id::text FROM gone")


def mark_abandoned(conn: psycopg.Connection, environment: str | None = None) -> list[str]:
    """Mark expired `running` runs (of `environment`, or all) abandoned; returns their ids.

    `conn` is autocommit (each run is marked and audited in one statement). A role that may
    only read the index (no UPDATE on seedc.runs) marks nothing and still gets its listing.
    """
    try:
        rows = conn.execute(_MARK, {"env": environment}).fetchall()
    except errors.InsufficientPrivilege:
        return []
    return [r[0] for r in rows]

