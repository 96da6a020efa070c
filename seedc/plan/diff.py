"""Plan vs plan: what a manifest change does, computed as data and rendered separately.

Batches are matched by entity and part (not by their position), rows of inline plans by their
id (first column), so a reviewer sees rows added, removed and, per column, changed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["PlanDiff", "diff_plans", "render_diff_json", "render_diff_text"]

_HEADER_SKIP = frozenset({"batches", "entities", "info", "plan_hash", "program", "estimate"})


@dataclass
class RowChange:
    key: str
    columns: dict[str, list[Any]]  # column -> [old, new]


@dataclass
class BatchDiff:
    batch: str
    entity: str
    change: str  # added | removed | changed
    fields: list[str] = field(default_factory=list)
    rows_added: list[str] = field(default_factory=list)
    rows_removed: list[str] = field(default_factory=list)
    rows_changed: list[RowChange] = field(default_factory=list)


@dataclass
class PlanDiff:
    old_hash: str
    new_hash: str
    header: dict[str, list[Any]]
    entities: dict[str, list[int]]  # entity -> [old rows, new rows]
    batches: list[BatchDiff]

    @property
    def changed(self) -> bool:
        return self.old_hash != self.new_hash or bool(self.header or self.entities
                                                      or self.batches)


def _batch_key(batch: dict[str, Any]) -> str:
    return batch["id"].split("-", 1)[1]


def _header(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for key in sorted(set(old) | set(new)):
        if not prefix and key in _HEADER_SKIP:
            continue
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(_header(a, b, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = [a, b]
    return out


def _rows_by_key(batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cols = batch["columns"]
    return {str(row[0]): dict(zip(cols, row, strict=True)) for row in batch.get("rows") or []}


def _compare_batch(key: str, a: dict[str, Any], b: dict[str, Any]) -> BatchDiff | None:
    fields = [f for f in ("columns", "sql", "row_count", "key_range", "rows_digest",
                          "depends_on", "table", "rows") if a.get(f) != b.get(f)]
    if not fields and a.get("chain_hash") == b.get("chain_hash"):
        return None
    diff = BatchDiff(batch=key, entity=b["entity"], change="changed", fields=fields)
    if a.get("rows") is not None and b.get("rows") is not None:
        old_rows, new_rows = _rows_by_key(a), _rows_by_key(b)
        diff.rows_added = sorted(set(new_rows) - set(old_rows))
        diff.rows_removed = sorted(set(old_rows) - set(new_rows))
        for rk in sorted(set(old_rows) & set(new_rows)):
            cols = {c: [old_rows[rk].get(c), new_rows[rk].get(c)]
                    for c in sorted(set(old_rows[rk]) | set(new_rows[rk]))
                    if old_rows[rk].get(c) != new_rows[rk].get(c)}
            if cols:
                diff.rows_changed.append(RowChange(rk, cols))
    return diff


def diff_plans(old: dict[str, Any], new: dict[str, Any]) -> PlanDiff:
    """The differences between two verified plans."""
    old_b = {_batch_key(b): b for b in old["batches"]}
    new_b = {_batch_key(b): b for b in new["batches"]}
    batches: list[BatchDiff] = []
    for key in sorted(set(old_b) | set(new_b)):
        if key not in new_b:
            batches.append(BatchDiff(key, old_b[key]["entity"], "removed"))
        elif key not in old_b:
            batches.append(BatchDiff(key, new_b[key]["entity"], "added"))
        else:
            found = _compare_batch(key, old_b[key], new_b[key])
            if found is not None:
                batches.append(found)
    rows_old = {e["name"]: e["rows"] for e in old["entities"]}
    rows_new = {e["name"]: e["rows"] for e in new["entities"]}
    entities = {name: [rows_old.get(name, 0), rows_new.get(name, 0)]
                for name in sorted(set(rows_old) | set(rows_new))
                if rows_old.get(name, 0) != rows_new.get(name, 0)}
    return PlanDiff(old["plan_hash"], new["plan_hash"], _header(old, new), entities, batches)


def render_diff_json(diff: PlanDiff) -> str:
    return json.dumps({"changed": diff.changed, **asdict(diff)}, indent=2, sort_keys=True,
                      ensure_ascii=False)


def render_diff_text(diff: PlanDiff, max_rows: int = 20) -> str:
    if not diff.changed:
        return f"no differences ({diff.new_hash})"
    if diff.old_hash == diff.new_hash:
        return "\n".join([f"plan {diff.new_hash} (same recorded hash, different content)",
                          *render_diff_text(
                              PlanDiff("(edited)", diff.new_hash, diff.header, diff.entities,
                                       diff.batches), max_rows).splitlines()[1:]])
    lines = [f"plan {diff.old_hash} -> {diff.new_hash}"]
    for key, (a, b) in diff.header.items():
        lines.append(f"  ~ {key}: {json.dumps(a, ensure_ascii=False)} -> "
                     f"{json.dumps(b, ensure_ascii=False)}")
    for name, (a, b) in diff.entities.items():
        lines.append(f"  {name}: {a} -> {b} rows ({b - a:+d})")
    for batch in diff.batches:
        sign = {"added": "+", "removed": "-", "changed": "~"}[batch.change]
        detail = f" ({', '.join(batch.fields)})" if batch.fields else ""
        lines.append(f"  {sign} batch {batch.batch}{detail}")
        shown = 0
        for rk in batch.rows_added:
            if shown < max_rows:
                lines.append(f"      + row {rk}")
            shown += 1
        for rk in batch.rows_removed:
            if shown < max_rows:
                lines.append(f"      - row {rk}")
            shown += 1
        for change in batch.rows_changed:
            if shown < max_rows:
                cols = "; ".join(f"{c}: {json.dumps(v[0], ensure_ascii=False)} -> "
                                 f"{json.dumps(v[1], ensure_ascii=False)}"
                                 for c, v in change.columns.items())
                lines.append(f"      ~ row {change.key}: {cols}")
            shown += 1
        if shown > max_rows:
            lines.append(f"      … {shown - max_rows} more row change(s) (see --json)")
    return "\n".join(lines)
