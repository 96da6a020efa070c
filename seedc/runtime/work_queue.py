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

__all__ = ["MAX_WORKERS", "Claim", "claim", "claim_order", "mark_done", "open_count", "populate",
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


def claim_order(plan: dict[str, Any], todo: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`todo` in the order writers should take ready batches: deepest dependency chain first.

    Dependencies are barriers between entities (a child waits for every batch of its
    parents), so a run's tail is its longest chain of barriers. Batches that open the most
    levels below them go first — customers before contracts before loans before installments —
    and leaves (transactions) fill the writers in between and at the end, where many
    independent batches keep every writer busy. Ties: more rows below first, then plan
    order. Among dependent batches the order stays topological (a parent has more levels)."""
    rows: dict[str, int] = {}
    for batch in todo:
        rows[batch["entity"]] = rows.get(batch["entity"], 0) + int(batch["row_count"])
    children: dict[str, set[str]] = {}
    for batch in plan["batches"]:
        for parent in batch.get("depends_on", []):
            if parent != batch["entity"]:
                children.setdefault(parent, set()).add(batch["entity"])
    levels: dict[str, int] = {}
    below: dict[str, int] = {}
    for batch in reversed(plan["batches"]):  # plan order is topological: children come later
        entity = batch["entity"]
        kids = children.get(entity, set())
        levels[entity] = max((1 + levels.get(c, 0) for c in kids), default=0)
        below[entity] = rows.get(entity, 0) + max((below.get(c, 0) for c in kids), default=0)
    position = {b["id"]: i for i, b in enumerate(plan["batches"])}
    return sorted(todo, key=lambda b: (-levels[b["entity"]], -below[b["entity"]],
                                       position[b["id"]]))


def populate(conn: psycopg.Connection, plan: dict[str, Any], run_id: str,
             todo: list[dict[str, Any]]) -> None:
    """The run's pending batches, ranked by `claim_order` in `ord` (one transaction)."""
    order = {b["id"]: i for i, b in enumerate(claim_order(plan, todo))}
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


def claim(conn: psycopg.Connection, run_id: str, wid: str, prefer: list[str] | None = None,
          avoid: list[str] | None = None) -> Claim | None:
    """The first ready, unclaimed (or orphaned) batch of the run, now claimed by `wid`.

    Among the ready batches, those in `prefer` come first (their payload is already built or
    being built for this writer) and those in `avoid` last (another writer of this process is
    building them); otherwise plan order. Readiness is never relaxed by a preference."""
    _sync_done(conn, run_id)
    row = conn.execute(
        "WITH pick AS (SELECT i.batch_id, i.claimed_by FROM seedc.work_items i "
        "WHERE i.run_id = %(run)s AND i.done_at IS NULL "
        "AND (i.claimed_by IS NULL OR NOT EXISTS (SELECT 1 FROM seedc.work_workers ww "
        "WHERE ww.run_id = i.run_id AND ww.worker_id = i.claimed_by AND ww.left_at IS NULL "
        "AND ww.expires_at > clock_timestamp())) "
        "AND NOT EXISTS (SELECT 1 FROM seedc.work_items d WHERE d.run_id = i.run_id "
        "AND d.done_at IS NULL AND d.entity = ANY(i.depends_on)) "
        "ORDER BY i.batch_id = ANY(%(prefer)s) DESC, i.batch_id = ANY(%(avoid)s), i.ord "
        "LIMIT 1 FOR UPDATE OF i SKIP LOCKED) "
        "UPDATE seedc.work_items w SET claimed_by = %(wid)s FROM pick "
        "WHERE w.run_id = %(run)s AND w.batch_id = pick.batch_id "
        "RETURNING w.batch_id, pick.claimed_by",
        {"run": run_id, "wid": wid, "prefer": prefer or [], "avoid": avoid or []}).fetchone()
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
