"""`seedc compile --check`: is the committed plan exactly what the manifest compiles to?

"Exactly" means the same plan hash: the hash covers everything apply reads, while the `info`
block (manifest path relative to the working directory, for humans) is outside it, so the
answer is the same from any directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seedc.errors import DriftFound
from seedc.plan.canonical import plan_hash
from seedc.plan.diff import diff_plans, render_diff_text

__all__ = ["check_plan_file"]


def check_plan_file(path: Path, plan: dict[str, Any], data: bytes) -> None:
    """Raise DriftFound (exit 1) with a summary unless `path` holds the same plan.

    Byte-identical is up to date; so is a committed plan whose recorded hash is the compiled
    plan's and matches its own content (only `info` differs, e.g. compiled from elsewhere).
    """
    try:
        committed = path.read_bytes()
    except OSError:
        raise DriftFound(f"{path}: committed plan is missing; compile it with -o {path}") from None
    if committed == data:
        return
    try:
        old = json.loads(committed)
        if (isinstance(old, dict) and old.get("plan_hash") == plan["plan_hash"]
                and plan_hash(old) == old["plan_hash"]):
            return
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
