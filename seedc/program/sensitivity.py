"""Which columns of an existing row can differ between two programs of the same tenant.

Why: an incremental apply (issue 12) must find the rows a plan change touches without
regenerating every column of every affected batch — a loan's quote (exact finance, CET) costs
a millisecond a row and never depends on how many customers there are. A value is a pure
function of (tenant, environment, entity, row key, column, call site) and of what its
expression reads; it can differ for the same key only if its expression changed, or it reads
(directly or through `row.x`, `parent.x`, `pick_row(T).x`) a parent assignment or a pick whose
entity's count changed, or a column that can differ itself. Anything not understood counts as
"can differ" (conservative).
"""

from __future__ import annotations

from typing import Any

__all__ = ["sensitive_columns"]

_FIXED_NODES = {"lit", "tenant"}


class _Analysis:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = old["entities"], new["entities"]
        self.memo: dict[tuple[str, str], bool] = {}

    def count_changed(self, entity: str) -> bool:
        a, b = self.old.get(entity), self.new.get(entity)
        return a is None or b is None or a.get("count") != b.get("count")

    def entity_changed(self, entity: str) -> bool:
        """Whole-entity settings whose change can move every row's values."""
        a, b = self.old.get(entity), self.new.get(entity)
        if a is None or b is None:
            return True
        fields = ("parent", "pick", "expand", "states", "happy_state", "table")
        return any(a.get(f) != b.get(f) for f in fields)

    def parent_moved(self, entity: str) -> bool:
        """Whether the rows of `entity` can hang from other parent keys than before."""
        spec = self.new[entity]
        parent = spec.get("parent")
        if parent is None:
            return False
        if spec.get("expand"):  # keys carry the parent's ordinal: never moved
            return self.entity_changed(entity)
        return self.count_changed(parent) or self.entity_changed(entity)

    def column(self, entity: str, name: str) -> bool:
        key = (entity, name)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = True  # a cycle (refused at compile anyway) counts as "can differ"
        result = self._column(entity, name)
        self.memo[key] = result
        return result

    def _column(self, entity: str, name: str) -> bool:
        if self.entity_changed(entity):
            return True
        new_cols = {c["name"]: c for c in self.new[entity]["columns"]}
        old_cols = {c["name"]: c for c in self.old[entity]["columns"]}
        if name not in new_cols or old_cols.get(name) != new_cols[name]:
            return True
        return self.node(entity, new_cols[name]["expr"])

    def invariant_column(self, entity: str, name: str) -> bool:
        """Whether every row of `entity` holds the same value in this column (a tenant id,
        a literal, a column of the one-row tenants entity): then which row is read does not
        matter, only whether the expression changed."""
        spec = self.new.get(entity)
        if spec is None:
            return False
        if spec.get("count") == 1 and not self.count_changed(entity):
            return True  # one row: every reference reads it
        cols = {c["name"]: c for c in spec["columns"]}
        return name in cols and self.invariant(entity, cols[name]["expr"], depth=0)

    def invariant(self, entity: str, node: Any, depth: int) -> bool:
        if depth > 32 or not isinstance(node, list) or not node:
            return False
        tag = node[0]
        if tag in _FIXED_NODES:
            return True
        if tag == "col":
            cols = {c["name"]: c for c in self.new[entity]["columns"]}
            return node[1] in cols and self.invariant(entity, cols[node[1]]["expr"], depth + 1)
        if tag == "get":
            row = self.row_of(entity, node[1])
            if row is None:
                return False
            target = row[0]
            spec = self.new.get(target, {})
            if spec.get("count") == 1 and not self.count_changed(target):
                return True
            cols = {c["name"]: c for c in spec.get("columns", [])}
            return node[2] in cols and self.invariant(target, cols[node[2]]["expr"], depth + 1)
        if tag in ("unary", "bin", "if"):
            return all(self.invariant(entity, c, depth + 1) for c in node[1:]
                       if isinstance(c, list))
        return False

    def row_of(self, entity: str, node: Any) -> tuple[str, bool] | None:
        """For a node that gives rows: (their entity, whether the keys can differ)."""
        tag = node[0] if isinstance(node, list) and node else None
        if tag == "parent":
            parent = self.new[entity].get("parent")
            return (parent, self.parent_moved(entity)) if parent else None
        if tag == "parent_of":
            inner = self.row_of(entity, node[1])
            if inner is None:
                return None
            target, moved = inner
            parent = self.new.get(target, {}).get("parent")
            return (parent, moved or self.parent_moved(target)) if parent else None
        if tag == "call" and node[1] == "pick_row":
            arg = node[2][0] if node[2] else None
            if isinstance(arg, list) and arg[:2] == ["lit", "str"] and arg[2] in self.new:
                return arg[2], self.count_changed(arg[2]) or self.entity_changed(arg[2])
        return None

    def node(self, entity: str, node: Any) -> bool:
        if not isinstance(node, list):
            return False
        if not node:
            return False
        tag = node[0]
        if tag in _FIXED_NODES:
            return False
        if tag == "col":
            return self.column(entity, node[1])
        if tag in ("parent", "parent_of") or (tag == "call" and node[1] == "pick_row"):
            row = self.row_of(entity, node)
            return True if row is None else row[1]  # a row value itself: its keys
        if tag == "get":
            row = self.row_of(entity, node[1])
            if row is not None:
                target, moved = row
                if moved and not self.invariant_column(target, node[2]):
                    return True  # another row now, and rows differ in this column
                return self.column(target, node[2])
            return self.node(entity, node[1])
        if tag == "call":
            args, kwargs = node[2], node[3]
            if node[1] == "state" and self.entity_changed(entity):
                return True
            return any(self.node(entity, a) for a in args) or \
                any(self.node(entity, v) for v in kwargs.values())
        if tag == "list":
            return any(self.node(entity, child) for child in node[1])
        if tag in ("unary", "bin", "if"):
            return any(self.node(entity, child) for child in node[1:])
        return True  # unknown: conservative


def sensitive_columns(old_program: dict[str, Any], new_program: dict[str, Any]
                      ) -> dict[str, set[str]]:
    """Per entity of NEW, the columns whose value for an existing key may differ from OLD."""
    analysis = _Analysis(old_program, new_program)
    return {name: {c["name"] for c in spec["columns"] if analysis.column(name, c["name"])}
            for name, spec in new_program["entities"].items()}
