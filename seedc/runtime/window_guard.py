"""The off-peak window during a run, not only at its start (issue 13, sessions 8 and 17).

Preflight refuses a run outside the window. A run still writing when the window closes stops
before its next batch — never inside one: the batch in flight commits with its checkpoint, the
run ends `aborted` with exit 4 and resumes from the checkpoints in the next window. Every
writer (sequential path, parallel writers, joiners, incremental steps) asks before each batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from seedc.runtime.preflight import window_open

__all__ = ["WINDOW_CLOSED_RULE", "utc_now", "window_closed"]

WINDOW_CLOSED_RULE = ("a run still writing when the window closes stops after the current "
                      "batch (sessions 8, 17)")


def utc_now() -> datetime:
    return datetime.now(UTC)


def window_closed(plan: dict[str, Any], now: datetime) -> str | None:
    """Why no next batch may start (the window has closed), or None while it is open."""
    w = plan["guards"]["window"]
    if window_open(w["start_utc"], w["end_utc"], now):
        return None
    return (f"the off-peak window {w['start_utc']}–{w['end_utc']} UTC closed (now "
            f"{now.astimezone(UTC):%H:%M} UTC): stopped before the next batch")
