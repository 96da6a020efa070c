"""`seedc diff OLD NEW --json`: the plan diff as a documented JSON shape (issue 11).

    {"changed": bool, "old_hash": str, "new_hash": str,
     "header": [{"field": "a.b", "old": …, "new": …}],
     "batches": {"added": [id], "removed": [id], "changed": [{"batch", "entity", "fields"}],
                 "rechained": [id]},
     "entities": {name: {"old_rows": n, "new_rows": n, "inline": bool,
                         "added": n, "removed": n, "changed": n,
                         "added_keys": [key], "removed_keys": [key],
                         "rows": [{"key": key, "columns": {col: {"old": …, "new": …}}}]}}}

Batch ids omit the ordinal prefix (`customers-0001`) so they match across plans; PII cells are
`"[PII]"` (session 6).
"""

from __future__ import annotations

import json
from typing import Any

from seedc.plan.diff import EntityChange, PlanDiff

__all__ = ["diff_as_json", "render_diff_json"]


def _entity(e: EntityChange) -> dict[str, Any]:
    added, removed, changed = e.counts
    return {
        "old_rows": e.old_rows, "new_rows": e.new_rows, "inline": e.inline,
        "added": added, "removed": removed, "changed": changed,
        "added_keys": e.added, "removed_keys": e.removed,
        "rows": [{"key": r.key,
                  "columns": {c: {"old": v.old, "new": v.new} for c, v in r.columns.items()}}
                 for r in e.changed],
    }


def diff_as_json(diff: PlanDiff) -> dict[str, Any]:
    """The diff as JSON-ready data."""
    by_change = {kind: [b.batch for b in diff.batches if b.change == kind]
                 for kind in ("added", "removed")}
    return {
        "changed": diff.changed,
        "old_hash": diff.old_hash,
        "new_hash": diff.new_hash,
        "header": [{"field": h.field, "old": h.old, "new": h.new} for h in diff.header],
        "batches": {
            **by_change,
            "changed": [{"batch": b.batch, "entity": b.entity, "fields": list(b.fields)}
                        for b in diff.batches if b.change == "changed"],
            "rechained": diff.rechained,
        },
        "entities": {name: _entity(e) for name, e in diff.entities.items()},
    }


def render_diff_json(diff: PlanDiff) -> str:
    return json.dumps(diff_as_json(diff), indent=2, ensure_ascii=False)
