"""Progress for people (one live rich line on a terminal) and a one-screen run summary.

Why rich: a hand-drawn bar that appends instead of redrawing filled a first `seedc demo`
screen with ~83,000 `#` (issue 11). On a terminal the bar is one line redrawn in place
(batches, rows, rows/s, ETA); when stderr is not a terminal nothing is drawn and the final
summary is all a pipeline sees. ``NO_COLOR`` (or ``seedc --no-color``) keeps the line but
without escape sequences: a plain ``\\r`` redraw.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from seedc.runtime.apply import BatchReport, RunReport
from seedc.runtime.telemetry.logs import color_enabled

__all__ = ["Progress", "render_run"]

#: Seconds between two redraws: a fast run must not flood a slow terminal.
_REDRAW_EVERY_S = 0.1


class Progress:
    """The ``on_batch`` callback of a run: one live line per run on a terminal, else silent.

    ``total_rows`` may be 0 (unknown before the plan is compiled, as in `seedc demo`): the
    bar and the ETA then follow batches, which the callback always knows.
    """

    def __init__(self, total_rows: int = 0, stream: TextIO | None = None) -> None:
        self.total_rows = total_rows
        self.rows = 0
        self.busy_s = 0.0  # seconds spent in batches: rows/s as the run summary counts them
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self._last_draw = 0.0
        try:
            self.enabled = bool(self.stream.isatty())
        except (AttributeError, ValueError, OSError):
            self.enabled = False
        self.color = self.enabled and color_enabled(self.stream)
        self._live: Any = None  # rich.progress.Progress while drawing
        self._task: Any = None
        self._plain_open = False
        self._register_close()

    def _register_close(self) -> None:
        """Close with the click command's context, so a failing run ends its line before the
        CLI prints `seedc: …` (the context closes before the group maps the exception)."""
        if not self.enabled:
            return
        import click

        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.call_on_close(self.close)

    def __call__(self, item: BatchReport, done: int, total: int) -> None:
        self.rows += item.rows
        self.busy_s += item.seconds
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last_draw < _REDRAW_EVERY_S:
            return
        self._last_draw = now
        rate = self.rows / self.busy_s if self.busy_s > 0 else 0.0
        if self.color:
            self._draw_rich(done, total, rate)
        else:
            self._draw_plain(done, total, rate, now)
        if done >= total:
            self.close()

    def _draw_rich(self, done: int, total: int, rate: float) -> None:
        if self._live is None:
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            console = Console(file=self.stream)
            self._live = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(bar_width=30),
                TextColumn("{task.completed}/{task.total} batches"),
                TextColumn("{task.fields[rows]:,} rows"),
                TextColumn("{task.fields[rate]:,.0f} rows/s"),
                TextColumn("ETA"), TimeRemainingColumn(),
                console=console, auto_refresh=False, transient=False,
                redirect_stdout=False, redirect_stderr=False)
            self._live.start()
            self._task = self._live.add_task("apply", total=total, rows=0, rate=0.0)
        self._live.update(self._task, completed=done, total=total, rows=self.rows, rate=rate)
        self._live.refresh()

    def _draw_plain(self, done: int, total: int, rate: float, now: float) -> None:
        left = (total - done) * self.busy_s / done if done else 0.0
        line = (f"apply {done}/{total} batches {self.rows:,} rows {rate:,.0f} rows/s "
                f"ETA {left:.0f}s")
        self.stream.write("\r" + line.ljust(72))
        self.stream.flush()
        self._plain_open = True

    def close(self) -> None:
        """End the live line (idempotent): what follows starts on a line of its own."""
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()
        if self._plain_open:
            self._plain_open = False
            self.stream.write("\n")
            self.stream.flush()


def render_run(report: RunReport, plan: dict[str, Any]) -> str:
    """The one-screen summary at the end of a run (plain text: it is also the pipeline's)."""
    written = sum(1 for b in report.batches if b.status in ("written", "would-write"))
    skipped = sum(1 for b in report.batches if b.status == "skipped")
    retries = sum(b.retries for b in report.batches)
    rate = report.rows_written / report.seconds if report.seconds else 0
    checks = ", ".join(f"{c.name} {'ok' if c.ok else 'FAILED'}" for c in report.checks)
    lines = [
        f"{'DRY RUN ' if report.dry_run else ''}{report.status.upper()}: {report.message}",
        f"run {report.run_id}  plan {report.plan_hash}",
        f"tenant {report.tenant}  environment {report.environment}  mode {report.mode}",
        f"batches: {written} {'would be written' if report.dry_run else 'written'}, "
        f"{skipped} already checkpointed, {retries} retries",
        f"rows: {report.rows_written:,} in {report.seconds:.2f} s ({rate:,.0f} rows/s)",
        f"preflight: {checks or '(none ran)'}",
    ]
    if report.dry_run:
        per: dict[str, int] = {}
        for b in report.batches:
            if b.status == "would-write":
                per[b.entity] = per.get(b.entity, 0) + b.rows
        if per:  # an empty "would write:" line says nothing (issue 11)
            lines.append("would write: " + ", ".join(f"{k} {v}" for k, v in per.items()))
    return "\n".join(lines)
