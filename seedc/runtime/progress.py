"""Progress for people (a bar with rows/s and ETA on a terminal) and a one-screen summary."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from seedc.runtime.apply import BatchReport, RunReport

__all__ = ["Progress", "render_run"]


class Progress:
    """Redraws one stderr line per batch when stderr is a terminal; silent otherwise."""

    def __init__(self, total_rows: int, stream: TextIO = sys.stderr) -> None:
        self.total_rows = max(1, total_rows)
        self.rows = 0
        self.stream = stream
        self.started = time.monotonic()
        self.enabled = stream.isatty()

    def __call__(self, item: BatchReport, done: int, total: int) -> None:
        self.rows += item.rows
        if not self.enabled:
            return
        elapsed = max(1e-6, time.monotonic() - self.started)
        rate = self.rows / elapsed
        eta = (self.total_rows - self.rows) / rate if rate else 0.0
        width = 30
        filled = int(width * self.rows / self.total_rows)
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} batches "
                          f"{self.rows:,} rows {rate:,.0f} rows/s ETA {eta:4.0f}s ")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def render_run(report: RunReport, plan: dict[str, Any]) -> str:
    """The one-screen summary at the end of a run."""
    written = sum(1 for b in report.batches if b.status in ("written", "would-write"))
    skipped = sum(1 for b in report.batches if b.status == "skipped")
    retries = sum(b.retries for b in report.batches)
    rate = report.rows_written / report.seconds if report.seconds else 0
    lines = [
        f"{'DRY RUN ' if report.dry_run else ''}{report.status.upper()}: {report.message}",
        f"run {report.run_id}  plan {report.plan_hash}",
        f"tenant {report.tenant}  environment {report.environment}  mode {report.mode}",
        f"batches: {written} {'would be written' if report.dry_run else 'written'}, "
        f"{skipped} already checkpointed, {retries} retries",
        f"rows: {report.rows_written:,} in {report.seconds:.2f} s ({rate:,.0f} rows/s)",
        "preflight: " + ", ".join(f"{c.name} {'ok' if c.ok else 'FAILED'}" for c in report.checks),
    ]
    if report.dry_run:
        per: dict[str, int] = {}
        for b in report.batches:
            if b.status == "would-write":
                per[b.entity] = per.get(b.entity, 0) + b.rows
        lines.append("would write: " + ", ".join(f"{k} {v}" for k, v in per.items()))
    return "\n".join(lines)
