"""Concurrency guards in PostgreSQL: a cluster slot (at most 2 runs per environment) and a
tenant/environment lease (one run at a time), both fail-closed (seeds sessions 1, 4, 16).

Both are advisory locks held on one pinned connection, so a dead holder's locks vanish with its
session. Runs above the slot limit wait in `seedc.queue` (oldest first) for at most the queue
TTL (5 minutes) and then are refused. The lease row names the holder and carries a 60-second
TTL renewed by a heartbeat, so the holder is visible and a stale row is taken over.
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

import psycopg

from seedc.errors import GuardRefused

__all__ = ["LeaseSettings", "cluster_slot", "lock_key", "tenant_lease"]

SLOT_CLASS = "seedc-slot"
TENANT_CLASS = "seedc-tenant"


@dataclass(frozen=True)
class LeaseSettings:
    slots: int = 2
    queue_ttl_s: float = 300.0
    lease_ttl_s: int = 60
    lease_wait_s: float = 60.0
    poll_s: float = 0.5


def lock_key(kind: str, name: str) -> int:
    """A stable signed 32-bit advisory-lock key from a name."""
    digest = hashlib.blake2b(f"{kind}/{name}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def holder_name(run_id: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{run_id}"


def _sleep(settings: LeaseSettings) -> None:
    time.sleep(settings.poll_s * (0.5 + random.random()))  # noqa: S311  (jitter, not crypto)


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
            conn.execute("DELETE FROM seedc.queue WHERE run_id = %s", (run_id,))
    try:
        yield slot
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (env_key, slot))


def _holder(conn: psycopg.Connection, tenant_id: str, environment: str) -> str:
    row = conn.execute(
        "SELECT holder, expires_at > clock_timestamp() FROM seedc.leases "
        "WHERE tenant_id = %s AND environment = %s", (tenant_id, environment)).fetchone()
    if row is None:
        return "an unknown holder (no lease row)"
    return f"{row[0]}" + ("" if row[1] else " (lease row expired)")


class _Heartbeat(threading.Thread):
    """Renews the lease row's TTL while the run is alive."""

    def __init__(self, dsn: str, tenant_id: str, environment: str, run_id: str,
                 ttl: int) -> None:
        super().__init__(daemon=True, name="seedc-lease-heartbeat")
        self.dsn, self.tenant_id, self.environment = dsn, tenant_id, environment
        self.run_id, self.ttl = run_id, ttl
        self.stop = threading.Event()
        self.failed: str | None = None

    def run(self) -> None:
        from seedc.runtime.db import connect, set_tenant

        try:
            with connect(self.dsn, autocommit=True, application="seedc-heartbeat") as conn:
                set_tenant(conn, self.tenant_id, local=False)
                while not self.stop.wait(self.ttl / 3):
                    conn.execute(
                        "UPDATE seedc.leases SET expires_at = clock_timestamp() + "
                        "make_interval(secs => %s) WHERE tenant_id = %s AND environment = %s "
                        "AND run_id = %s", (self.ttl, self.tenant_id, self.environment,
                                            self.run_id))
        except Exception as exc:  # reported by the run, which then stops

            self.failed = str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@contextmanager
def tenant_lease(conn: psycopg.Connection, dsn: str, tenant_id: str, environment: str,
                 run_id: str, settings: LeaseSettings) -> Iterator[_Heartbeat]:
    """Serialise runs of one tenant/environment; wait up to lease_wait_s, then name the holder."""
    a, b = lock_key(TENANT_CLASS, environment), lock_key(TENANT_CLASS, tenant_id)
    deadline = time.monotonic() + settings.lease_wait_s
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (a, b)).fetchone()
        if row and row[0]:
            break
        if time.monotonic() >= deadline:
            raise GuardRefused(
                f"tenant {tenant_id} in {environment!r} is being seeded by "
                f"{_holder(conn, tenant_id, environment)}; waited {settings.lease_wait_s:g} s",
                rule="one run per tenant/environment: advisory lock + 60 s lease (sessions 1, 4)")
        _sleep(settings)
    try:
        conn.execute(
            "INSERT INTO seedc.leases (tenant_id, environment, run_id, holder, acquired_at, "
            "expires_at) VALUES (%s, %s, %s, %s, clock_timestamp(), clock_timestamp() + "
            "make_interval(secs => %s)) ON CONFLICT (tenant_id, environment) DO UPDATE SET "
            "run_id = excluded.run_id, holder = excluded.holder, acquired_at = "
            "excluded.acquired_at, expires_at = excluded.expires_at",
            (tenant_id, environment, run_id, holder_name(run_id), settings.lease_ttl_s))
        beat = _Heartbeat(dsn, tenant_id, environment, run_id, settings.lease_ttl_s)
        beat.start()
        try:
            yield beat
        finally:
            beat.stop.set()
            beat.join(timeout=5)
            conn.execute("DELETE FROM seedc.leases WHERE tenant_id = %s AND environment = %s "
                         "AND run_id = %s", (tenant_id, environment, run_id))
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (a, b))
