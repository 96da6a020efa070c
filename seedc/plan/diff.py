"""Plan vs plan: what a manifest change does, computed as plain data (issue 11).

Batches are matched by entity and part (not by position) and listed in plan order; a batch
whose only change is its chained hash is "re-chained" (an earlier batch changed, session 4's
hash chain), so renderers can fold them into one line. Rows of inline plans are matched per
entity by their logical key (the `id` column, a UUIDv5 of the key), so a reviewer sees rows
added, removed and, for changed rows, the columns that changed. Cells of the entity's `pii`
columns are FPE placeholders (session 6): they are never shown, only `[PII]`.
Rendering lives in `diff_text` and `diff_json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PII_MASK",
    "BatchChange",
    "ColumnChange",
    "EntityChange",
    "HeaderChange",
    "PlanDiff",
    "RowChange",
    "diff_plans",
]

PII_MASK = "[PII]"
_HEADER_SKIP = frozenset({"batches", "entities", "info", "plan_hash", "program", "estimate"})
_BATCH_FIELDS = ("table", "columns", "depends_on", "sql", "row_count", "key_range",
                 "rows_digest", "rows")


@dataclass(frozen=True)
class HeaderChange:
    """One changed header field (dotted path), old and new value."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class BatchChange:
    """A batch added, removed or changed (with the fields that changed)."""

    batch: str
    entity: str
    change: str  # added | removed | changed
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ColumnChange:
    """Old and new cell of one column; both `[PII]` for a PII column."""

    old: Any
    new: Any


@dataclass(frozen=True)
class RowChange:
    """A row present in both plans whose cells differ, by logical key."""

    key: str
    columns: dict[str, ColumnChange]


@dataclass
class EntityChange:
    """Per entity: planned rows before and after, and the keyed row differences.

    `inline` is False when either plan carries no rows (load/dr): counts then come from the
    entities' row counts and no row is named.
    """

    old_rows: int
    new_rows: int
    inline: bool = True
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[RowChange] = field(default_factory=list)

    @property
    def counts(self) -> tuple[int, int, int]:
        """(added, removed, changed), from the counts when rows are not inline."""
        if self.inline:
            return len(self.added), len(self.removed), len(self.changed)
        delta = self.new_rows - self.old_rows
        return max(delta, 0), max(-delta, 0), 0


@dataclass
class PlanDiff:
    """Everything two plans differ in, as data."""

    old_hash: str
    new_hash: str
    header: list[HeaderChange]
    batches: list[BatchChange]
    rechained: list[str]
    entities: dict[str, EntityChange]

    @property
    def changed(self) -> bool:
        return self.old_hash != self.new_hash or bool(
            self.header or self.batches or self.rechained or self.entities)


def _batch_key(batch: dict[str, Any]) -> str:
    return str(batch["id"]).split("-", 1)[1]


def _header(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[HeaderChange]:
    out: list[HeaderChange] = []
    for key in sorted(set(old) | set(new)):
        if not prefix and key in _HEADER_SKIP:
            continue
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_header(a, b, f"{prefix}{key}."))
        else:
            out.append(HeaderChange(f"{prefix}{key}", a, b))
    return out


def _batches(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[BatchChange], list[str]]:
    """Batch changes in the new plan's order, then removed ones in the old plan's order."""
    old_b = {_batch_key(b): b for b in old["batches"]}
    new_keys = {_batch_key(b) for b in new["batches"]}
    changes: list[BatchChange] = []
    rechained: list[str] = []
    for b in new["batches"]:
        key = _batch_key(b)
        a = old_b.get(key)
        if a is None:
            changes.append(BatchChange(key, b["entity"], "added"))
            continue
        fields = tuple(f for f in _BATCH_FIELDS if a.get(f) != b.get(f))
        if fields:
            changes.append(BatchChange(key, b["entity"], "changed", fields))
        elif a.get("chain_hash") != b.get("chain_hash"):
            rechained.append(key)
    changes += [BatchChange(k, a["entity"], "removed") for k, a in old_b.items()
                if k not in new_keys]
    return changes, rechained


def _entity_rows(plan: dict[str, Any], entity: str) -> dict[str, dict[str, Any]] | None:
    """The entity's inline rows by key (the `id` column, else the first), None if not inline."""
    rows: dict[str, dict[str, Any]] = {}
    for batch in plan["batches"]:
        if batch["entity"] != entity:
            continue
        if batch.get("rows") is None:
            return None
        cols = batch["columns"]
        at = cols.index("id") if "id" in cols else 0
        rows.update({str(row[at]): dict(zip(cols, row, strict=True)) for row in batch["rows"]})
    return rows


def _row_change(key: str, a: dict[str, Any], b: dict[str, Any],
                pii: frozenset[str]) -> RowChange | None:
    cols = {c: (ColumnChange(PII_MASK, PII_MASK) if c in pii else ColumnChange(a.get(c), b.get(c)))
            for c in sorted(set(a) | set(b)) if a.get(c) != b.get(c)}
    return RowChange(key, cols) if cols else None


def _entity(old: dict[str, Any], new: dict[str, Any], name: str, old_n: int, new_n: int,
            pii: frozenset[str]) -> EntityChange | None:
    a, b = _entity_rows(old, name), _entity_rows(new, name)
    if a is None or b is None:
        return None if old_n == new_n else EntityChange(old_n, new_n, inline=False)
    change = EntityChange(old_n, new_n,
                          added=[k for k in b if k not in a],
                          removed=[k for k in a if k not in b])
    for key in a.keys() & b.keys():
        row = _row_change(key, a[key], b[key], pii)
        if row is not None:
            change.changed.append(row)
    change.changed.sort(key=lambda r: r.key)
    if not (change.added or change.removed or change.changed) and old_n == new_n:
        return None
    return change


def _pii(*plans: dict[str, Any]) -> dict[str, frozenset[str]]:
    """PII (and encrypted) columns per entity, from either plan: never shown."""
    out: dict[str, set[str]] = {}
    for plan in plans:
        for e in plan["entities"]:
            out.setdefault(e["name"], set()).update(e.get("pii") or [], e.get("encrypted") or [])
    return {k: frozenset(v) for k, v in out.items()}


def diff_plans(old: dict[str, Any], new: dict[str, Any]) -> PlanDiff:
    """The differences between two verified plans; entities in the new plan's order."""
    batches, rechained = _batches(old, new)
    rows_old = {e["name"]: int(e["rows"]) for e in old["entities"]}
    rows_new = {e["name"]: int(e["rows"]) for e in new["entities"]}
    names = [e["name"] for e in new["entities"]]
    names += [n for n in rows_old if n not in rows_new]
    pii = _pii(old, new)
    entities: dict[str, EntityChange] = {}
    for name in names:
        found = _entity(old, new, name, rows_old.get(name, 0), rows_new.get(name, 0), pii[name])
        if found is not None:
            entities[name] = found
    return PlanDiff(old["plan_hash"], new["plan_hash"], _header(old, new), batches, rechained,
                    entities)
