"""Text rendering of a plan diff for reviewers: styled lines, plain or coloured by the caller.

Each line is (text, style); the style is a `rich` style name used only on a colour terminal
(`seedc.plan.styled`), so the plain text is exactly what tests and pipes see. Re-chained
batches fold into one line; PII cells are already `[PII]` in the data (session 6).
"""

from __future__ import annotations

import json
from typing import Any

from seedc.plan.diff import EntityChange, PlanDiff

__all__ = ["Line", "limit_lines", "render_diff_lines", "render_diff_text"]

Line = tuple[str, str | None]
_SIGN = {"added": ("+", "green"), "removed": ("-", "red"), "changed": ("~", "yellow")}


def _value(value: Any) -> str:
    return value if value == "[PII]" else json.dumps(value, ensure_ascii=False)


def _entity_lines(name: str, e: EntityChange) -> list[Line]:
    added, removed, changed = e.counts
    head = (f"  {name}: {e.old_rows} -> {e.new_rows} rows ({e.new_rows - e.old_rows:+d}): "
            f"{added} added, {removed} removed, {changed} changed")
    if not e.inline:
        head += " (rows not inline: counts only)"
    lines: list[Line] = [(head, "bold")]
    lines += [(f"      + row {key}", "green") for key in e.added]
    lines += [(f"      - row {key}", "red") for key in e.removed]
    for row in e.changed:
        lines.append((f"      ~ row {row.key}", "yellow"))
        lines += [(f"          {col}: {_value(c.old)} -> {_value(c.new)}", "yellow")
                  for col, c in row.columns.items()]
    return lines


def render_diff_lines(diff: PlanDiff) -> list[Line]:
    """The whole diff, every row listed: header, batches in plan order, then entities."""
    if not diff.changed:
        return [(f"no differences ({diff.new_hash})", "green")]
    if diff.old_hash == diff.new_hash:
        lines: list[Line] = [(f"plan {diff.new_hash} (same recorded hash, different content)",
                              "bold")]
    else:
        lines = [(f"plan {diff.old_hash} -> {diff.new_hash}", "bold")]
    lines += [(f"  ~ {h.field}: {_value(h.old)} -> {_value(h.new)}", "yellow")
              for h in diff.header]
    if diff.batches or diff.rechained:
        lines.append(("batches:", "bold"))
    for b in diff.batches:
        sign, style = _SIGN[b.change]
        detail = f" ({', '.join(b.fields)})" if b.fields else ""
        lines.append((f"  {sign} batch {b.batch}{detail}", style))
    if diff.rechained:
        n = len(diff.rechained)
        lines.append((f"  {n} batch{'es' if n != 1 else ''} re-chained "
                       "(only the chained hash changed)", "dim"))
    if diff.entities:
        lines.append(("entities:", "bold"))
    for name, e in diff.entities.items():
        lines += _entity_lines(name, e)
    return lines


def limit_lines(lines: list[Line], limit: int, see_all: str) -> list[Line]:
    """At most about `limit` lines: every summary line (header, batch, entity) is kept and row
    lines (indented six or more) fill what is left, in order. When cut, a last line says how
    many were left out and how to see them all (never cut silently, issue 11)."""
    if len(lines) <= limit:
        return lines
    summary = sum(1 for text, _ in lines if not text.startswith(" " * 6))
    budget = max(limit - summary, 0)
    kept: list[Line] = []
    for line in lines:
        if not line[0].startswith(" " * 6):
            kept.append(line)
        elif budget:
            kept.append(line)
            budget -= 1
    left = len(lines) - len(kept)
    if not left:
        return kept
    return [*kept,
            (f"… {left} more line{'s' if left != 1 else ''} left out; see all with {see_all}",
             "dim")]


def render_diff_text(diff: PlanDiff) -> str:
    """The diff as plain text."""
    return "\n".join(text for text, _ in render_diff_lines(diff))
