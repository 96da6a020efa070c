"""The run's rate limit, shared by all its writers and pods through the control schema.

A sliding log (`seedc.rate_ledger`): before writing a batch of r rows a writer reserves the
earliest start time t >= now such that the rows already reserved after t - 5 s plus r stay
within `rate * 5`, where rate = min(target_rows_per_second, cap_rows_per_second), then sleeps
until t. Every 5-second window containing t is then within budget, for the whole run, whatever
the number of writers (reservations are serialised by a transaction-scoped advisory lock on the
run). So `cap_rows_per_second` is never exceeded over any 5-second window of batch starts.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import psycopg

from seedc.errors import GuardRefused

__all__ = ["WINDOW_S", "Pacer", "check_pacing"]

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
            # candidates: now, then each time an entry leaves the window
            start = now
            for candidate in [now, *(at + window for at, _ in entries)]:
                if candidate < now:
                    continue
                used = sum(n for at, n in entries if at > candidate - window)
                if used + rows <= self.budget:
                    start = candidate
                    break
            else:  # only reachable for rows > budget, refused before the run
                start = max([now, *(at + window for at, _ in entries)])
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
