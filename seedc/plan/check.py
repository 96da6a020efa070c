"""`seedc compile --check`: is the committed plan exactly what the manifest compiles to?

"Exactly" means the same plan hash: the hash covers everything apply reads, while the `info`
block (manifest path relative to the working directory, for humans) is outside it, so the
answer is the same from any directory. A stale plan comes with the same diff `seedc diff`
shows, cut only with a line saying how much was left out and how to see it all (issue 11).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedc.errors import DriftFound
from seedc.plan.canonical import plan_hash
from seedc.plan.diff import diff_plans
from seedc.plan.diff_text import Line, limit_lines, render_diff_lines

__all__ = ["MAX_CHECK_LINES", "Stale", "check_plan_file"]

MAX_CHECK_LINES = 60


@dataclass
class Stale:
    """A stale committed plan: the diff lines to show and the error (exit 1) to raise."""

    error: DriftFound
    lines: list[Line] = field(default_factory=list)


def _diff_lines(path: Path, manifest: Path, old: Any, plan: dict[str, Any]) -> list[Line]:
    try:
        lines = render_diff_lines(diff_plans(old, plan))
        if old.get("plan_hash") != plan_hash(old):
            lines.insert(0, ("the committed plan's hash does not match its content: "
                             "it was edited by hand", "red"))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return [("the committed file is not a readable plan", "red")]
    see_all = f"`seedc compile {manifest} -o NEW.plan.json && seedc diff {path} NEW.plan.json`"
    return limit_lines(lines, MAX_CHECK_LINES, see_all)


def check_plan_file(path: Path, plan: dict[str, Any], data: bytes,
                    manifest: Path) -> Stale | None:
    """None when `path` holds the plan `manifest` compiles to, else what to show and raise.

    Byte-identical is up to date; so is a committed plan whose recorded hash is the compiled
    plan's and matches its own content (only `info` differs, e.g. compiled from elsewhere).
    The regenerate hint names `manifest` as given on the command line.
    """
    regenerate = f"regenerate it with `seedc compile {manifest} -o {path}`"
    try:
        committed = path.read_bytes()
    except OSError:
        return Stale(DriftFound(f"{path}: committed plan is missing; {regenerate}"))
    if committed == data:
        return None
    try:
        old = json.loads(committed)
        if (isinstance(old, dict) and old.get("plan_hash") == plan["plan_hash"]
                and plan_hash(old) == old["plan_hash"]):
            return None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        old = None
    unreadable: list[Line] = [("the committed file is not a readable plan", "red")]
    lines = _diff_lines(path, manifest, old, plan) if isinstance(old, dict) else unreadable
    return Stale(DriftFound(f"{path}: committed plan is stale; {regenerate}"), lines)
