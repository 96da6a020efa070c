"""The run's time budget (sessions 7, 16): an alert at 80 %, no new batch past 100 %.

The sequential path asks after each batch, parallel writers before each; both share this
clock so the alert is logged once per run and 100 % means the same on every path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from seedc.runtime.telemetry import get_logger

__all__ = ["BUDGET_RULE", "Budget"]

BUDGET_RULE = "abort at 100% of budget (sessions 7, 16)"


class Budget:
    """`exhausted()`: whether `budget.max_seconds` of the run's own work is spent, counted on
    `clock` from `started`; the first call past 80 % logs the alert (thread-safe)."""

    def __init__(self, plan: dict[str, Any], clock: Callable[[], float], started: float) -> None:
        self.max_seconds = plan["guards"]["budget"]["max_seconds"]
        self.clock = clock
        self.started = started
        self._warned = False
        self._lock = threading.Lock()

    def exhausted(self) -> bool:
        spent = self.clock() - self.started
        with self._lock:
            if not self._warned and spent > 0.8 * self.max_seconds:
                self._warned = True
                get_logger("seedc.apply").warning(
                    "budget.80_percent", spent_seconds=round(spent, 1),
                    max_seconds=self.max_seconds)  # alert at 80 % (session 16)
        return spent > self.max_seconds
