"""Checkpoint retention (session 17): until the next successful reseed, never over 30 days.

A reseed already removes the previous run's checkpoints (load/dr re-creation and `seedc reset`
go through `purge.purge_tenant`). What this module adds: `seedc purge --expired` removes every
checkpoint older than 30 days, and a run that would resume from such a checkpoint is refused
(exit 3), because a checkpoint past its retention no longer proves the prefix that ran.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

from seedc.errors import GuardRefused
from seedc.runtime.db import set_tenant

__all__ = ["CHECKPOINT_RETENTION", "refuse_stale_resume", "remove_stale_checkpoints"]

#: Session 17: checkpoints are kept at most 30 days.
CHECKPOINT_RETENTION = timedelta(days=30)
_COUNT = ("SELECT count(*) FROM seedc.checkpoints WHERE tenant_id = %s AND environment = %s "
          "AND created_at < %s")
_DELETE = ("WITH gone AS (DELETE FROM seedc.checkpoints WHERE tenant_id = %s AND environment = "
           "%s AND created_at < %s RETURNING 1) SELECT count(*) FROM gone")
RETENTION_RULE = "checkpoints are kept at most 30 days; no resume past that (session 17)"


def refuse_stale_resume(conn: psycopg.Connection, plan: dict[str, Any],
                        checkpoints: dict[str, Any], divergent: list[str]) -> None:
    """GuardRefused (exit 3) when the run would rely on a checkpoint past its retention.

    `conn` carries the tenant context (RLS on seedc.checkpoints); the age is the database's
    clock, the one that stamped the checkpoints. Divergent checkpoints are someone else's stop.
    """
    if not checkpoints or divergent:
        return
    row = conn.execute(
        "SELECT min(created_at), floor(extract(epoch FROM clock_timestamp() - min(created_at))"
        " / 86400)::int FROM seedc.checkpoints WHERE tenant_id = %s AND environment = %s "
        "AND created_at < clock_timestamp() - %s",
        (plan["tenant_id"], plan["environment"], CHECKPOINT_RETENTION)).fetchone()
    if row is None or row[0] is None:
        return
    raise GuardRefused(
        f"tenant {plan['tenant']} in {plan['environment']!r} has checkpoints {row[1]} days "
        f"old (since {row[0]:%Y-%m-%dT%H:%MZ}), past the {CHECKPOINT_RETENTION.days}-day "
        "retention: they can no longer prove what ran, so this run cannot resume from them; "
        "`seedc reset PLAN` and re-apply (coordinated reseed)", rule=RETENTION_RULE)


def remove_stale_checkpoints(conn: psycopg.Connection, environment: str, now: datetime, *,
                             dry_run: bool) -> dict[str, int]:
    """Delete (or count, when `dry_run`) checkpoints older than 30 days before `now`, tenant by
    tenant under each tenant's RLS context; returns the count per tenant slug (non-zero only).

    Tenants come from `seedc.runs` (no RLS): the apply role cannot list another tenant's
    checkpoints, only delete its own once its context is set. `conn` is autocommit.
    """
    tenants = conn.execute("SELECT DISTINCT tenant_id::text, tenant FROM seedc.runs "
                           "WHERE environment = %s ORDER BY 2", (environment,)).fetchall()
    statement = _COUNT if dry_run else _DELETE
    removed: dict[str, int] = {}
    for tenant_id, tenant in tenants:
        with conn.transaction():
            set_tenant(conn, tenant_id, local=True)
            row = conn.execute(statement, (tenant_id, environment,
                                           now - CHECKPOINT_RETENTION)).fetchone()
        count = int(row[0]) if row else 0
        if count:
            removed[tenant] = removed.get(tenant, 0) + count
    return removed
