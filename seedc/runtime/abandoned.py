"""Runs that crashed without a finish: `running` rows whose lease expired become `abandoned`.

A run renews its row's `lease_expires_at` with its heartbeat (seedc.runtime.lease); once that
moment passes and no live lease row names the run, nothing can finish it any more. The next
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
    "r.lease_expires_at, r.started_at + interval '60 seconds'), "
    "detail = 'abandoned: its lease expired at ' || to_char(coalesce(r.lease_expires_at, "
    "r.started_at + interval '60 seconds') AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ' without a finish (the process died or lost the "
    "database); checkpointed batches stay, re-run `seedc apply PLAN` to resume' "
    "WHERE r.status = 'running' AND (%(env)s::text IS NULL OR r.environment = %(env)s) "
    "AND coalesce(r.lease_expires_at, r.started_at + interval '60 seconds') "
    "< clock_timestamp() RETURNING r.run_id, r.tenant, r.environment, r.detail) "
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

