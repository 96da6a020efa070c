"""`seedc compile --check`: is the committed plan exactly what the manifest compiles to?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seedc.errors import DriftFound
from seedc.plan.canonical import plan_hash
from seedc.plan.diff import diff_plans, render_diff_text

__all__ = ["check_plan_file"]


def check_plan_file(path: Path, plan: dict[str, Any], data: bytes) -> None:
    """Raise DriftFound (exit 1) with a summary unless `path` holds exactly `data`."""
    try:
        committed = path.read_bytes()
    except OSError:
        raise DriftFound(f"{path}: committed plan is missing; compile it with -o {path}") from None
    if committed == data:
        return
    try:
        old = json.loads(committed)
        summary = render_diff_text(diff_plans(old, plan)).splitlines()
        if old.get("plan_hash") != plan_hash(old):
            summary.insert(0, "the committed plan's hash does not match its content: "
                              "it was edited by hand")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        summary = ["the committed file is not a readable plan"]
    raise DriftFound(
        f"{path}: committed plan is stale; regenerate it with `seedc compile … -o {path}`",
        details=summary[:40],
    )
