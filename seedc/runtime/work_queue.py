"""The run-scoped work table: batches claimed by any writer of the run, in any process.

A run with several writers (threads of the coordinator, joiners on other pods) puts its
pending batches in `seedc.work_items`. A writer claims the first *ready* batch — every batch of
the entities it depends on is done — with `FOR UPDATE SKIP LOCKED`, so two writers never wait
on each other for a claim and the claim is visible to every process. A claim belongs to a
worker whose lease (`seedc.work_workers.expires_at`) its heartbeat renews; once that lease
expires (a pod killed with -9), the batch is claimable again. Dependencies are at entity level
(conservative): a child waits for all batches of its parents and pick_row targets.

Exactly-once rests on the checkpoint, written in the batch's own SERIALIZABLE transaction
under its primary key: a second writer of the same batch cannot commit. The work table is not
touched by the batch transaction (fewer SSI conflicts between writers): `mark_done` follows the
commit, and `claim` first marks done every batch already checkpointed (a writer killed between
its commit and `mark_done`), so readiness and completion always follow the checkpoints.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import psycopg

from seedc.errors import GuardRefused

__all__ = ["MAX_WORKERS", "Claim", "claim", "mark_done", "open_count", "populate",
           "register_worker", "renew_workers", "worker_id"]

#: The spec's ceiling on parallel writers of one run, all processes together (sessions 7, 15).
MAX_WORKERS = 4
WORKERS_RULE = "at most 4 parallel writers per run (sessions 7, 8, 15)"


@dataclass(frozen=True)
class Claim:
    batch_id: str
    reclaimed_from: str | None  # the worker whose lease expired holding this batch


def worker_id(n: int) -> str:
    """host:pid:n — unique per writer and readable in `seedc runs show`."""
    return f"{socket.gethostname()}:{os.getpid()}:{n}"


def populate(conn: psycopg.Connection, plan: dict[str, Any], run_id: str,
             todo: list[dict[str, Any]]) -> None:
    """The run's pending batches, in plan order (one transaction)."""
    order = {b["id"]: i for i, b in enumerate(plan["batches"])}
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO seedc.work_items (run_id, tenant_id, environment, batch_id, ord, "
            "entity, depends_on, row_count) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(run_id, plan["tenant_id"], plan["environment"], b["id"], order[b["id"]],
              b["entity"], sorted(b.get("depends_on", [])), b["row_count"]) for b in todo])


def register_worker(conn: psycopg.Connection, plan: dict[str, Any], run_id: str, wid: str,
                    role: str, ttl_s: int) -> None:
    """A worker lease for `wid`; refused (exit 3) when the run already has MAX_WORKERS live
    writers. Serialised per run by a transaction-scoped advisory lock."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('seedc-workers'), hashtext(%s))",
                     (run_id,))
        live = conn.execute(
            "SELECT count(*) FROM seedc.work_workers WHERE run_id = %s AND left_at IS NULL "
            "AND expires_at > clock_timestamp()", (run_id,)).fetchone()
        if live is not None and live[0] >= MAX_WORKERS:
            raise GuardRefused(f"run {run_id} already has {live[0]} live writers",
                               rule=WORKERS_RULE)
        conn.execute(
            "INSERT INTO seedc.work_workers (run_id, tenant_id, worker_id, role, expires_at) "
            "VALUES (%s, %s, %s, %s, clock_timestamp() + make_interval(secs => %s))",
            (run_id, plan["tenant_id"], wid, role, ttl_s))


def renew_workers(conn: psycopg.Connection, run_id: str, wids: list[str], ttl_s: int) -> int:
    """Extend the leases of `wids`; returns how many were still live (an expired lease is not
    revived: its batch may already be someone else's)."""
    cur = conn.execute(
        "UPDATE seedc.work_workers SET expires_at = clock_timestamp() + make_interval(secs => "
        "%s) WHERE run_id = %s AND worker_id = ANY(%s) AND left_at IS NULL AND "
        "expires_at > clock_timestamp()", (ttl_s, run_id, wids))
    return cur.rowcount


def leave(conn: psycopg.Connection, run_id: str, wids: list[str]) -> None:
    conn.execute("UPDATE seedc.work_workers SET left_at = clock_timestamp() WHERE run_id = %s "
                 "AND worker_id = ANY(%s) AND left_at IS NULL", (run_id, wids))


def _sync_done(conn: psycopg.Connection, run_id: str) -> None:
    """Batches checkpointed but not marked done (their writer died right after committing)."""
    conn.execute(
        "UPDATE seedc.work_items i SET done_at = clock_timestamp() WHERE i.run_id = %s AND "
        "i.done_at IS NULL AND EXISTS (SELECT 1 FROM seedc.checkpoints c WHERE c.tenant_id = "
        "i.tenant_id AND c.environment = i.environment AND c.batch_id = i.batch_id)",
        (run_id,))


def claim(conn: psycopg.Connection, run_id: str, wid: str) -> Claim | None:
    """The first ready, unclaimed (or orphaned) batch of the run, now claimed by `wid`."""
    _sync_done(conn, run_id)
    row = conn.execute(
        "WITH pick AS (SELECT i.batch_id, i.claimed_by FROM seedc.work_items i "
        "WHERE i.run_id = %(run)s AND i.done_at IS NULL "
        "AND (i.claimed_by IS NULL OR NOT EXISTS (SELECT 1 FROM seedc.work_workers ww "
        "WHERE ww.run_id = i.run_id AND ww.worker_id = i.claimed_by AND ww.left_at IS NULL "
        "AND ww.expires_at > clock_timestamp())) "
        "AND NOT EXISTS (SELECT 1 FROM seedc.work_items d WHERE d.run_id = i.run_id "
        "AND d.done_at IS NULL AND d.entity = ANY(i.depends_on)) "
        "ORDER BY i.ord LIMIT 1 FOR UPDATE OF i SKIP LOCKED) "
        "UPDATE seedc.work_items w SET claimed_by = %(wid)s FROM pick "
        "WHERE w.run_id = %(run)s AND w.batch_id = pick.batch_id "
        "RETURNING w.batch_id, pick.claimed_by",
        {"run": run_id, "wid": wid}).fetchone()
    if row is None:
        return None
    return Claim(row[0], row[1])


def mark_done(conn: psycopg.Connection, run_id: str, batch_id: str) -> None:
    """After the batch committed (its checkpoint is the proof): done in the work table."""
    conn.execute("UPDATE seedc.work_items SET done_at = clock_timestamp() WHERE run_id = %s "
                 "AND batch_id = %s AND done_at IS NULL", (run_id, batch_id))


def open_count(conn: psycopg.Connection, run_id: str) -> int:
    """Batches of the run not done yet (claimed or not)."""
    row = conn.execute("SELECT count(*) FROM seedc.work_items WHERE run_id = %s AND "
                       "done_at IS NULL", (run_id,)).fetchone()
    return int(row[0]) if row else 0
