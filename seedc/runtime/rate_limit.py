"""The run's rate limit, shared by all its writers and pods through the control schema.

A sliding log (`seedc.rate_ledger`): before writing a batch of r rows a writer reserves the
earliest start time t >= now such that the rows already reserved after t - 5 s plus r stay
within `rate * 5`, where rate = min(target_rows_per_second, cap_rows_per_second), then sleeps
until t. Every 5-second window containing t is then within budget, for the whole run, whatever
the number of writers (reservations are serialised by a transaction-scoped advisory lock on the
run). So `cap_rows_per_second` is never exceeded over any 5-second window of batch starts.

A sequential run has one writer and no joiners (they need a work table), so `LocalPacer` keeps
the same log in memory: no extra connection or round trip on the sequential path.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import psycopg

from seedc.errors import GuardRefused

__all__ = ["WINDOW_S", "LocalPacer", "Pacer", "check_pacing", "earliest_start"]

WINDOW_S = 5.0
RATE_RULE = "cap_rows_per_second never exceeded over any 5-second window (sessions 7, 15)"


def _rate(plan: dict[str, Any]) -> float:
    limit = plan["guards"]["rate_limit"]
    return float(min(limit["target_rows_per_second"], limit["cap_rows_per_second"]))


def check_pacing(plan: dict[str, Any], batches: list[dict[str, Any]]) -> None:
    """Refuse (exit 3, before any write) a batch larger than one window's budget: it could
    never be written within the cap."""
    budget = _rate(plan) * WINDOW_S
    big = [b["id"] for b in batches if b["row_count"] > budget]
    if big:
        raise GuardRefused(
            f"{len(big)} batch(es) hold more rows than the rate limit allows in 5 s "
            f"({budget:g}): lower batch size or raise rate_limit", rule=RATE_RULE,
            details=big[:5])


def earliest_start(entries: list[tuple[float, int]], now: float, rows: int,
                   budget: float) -> float:
    """The earliest t >= now at which `rows` more rows keep every 5-s window containing t
    within `budget`, given the reservations `entries` (start, rows). Counting every entry
    after t - 5 s (future ones too) covers all windows that contain t."""
    for candidate in sorted([now, *(at + WINDOW_S for at, _ in entries)]):
        if candidate < now:
            continue
        if sum(n for at, n in entries if at > candidate - WINDOW_S) + rows <= budget:
            return candidate
    return max([now, *(at + WINDOW_S for at, _ in entries)])  # rows > budget: window empty


class LocalPacer:
    """The sliding log of a run with one writer, in memory (monotonic clock)."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.budget = _rate(plan) * WINDOW_S
        self.entries: list[tuple[float, int]] = []

    def wait(self, batch_id: str, rows: int) -> float:
        now = time.monotonic()
        self.entries = [(at, n) for at, n in self.entries if at > now - WINDOW_S]
        start = earliest_start(self.entries, now, rows, self.budget)
        self.entries.append((start, rows))
        delay = start - now
        if delay > 0:
            time.sleep(delay)
        return max(0.0, delay)


class Pacer:
    """Reserves start times in the run's ledger; one per writer connection (autocommit)."""

    def __init__(self, conn: psycopg.Connection, plan: dict[str, Any], run_id: str) -> None:
        self.conn, self.run_id, self.tenant_id = conn, run_id, plan["tenant_id"]
        self.budget = _rate(plan) * WINDOW_S

    def reserve(self, batch_id: str, rows: int) -> datetime:
        """The start time reserved for `rows` rows (server clock)."""
        window = timedelta(seconds=WINDOW_S)
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(hashtext('seedc-rate'), "
                              "hashtext(%s))", (self.run_id,))
            now_row = self.conn.execute("SELECT clock_timestamp()").fetchone()
            assert now_row is not None
            now: datetime = now_row[0]
            entries = self.conn.execute(
                "SELECT at, row_count FROM seedc.rate_ledger WHERE run_id = %s AND at > %s "
                "ORDER BY at", (self.run_id, now - window)).fetchall()
            base = now.timestamp()
            at_s = earliest_start([(at.timestamp() - base, n) for at, n in entries], 0.0, rows,
                                  self.budget)
            start = now + timedelta(seconds=at_s)
            self.conn.execute(
                "INSERT INTO seedc.rate_ledger (run_id, tenant_id, at, row_count, batch_id) "
                "VALUES (%s, %s, %s, %s, %s)", (self.run_id, self.tenant_id, start, rows,
                                                batch_id))
        return start

    def wait(self, batch_id: str, rows: int) -> float:
        """Reserve and sleep until the reserved start; returns the seconds slept."""
        start = self.reserve(batch_id, rows)
        row = self.conn.execute("SELECT %s::timestamptz - clock_timestamp()",
                                (start,)).fetchone()
        delay = row[0].total_seconds() if row else 0.0
        if delay > 0:
            time.sleep(delay)
            return float(delay)
        return 0.0
