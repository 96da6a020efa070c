"""Concurrency guards in PostgreSQL: a cluster slot (at most 2 runs per environment) and a
tenant/environment lease (one run at a time), both fail-closed (seeds sessions 1, 4, 16).

Both are advisory locks held on one pinned connection, so a dead holder's locks vanish with its
session. Runs above the slot limit wait in `seedc.queue` (oldest first) for at most the queue
TTL (5 minutes) and then are refused. The lease row names the holder and carries a 60-second
TTL renewed by a heartbeat every 2 s; a renewal only succeeds while the run's control session
still holds the advisory lock, and every batch transaction re-proves the lease
(`assert_lease`), so a lapsed lease can never commit a batch (issue 10 item 2).

Cleanup never hides the error in flight: on a dead connection it is skipped (the server frees
the locks with the session) and its own failures are logged, not raised (issue 10 item 1).
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors

from seedc.errors import GuardRefused, RuntimeFailure
from seedc.runtime.telemetry import get_logger

__all__ = ["Heartbeat", "LeaseProof", "LeaseSettings", "assert_lease", "cluster_slot",
           "lock_key", "quietly", "tenant_lease"]

#: Seconds without any heartbeat answer after which the database counts as unreachable; a
#: renewal answers within its 5 s statement timeout whenever the server and network live.
STALL_S = 10.0

SLOT_CLASS = "seedc-slot"
TENANT_CLASS = "seedc-tenant"
LEASE_RULE = "one run per tenant/environment: advisory lock + 60 s lease (sessions 1, 4)"


@dataclass(frozen=True)
class LeaseSettings:
    slots: int = 2
    queue_ttl_s: float = 300.0
    lease_ttl_s: int = 60
    lease_wait_s: float = 60.0
    poll_s: float = 0.5
    heartbeat_s: float = 2.0  # lease renewal period: a lost lease is noticed within seconds


@dataclass(frozen=True)
class LeaseProof:
    """What proves a run holds its tenant lease: its lease row and the advisory lock held by
    its control session (`backend_pid`)."""

    tenant_id: str
    environment: str
    run_id: str
    backend_pid: int
    keys: tuple[int, int]


def lock_key(kind: str, name: str) -> int:
    """A stable signed 32-bit advisory-lock key from a name."""
    digest = hashlib.blake2b(f"{kind}/{name}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def holder_name(run_id: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{run_id}"


def _sleep(settings: LeaseSettings) -> None:
    time.sleep(settings.poll_s * (0.5 + random.random()))  # noqa: S311  (jitter, not crypto)


def quietly(conn: psycopg.Connection, statement: str, params: Any = None) -> bool:
    """Cleanup that must not replace the error in flight: skipped on a dead connection, its
    own failure logged. Returns whether it ran."""
    if conn.closed or conn.broken:
        return False
    try:
        conn.execute(statement, params)
    except psycopg.Error as exc:
        get_logger("seedc.lease").warning("cleanup.failed", sqlstate=exc.sqlstate,
                                          error=type(exc).__name__)
        return False
    return True


# Each statement below holds only while the advisory lock (a, b) is granted to backend `pid`
# in this database: the control session that took the lease is alive.
_PROVE = (
    "SELECT 1 FROM seedc.leases l WHERE l.tenant_id = %(tenant_id)s AND "
    "l.environment = %(environment)s AND l.run_id = %(run_id)s AND "
    "l.expires_at > clock_timestamp() AND "
    "EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted "
    "AND k.pid = %(pid)s AND k.objsubid = 2 AND k.classid = %(a)s::bigint::oid "
    "AND k.objid = %(b)s::bigint::oid AND k.database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())) "
    "FOR SHARE OF l")
_LOCK_ONLY = (
    "SELECT 1 WHERE "
    "EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted "
    "AND k.pid = %(pid)s AND k.objsubid = 2 AND k.classid = %(a)s::bigint::oid "
    "AND k.objid = %(b)s::bigint::oid AND k.database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database()))")
_RENEW = (
    "UPDATE seedc.leases l SET expires_at = clock_timestamp() + "
    "make_interval(secs => %(ttl)s) WHERE l.tenant_id = %(tenant_id)s AND "
    "l.environment = %(environment)s AND l.run_id = %(run_id)s AND "
    "l.expires_at > clock_timestamp() AND "
    "EXISTS (SELECT 1 FROM pg_locks k WHERE k.locktype = 'advisory' AND k.granted "
    "AND k.pid = %(pid)s AND k.objsubid = 2 AND k.classid = %(a)s::bigint::oid "
    "AND k.objid = %(b)s::bigint::oid AND k.database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database()))")


def _proof_params(proof: LeaseProof, ttl: int = 0) -> dict[str, Any]:
    return {"tenant_id": proof.tenant_id, "environment": proof.environment,
            "run_id": proof.run_id, "pid": proof.backend_pid, "ttl": ttl,
            "a": proof.keys[0] & 0xFFFFFFFF, "b": proof.keys[1] & 0xFFFFFFFF}


def assert_lease(conn: psycopg.Connection, proof: LeaseProof, *, lock_row: bool = True) -> None:
    """Inside a batch transaction: the lease row is this run's and unexpired and the control
    session still holds the advisory lock; else RuntimeFailure before anything is written.

    `lock_row` takes the row FOR SHARE, so no other run can take the lease over until this
    transaction ends (a dry run, one long snapshot, checks the advisory lock only).
    """
    if lock_row:
        row = conn.execute(_PROVE, _proof_params(proof)).fetchone()
    else:
        row = conn.execute(_LOCK_ONLY, _proof_params(proof)).fetchone()
    if row is None:
        raise RuntimeFailure(
            "the tenant lease is no longer held by this run (its control session or lease "
            "row is gone or expired); stopped before writing the batch; checkpointed batches "
            "stay; re-run `seedc apply PLAN` in the window to resume",
            rule="a batch commits only under the run's live lease (sessions 1, 4)")


@contextmanager
def cluster_slot(conn: psycopg.Connection, environment: str, tenant: str, run_id: str,
                 settings: LeaseSettings) -> Iterator[int]:
    """Hold one of the environment's slots; queue up to the TTL, then refuse (exit 3)."""
    env_key = lock_key(SLOT_CLASS, environment)

    def try_slot() -> int | None:
        for slot in range(settings.slots):
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (env_key, slot)).fetchone()
            if row and row[0]:
                return slot
        return None

    slot = try_slot()
    if slot is None:
        conn.execute(
            "INSERT INTO seedc.queue (run_id, environment, tenant, holder, expires_at, "
            "backend_pid) VALUES (%s, %s, %s, %s, clock_timestamp() + "
            "make_interval(secs => %s), pg_backend_pid())",
            (run_id, environment, tenant, holder_name(run_id), settings.queue_ttl_s))
        deadline = time.monotonic() + settings.queue_ttl_s
        try:
            while slot is None:
                first = conn.execute(
                    "SELECT run_id::text FROM seedc.queue q WHERE environment = %s "
                    "AND expires_at > clock_timestamp() AND (backend_pid IS NULL OR "
                    "EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = q.backend_pid)) "
                    "ORDER BY enqueued_at, run_id LIMIT 1",
                    (environment,)).fetchone()
                if first and first[0] == run_id:
                    slot = try_slot()
                if slot is None:
                    if time.monotonic() >= deadline:
                        raise GuardRefused(
                            f"no free run slot in environment {environment!r} "
                            f"({settings.slots} runs at most) within the queue TTL of "
                            f"{settings.queue_ttl_s:g} s; retry in the next window",
                            rule="at most 2 concurrent runs per environment, queue TTL 5 min "
                                 "(sessions 1, 16)")
                    _sleep(settings)
        finally:
            quietly(conn, "DELETE FROM seedc.queue WHERE run_id = %s", (run_id,))
    try:
        yield slot
    finally:
        quietly(conn, "SELECT pg_advisory_unlock(%s, %s)", (env_key, slot))


def _holder(conn: psycopg.Connection, tenant_id: str, environment: str) -> str:
    row = conn.execute(
        "SELECT holder, expires_at > clock_timestamp() FROM seedc.leases "
        "WHERE tenant_id = %s AND environment = %s", (tenant_id, environment)).fetchone()
    if row is None:
        return "an unknown holder (no lease row)"
    return f"{row[0]}" + ("" if row[1] else " (lease row expired)")


class Heartbeat(threading.Thread):
    """The run's pulse on its own connection, every `interval` seconds: renews the run row's
    `lease_expires_at` (so a crashed run is seen as abandoned) and, once the tenant lease is
    held, the lease row — only while the control session still holds the advisory lock.

    A renewal that changes no row means the lease was lost or taken: `failed` says why and the
    writer stops before its next batch. A renewal blocked by a batch holding the lease row is
    skipped, not a failure (the batch itself proves the lease).
    """

    def __init__(self, dsn: str, run_id: str, ttl: int, interval: float,
                 stall_s: float = STALL_S) -> None:
        super().__init__(daemon=True, name="seedc-lease-heartbeat")
        self.dsn, self.run_id, self.ttl, self.interval = dsn, run_id, ttl, interval
        self.stop = threading.Event()
        self.failed: str | None = None
        self.proof: LeaseProof | None = None
        self._proof_changed = threading.Event()
        self.stall_s = stall_s
        self.last_answer = time.monotonic()
        self._watched: list[psycopg.Connection] = []

    def watch(self, conn: psycopg.Connection) -> None:
        """Shut this connection's socket if the database stops answering (see `_watchdog`)."""
        self._watched.append(conn)

    def start(self) -> None:
        super().start()
        threading.Thread(target=self._watchdog, daemon=True, name="seedc-stall-watchdog").start()

    def _watchdog(self) -> None:
        """A frozen network path blocks a read forever: the peer's kernel (a proxy, a NAT)
        may still ACK every byte and answer keepalive probes, so TCP keepalives and
        `tcp_user_timeout` never fire. The heartbeat is the run's round trip every `interval`
        seconds; with no answer for `stall_s`, the run's sockets are shut so every blocked read
        returns an error and the run stops (exit 4) instead of hanging (issue 10 item 7)."""
        while not self.stop.wait(0.5):
            silent = time.monotonic() - self.last_answer
            if silent > self.stall_s:
                self.failed = self.failed or (
                    f"the database stopped answering: no heartbeat reply for {silent:.0f} s "
                    "(network path frozen or server hung)")
                for conn in self._watched:
                    _shut_socket(conn)
                return

    def hold(self, proof: LeaseProof | None) -> None:
        """Start (or stop, with None) renewing the tenant lease row."""
        self.proof = proof
        self._proof_changed.set()

    def run(self) -> None:
        from seedc.runtime.db import connect, set_tenant

        try:
            with connect(self.dsn, autocommit=True, application="seedc-heartbeat",
                         timeouts=(5000, 1000)) as conn:
                self.watch(conn)
                while True:
                    if self._proof_changed.is_set():
                        self._proof_changed.clear()
                        if self.proof is not None:
                            set_tenant(conn, self.proof.tenant_id, local=False)
                    self._beat(conn)
                    if self.failed or self.stop.wait(self.interval):
                        return
        except Exception as exc:  # reported by the run, which then stops
            self.failed = (f"lease heartbeat lost its connection ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})")

    def _beat(self, conn: psycopg.Connection) -> None:
        proof = self.proof
        try:
            conn.execute("UPDATE seedc.runs SET lease_expires_at = clock_timestamp() + "
                         "make_interval(secs => %s) WHERE run_id = %s AND status = 'running'",
                         (self.ttl, self.run_id))
            if proof is None:
                return
            cur = conn.execute(_RENEW, _proof_params(proof, self.ttl))
        except (errors.LockNotAvailable, errors.QueryCanceled):
            self.last_answer = time.monotonic()
            return  # a batch holds the lease row FOR SHARE: it proves the lease itself
        self.last_answer = time.monotonic()
        if cur.rowcount == 0 and self.proof is not None:
            self.failed = ("the tenant lease was lost: its control session no longer holds "
                           "the advisory lock, or the lease row expired or was taken over")


def _shut_socket(conn: psycopg.Connection) -> None:
    """Shut the connection's socket from another thread: a read blocked on it returns."""
    try:
        fd = conn.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, psycopg.Error):
        pass  # already closed


@contextmanager
def tenant_lease(conn: psycopg.Connection, dsn: str, tenant_id: str, environment: str,
                 run_id: str, settings: LeaseSettings, *, heartbeat: Heartbeat | None = None,
                 tenant: str | None = None) -> Iterator[Heartbeat]:
    """Serialise runs of one tenant/environment; wait up to lease_wait_s, then name the holder.

    `heartbeat` is the run's (started already); without one, the lease starts its own.
    `tenant` (the slug) names the tenant in messages next to its UUID.
    """
    a, b = lock_key(TENANT_CLASS, environment), lock_key(TENANT_CLASS, tenant_id)
    name = f"{tenant} ({tenant_id})" if tenant else tenant_id
    deadline = time.monotonic() + settings.lease_wait_s
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (a, b)).fetchone()
        if row and row[0]:
            break
        if time.monotonic() >= deadline:
            raise GuardRefused(
                f"tenant {name} in {environment!r} is being seeded by "
                f"{_holder(conn, tenant_id, environment)}; waited {settings.lease_wait_s:g} s",
                rule=LEASE_RULE)
        _sleep(settings)
    own = heartbeat is None
    beat = heartbeat or Heartbeat(dsn, run_id, settings.lease_ttl_s,
                                  min(settings.heartbeat_s, settings.lease_ttl_s / 3))
    try:
        conn.execute(
            "INSERT INTO seedc.leases (tenant_id, environment, run_id, holder, acquired_at, "
            "expires_at) VALUES (%s, %s, %s, %s, clock_timestamp(), clock_timestamp() + "
            "make_interval(secs => %s)) ON CONFLICT (tenant_id, environment) DO UPDATE SET "
            "run_id = excluded.run_id, holder = excluded.holder, acquired_at = "
            "excluded.acquired_at, expires_at = excluded.expires_at",
            (tenant_id, environment, run_id, holder_name(run_id), settings.lease_ttl_s))
        beat.hold(LeaseProof(tenant_id, environment, run_id, conn.info.backend_pid, (a, b)))
        if own:
            beat.start()
        try:
            yield beat
        finally:
            beat.hold(None)
            if own:
                beat.stop.set()
                beat.join(timeout=5)
            quietly(conn, "DELETE FROM seedc.leases WHERE tenant_id = %s AND environment = %s "
                    "AND run_id = %s", (tenant_id, environment, run_id))
    finally:
        quietly(conn, "SELECT pg_advisory_unlock(%s, %s)", (a, b))
