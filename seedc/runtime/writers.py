"""N writer connections draining a run's work table (`--workers N`, `--join`).

Each writer is a thread with two connections: an autocommit one for claims and pacing, and a
SERIALIZABLE one for its batches. A batch is still one transaction with its checkpoint and its
lease proof (apply's `_write_batch`); it is marked done in the work table after it commits.
Payloads of large plans are built by one child interpreter per writer (`seedc.runtime.prefetch`'s
worker), so generation runs on other cores and keeps pace with N writers; inline plans are
decoded in the writer thread with its own program and resolver (no module-global state shared
between threads).

One heartbeat thread renews the writers' worker leases. A failure in one writer (persistent
overload past `max_retries`, a lost lease or claim) stops the others after their current batch:
never half a batch; the run then stops with exit 4 and is resumable.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

import psycopg
from psycopg import IsolationLevel

from seedc.errors import GuardRefused, RuntimeFailure, SeedcError
from seedc.program.evaluate import Program
from seedc.runtime.budget import BUDGET_RULE
from seedc.runtime.db import connect, set_tenant
from seedc.runtime.lease import LeaseProof
from seedc.runtime.payload import Payload, build_payload
from seedc.runtime.pii.domains import PiiResolver
from seedc.runtime.rate_limit import Pacer
from seedc.runtime.telemetry import get_logger
from seedc.runtime.window_guard import WINDOW_CLOSED_RULE, utc_now, window_closed
from seedc.runtime.work_queue import (
    claim,
    claim_order,
    leave,
    mark_done,
    open_count,
    register_worker,
    renew_workers,
    worker_id,
)

__all__ = ["PoolSettings", "WriteFn", "run_pool"]

#: (connection, batch, payload, item-like report): one batch, retried (apply's with_retries)
WriteFn = Callable[[psycopg.Connection, dict[str, Any], Payload, Any], None]


@dataclass
class PoolSettings:
    plan: dict[str, Any]
    dsn: str
    key: bytes
    run_id: str
    proof: LeaseProof | None
    writers: int
    role: str  # coordinator | joiner
    worker_ttl_s: int
    write: WriteFn
    new_item: Callable[[dict[str, Any], Payload], Any]
    on_written: Callable[[Any, Payload], None]
    run_failed: Callable[[], str | None] = lambda: None  # the run's own heartbeat failure
    now: Callable[[], datetime] = utc_now  # wall clock for the off-peak window (tests set it)
    over_budget: Callable[[], str | None] = lambda: None  # the run's budget, spent: why
    poll_s: float = 0.2
    lease_floor_s: float = 30.0  # below this much tenant lease left, start no new batch
    errors: list[BaseException] = field(default_factory=list)


class _Builder:
    """Payloads for one writer: a child interpreter for large plans, in-thread for inline.

    The child builds in request order; `prebuild` queues a batch the writer expects to claim
    next, so its generation runs on another core while the writer's current batch is written.
    `take` returns any batch's payload, from the queue when it was prebuilt. At most `depth`
    prebuilt payloads are held (memory stays flat in plan size)."""

    def __init__(self, plan: dict[str, Any], key: bytes, depth: int = 2) -> None:
        self.plan = plan
        self.depth = depth
        self.worker: Any = None
        self.queued: deque[str] = deque()  # submitted to the child, answers not read yet
        self.ready: dict[str, Payload] = {}  # answers read, not taken yet
        if plan["rows_inline"]:
            self.program = Program.from_json(plan["program"])
            self.resolver = PiiResolver(key, plan["keys"]["algorithm"])
        else:
            from seedc.runtime.prefetch import _Worker  # one child per writer (see module doc)

            self.worker = _Worker(plan, key)

    def held(self) -> list[str]:
        """Batches prebuilt or being prebuilt for this writer."""
        return [*self.queued, *self.ready]

    def can_prebuild(self) -> bool:
        return self.worker is not None and len(self.queued) + len(self.ready) < self.depth

    def prebuild(self, batch: dict[str, Any]) -> None:
        self.worker.submit(batch["id"])
        self.queued.append(batch["id"])

    def discard(self, done: set[str]) -> None:
        """Forget prebuilt payloads of batches written by someone else meanwhile."""
        for batch_id in [b for b in self.ready if b in done]:
            del self.ready[batch_id]

    def take(self, batch: dict[str, Any]) -> Payload:
        if self.worker is None:
            return build_payload(self.plan, self.program, batch, self.resolver)
        if batch["id"] not in self.ready and batch["id"] not in self.queued:
            self.prebuild(batch)
        while batch["id"] not in self.ready:
            self.ready[self.queued.popleft()] = self.worker.result()
        return self.ready.pop(batch["id"])

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()


def followers(batches: list[dict[str, Any]]) -> dict[str, str]:
    """Batch id -> the batch right after it in plan order when that one is of a child entity.

    The compiler places a parent batch's children right after it (loans-k, installments-k):
    the child batch's generation reads what the parent batch's generation computed (a loan's
    quote for its installments), which the child process that built the parent still holds."""
    out = {}
    for batch, nxt in pairwise(batches):
        if nxt["entity"] != batch["entity"] and batch["entity"] in nxt.get("depends_on", []):
            out[batch["id"]] = nxt["id"]
    return out


class _Lookahead:
    """Which batch a writer of this process should prebuild next (thread-safe): the follower
    of a batch it built (see `followers`), else the first in claim order that is neither done,
    nor claimed or prebuilt by a writer here, nor another writer's follower. Writers of other
    processes are not known: a batch they take was prebuilt for nothing, never written twice."""

    def __init__(self, plan_batches: list[dict[str, Any]],
                 claim_batches: list[dict[str, Any]]) -> None:
        self.batches = claim_batches
        self.by_id = {b["id"]: b for b in plan_batches}
        self.follower = followers(plan_batches)
        self.lock = threading.Lock()
        self.done: set[str] = set()
        self.owner: dict[str, str] = {}  # batch id -> writer id (claimed or prebuilding)
        self.affine: dict[str, str] = {}  # batch id -> the writer that built its parent batch
        self.progress = threading.Condition(self.lock)

    def _own(self, batch_id: str, wid: str) -> None:
        self.owner[batch_id] = wid
        nxt = self.follower.get(batch_id)
        if nxt is not None and nxt not in self.owner:
            self.affine.setdefault(nxt, wid)

    def _free(self, batch_id: str) -> bool:
        return batch_id not in self.done and batch_id not in self.owner

    def next_for(self, wid: str) -> dict[str, Any] | None:
        with self.lock:
            mine = [b for b, w in self.affine.items() if w == wid and self._free(b)]
            if mine:
                self._own(mine[0], wid)
                return self.by_id[mine[0]]
            for batch in self.batches:
                bid = batch["id"]
                if self._free(bid) and self.affine.get(bid, wid) == wid:
                    self._own(bid, wid)
                    return batch
        return None

    def claimed(self, batch_id: str, wid: str) -> None:
        with self.lock:
            self._own(batch_id, wid)

    def others(self, wid: str) -> list[str]:
        """Batches another writer here holds or is the natural builder of: claimed last."""
        with self.lock:
            held = {b for b, w in self.owner.items() if w != wid}
            held |= {b for b, w in self.affine.items() if w != wid and b not in self.owner}
            return sorted(held - self.done)

    def finished(self, batch_id: str) -> None:
        with self.lock:
            self.done.add(batch_id)
            self.progress.notify_all()

    def wait(self, timeout: float) -> None:
        """Until a writer here finishes a batch (its children may be ready), or `timeout`."""
        with self.lock:
            self.progress.wait(timeout)


#: What PostgreSQL says when it has no connection slot left (SQLSTATE 53300).
_NO_SLOTS = ("too many connections", "too many clients", "connection slots are reserved")
OVERLOAD_RULE = "overload backs off within the manifest's backoff, then stops (sessions 7, 19)"


def connect_with_backoff(plan: dict[str, Any], dsn: str, application: str,
                         timeouts: tuple[int, int] | None = None,
                         autocommit: bool = True) -> psycopg.Connection:
    """A connection, retried with jittered backoff while the server has no slot left, up to
    the manifest's `max_retries`; then a RuntimeFailure (the run stops, exit 4)."""
    from seedc.runtime.apply import _backoff

    limit = plan["guards"]["rate_limit"]["backoff"]["max_retries"]
    for attempt in range(limit + 1):
        try:
            if timeouts is None:
                return connect(dsn, autocommit=autocommit, application=application)
            return connect(dsn, autocommit=autocommit, application=application,
                           timeouts=timeouts)
        except GuardRefused as exc:
            if not any(s in exc.message for s in _NO_SLOTS):
                raise
            if attempt == limit:
                raise RuntimeFailure(
                    f"the database has no connection slot for another writer after {limit} "
                    f"retries ({exc.message}); lower --workers", rule=OVERLOAD_RULE) from None
            get_logger("seedc.writers").warning("connect.retry", attempt=attempt + 1)
            time.sleep(_backoff(plan, attempt))
    raise AssertionError("unreachable")


def _timeouts(plan: dict[str, Any]) -> tuple[int, int]:
    t = plan["guards"]["timeouts"]
    return t["statement_ms"], t["lock_ms"]


class _Pool:
    def __init__(self, s: PoolSettings) -> None:
        self.s = s
        self.stop = threading.Event()
        self.failure: str | None = None
        self.lock = threading.Lock()
        self.wids = [f"{worker_id(n)}:{s.run_id[:8]}" for n in range(s.writers)]
        self.batches = {b["id"]: b for b in s.plan["batches"]}
        self.lookahead = _Lookahead(s.plan["batches"], claim_order(s.plan, s.plan["batches"]))
        self.log = get_logger("seedc.writers")

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            self.s.errors.append(exc)
        self.stop.set()

    def _stopping(self) -> str | None:
        return self.failure or self.s.run_failed()

    def heartbeat(self) -> None:
        try:
            with connect(self.s.dsn, autocommit=True, application="seedc-workers",
                         timeouts=(5000, 1000)) as conn:
                set_tenant(conn, self.s.plan["tenant_id"], local=False)
                interval = max(0.2, self.s.worker_ttl_s / 3)
                while not self.stop.wait(interval):
                    live = renew_workers(conn, self.s.run_id, self.wids, self.s.worker_ttl_s)
                    if live < len(self.wids):
                        self.failure = ("a writer's worker lease expired before its heartbeat "
                                        "renewed it; its batch may be taken over")
                        self.stop.set()
                        return
                leave(conn, self.s.run_id, self.wids)
        except psycopg.Error as exc:
            self.failure = f"worker heartbeat lost its connection ({type(exc).__name__})"
            self.stop.set()

    def _lease_low(self, conn: psycopg.Connection) -> bool:
        """Whether the tenant lease is in its last stretch. Every batch holds the lease row
        FOR SHARE, which the coordinator's renewal (an UPDATE, skipped after 1 s of waiting)
        must wait for; with several writers the row may never be free. So every writer, in
        every process, starts no new batch while the lease runs low: the batches in flight
        end, the renewal goes through, the writers resume."""
        proof = self.s.proof
        if proof is None:
            return False
        row = conn.execute(
            "SELECT extract(epoch FROM expires_at - clock_timestamp()) FROM seedc.leases "
            "WHERE tenant_id = %s AND environment = %s AND run_id = %s",
            (proof.tenant_id, proof.environment, proof.run_id)).fetchone()
        left = float(row[0]) if row is not None else None
        low = left is not None and left < self.s.lease_floor_s
        if low:
            self.log.info("writers.lease_pause", seconds_left=round(left or 0.0, 1))
        return low

    def _prebuild(self, builder: _Builder, wid: str) -> None:
        with self.lookahead.lock:
            builder.discard(self.lookahead.done)
        if builder.can_prebuild():
            nxt = self.lookahead.next_for(wid)
            if nxt is not None:
                builder.prebuild(nxt)

    def writer(self, wid: str) -> None:
        s = self.s
        builder: _Builder | None = None
        try:
            with connect_with_backoff(s.plan, s.dsn, "seedc-claims") as claims, \
                    connect_with_backoff(s.plan, s.dsn, "seedc-writer", _timeouts(s.plan),
                                         autocommit=False) as work:
                work.isolation_level = IsolationLevel.SERIALIZABLE
                set_tenant(claims, s.plan["tenant_id"], local=False)
                set_tenant(work, s.plan["tenant_id"], local=False)
                work.commit()
                pacer = Pacer(claims, s.plan, s.run_id)
                builder = _Builder(s.plan, s.key)
                while not self.stop.is_set():
                    reason = self._stopping()
                    if reason:
                        raise RuntimeFailure(f"{reason}; stopped before the next batch")
                    closed = window_closed(s.plan, s.now())
                    if closed:
                        raise RuntimeFailure(closed, rule=WINDOW_CLOSED_RULE)
                    spent = s.over_budget()
                    if spent:
                        raise RuntimeFailure(spent, rule=BUDGET_RULE)
                    if self._lease_low(claims):
                        time.sleep(s.poll_s)
                        continue
                    got = claim(claims, s.run_id, wid, prefer=builder.held(),
                                avoid=self.lookahead.others(wid))
                    if got is None:
                        if open_count(claims, s.run_id) == 0:
                            return
                        self._prebuild(builder, wid)
                        self.lookahead.wait(s.poll_s)
                        continue
                    if got.reclaimed_from:
                        self.log.warning("batch.reclaimed", batch=got.batch_id,
                                         previous=got.reclaimed_from, writer=wid)
                    self.lookahead.claimed(got.batch_id, wid)
                    batch = self.batches[got.batch_id]
                    payload = builder.take(batch)
                    self._prebuild(builder, wid)  # generated while this batch is written
                    pacer.wait(batch["id"], payload.rows)
                    item = s.new_item(batch, payload)
                    s.write(work, batch, payload, item)
                    mark_done(claims, s.run_id, batch["id"])
                    self.lookahead.finished(batch["id"])
                    with self.lock:
                        s.on_written(item, payload)
        except BaseException as exc:  # reported by run_pool, which stops the run
            self.fail(exc)
        finally:
            if builder is not None:
                builder.close()


def run_pool(s: PoolSettings) -> None:
    """Register the writers, run them until the work table is drained or one fails."""
    with connect(s.dsn, autocommit=True, application="seedc-workers") as conn:
        set_tenant(conn, s.plan["tenant_id"], local=False)
        pool = _Pool(s)
        registered = []
        try:
            for wid in pool.wids:
                register_worker(conn, s.plan, s.run_id, wid, s.role, s.worker_ttl_s)
                registered.append(wid)
        except BaseException:
            leave(conn, s.run_id, registered)
            raise
    beat = threading.Thread(target=pool.heartbeat, daemon=True, name="seedc-worker-leases")
    beat.start()
    threads = [threading.Thread(target=pool.writer, args=(wid,), daemon=True,
                                name=f"seedc-writer-{n}") for n, wid in enumerate(pool.wids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pool.stop.set()
    beat.join(timeout=10)
    if s.errors:
        first = next((e for e in s.errors if isinstance(e, SeedcError)), s.errors[0])
        raise first
    if pool.failure:
        raise RuntimeFailure(pool.failure)
