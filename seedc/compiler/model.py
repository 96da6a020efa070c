"""Entity models: tables, columns and expressions, shared by many tenants' manifests.

A model is checked on its own (identifiers, types, expressions, references, cycles) before any
manifest uses it; a manifest then supplies counts and state shares.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seedc.compiler.expressions import ExpressionError, Lowered, parse_expression
from seedc.compiler.source import Problems, Source, clip
from seedc.program.cells import parse_sql_type

__all__ = ["ColumnSpec", "EntitySpec", "ModelSpec", "check_identifier", "parse_model"]

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
RESERVED_COLUMNS = frozenset({"parent", "row", "tenant"})
DEFAULT_SCHEMAS = ("app",)
#: The session setting the application's RLS policies read (issue 16: a model may name another).
DEFAULT_RLS_SETTING = "app.tenant_id"
# Never application data: seedc's control schema and PostgreSQL's catalogs (issue 9).
SYSTEM_SCHEMAS = frozenset({"seedc", "information_schema"})


def is_system_schema(name: str) -> bool:
    """seedc's own schema, pg_catalog, pg_toast, pg_temp_*… and information_schema."""
    return name in SYSTEM_SCHEMAS or name.startswith("pg_")


def check_identifier(name: str) -> bool:
    """SQL identifiers seedc accepts: lower-case, unquoted-safe, at most 63 bytes."""
    return bool(IDENTIFIER.fullmatch(name))  # `$` would accept a trailing newline


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    sql_type: str
    nullable: bool
    encrypted: bool
    expr: Lowered
    virtual: bool = False


@dataclass(frozen=True)
class EntitySpec:
    name: str
    schema: str
    table: str
    columns: tuple[ColumnSpec, ...]
    count: int | None
    parent: str | None
    pick: str | None
    expand_count: Lowered | None
    expand_max: int
    states: tuple[str, ...]
    happy_state: str | None
    tenant_column: str = "tenant_id"
    batch_size: int | None = None
    #: (old, new) expand/contract column pairs written together (session 11).
    pairs: tuple[tuple[str, str], ...] = ()

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def stored(self) -> tuple[ColumnSpec, ...]:
        """The columns written to the table (virtual ones only feed other columns)."""
        return tuple(c for c in self.columns if not c.virtual)

    def depends_on(self) -> set[str]:
        """Entities whose rows must exist first (parents and picked rows: foreign keys)."""
        deps = {self.parent} if self.parent else set()
        for column in self.columns:
            deps |= set(column.expr.entities)
        return deps - {self.name}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: int
    entities: dict[str, EntitySpec]
    official_routine: str | None = None
    rls_setting: str = DEFAULT_RLS_SETTING
    #: The integration surface preflight checks against the sandbox (sessions 8, 18).
    routing: dict[str, Any] | None = None


def _lower(
    source: Source, path: tuple[str, ...], text: str, problems: Problems
) -> Lowered | None:
    try:
        return parse_expression(text)
    except ExpressionError as exc:
        line = source.value_line(path) + exc.line - 1
        problems.add(source, line, ".".join(path),
                     f"{exc.message} (expression column {exc.column})")
        return None


def parse_model(source: Source, problems: Problems) -> ModelSpec | None:
    """Typed, checked model; problems are added and None returned when any is found."""
    data: dict[str, Any] = source.data
    before = len(problems.items)
    entities: dict[str, EntitySpec] = {}
    schemas = _application_schemas(source, problems)
    for name, raw in data["entities"].items():
        entity = _parse_entity(source, name, raw, schemas, problems)
        if entity is not None:
            entities[name] = entity
    _check_references(source, entities, problems)
    routing = data.get("routing")
    for name in (routing or {}).get("topics", {}):
        if name not in entities:
            problems.at(source, ("routing", "topics", name),
                        f"{clip(name)} is not an entity of this model")
    if routing is not None:
        _check_outbox_marker(source, data["entities"], entities, routing["outbox"], problems)
    if len(problems.items) > before:
        return None
    routine = data.get("finance", {}).get("official_routine")
    if routine is not None:
        try:
            load_routine(routine)
        except (ImportError, AttributeError, TypeError, LookupError) as exc:
            problems.at(source, ("finance", "official_routine"),
                        f"cannot load {routine!r}: {exc}")
            return None
    setting = data.get("rls", {}).get("setting", DEFAULT_RLS_SETTING)
    return ModelSpec(data["metadata"]["name"], data["metadata"]["version"], entities, routine,
                     setting, routing)


def _check_outbox_marker(source: Source, raw: dict[str, Any], entities: dict[str, EntitySpec],
                         outbox: dict[str, str], problems: Problems) -> None:
    """Events the seed writes to the outbox carry the sandbox marker, literally `true`
    (sessions 8, 18): a consumer can always tell a seeded event from a real one."""
    marker = outbox["marker_column"]
    for name, entity in entities.items():
        if entity.qualified_table != outbox["table"]:
            continue
        column = raw[name]["columns"].get(marker)
        if column is None or column.get("virtual") or str(column.get("expr")).strip() != "true":
            problems.at(source, ("entities", name, "columns"),
                        f"{name} writes the outbox {outbox['table']}: its sandbox marker "
                        f"{marker} must be written as `true` (sessions 8, 18)")


def _application_schemas(source: Source, problems: Problems) -> frozenset[str]:
    """The schemas entities may write to: `application_schemas`, default `app` (issue 9)."""
    schemas = tuple(source.data.get("application_schemas", DEFAULT_SCHEMAS))
    for index, name in enumerate(schemas):
        if is_system_schema(name):
            problems.at(source, ("application_schemas", index),
                        f"{clip(name)} is a system schema (seedc, pg_*, information_schema); "
                        "seed data goes only into application schemas")
    return frozenset(n for n in schemas if not is_system_schema(n))


def load_routine(name: str) -> Callable[[Any], Any]:
    """The official finance routine registered as `name` (never an import path; see
    seedc.finance.routines)."""
    from seedc.finance.routines import load_routine as load_registered

    return load_registered(name).function


def _parse_entity(
    source: Source, name: str, raw: dict[str, Any], schemas: frozenset[str],
    problems: Problems,
) -> EntitySpec | None:
    base = ("entities", name)
    parts = str(raw["table"]).split(".")
    if len(parts) != 2 or not all(check_identifier(p) for p in parts):
        problems.at(source, (*base, "table"),
                    f"{clip(raw['table'])} is not a safe schema.table name (lower-case letters, "
                    "digits and _, each part at most 63 characters)")
        parts = ["invalid", "invalid"]
    elif parts[0] not in schemas:
        listed = ", ".join(sorted(schemas)) or "none"
        problems.at(source, (*base, "table"),
                    f"{clip(raw['table'])} is outside the model's application schemas "
                    f"({listed}); seedc, pg_* and information_schema are never written, others "
                    "must be listed in application_schemas")
    columns: list[ColumnSpec] = []
    pairs: list[tuple[str, str]] = []
    for column, spec in raw["columns"].items():
        path = (*base, "columns", column)
        if not check_identifier(column) or column in RESERVED_COLUMNS:
            problems.at(source, path, f"{clip(column)} is not an allowed column name")
            continue
        virtual = bool(spec.get("virtual", False))
        if virtual and ("type" in spec or spec.get("encrypted")):
            problems.at(source, path, "a virtual column has no type and is never encrypted")
            continue
        if not virtual:
            try:
                parse_sql_type(spec["type"])
            except ValueError as exc:
                problems.at(source, (*path, "type"), str(exc))
                continue
        lowered = _lower(source, (*path, "expr"), spec["expr"], problems)
        if lowered is not None:
            columns.append(ColumnSpec(column, "virtual" if virtual else spec["type"],
                                      bool(spec.get("nullable", False)),
                                      bool(spec.get("encrypted", False)), lowered, virtual))
            pair = _expand_pair(source, path, column, spec, raw["columns"], problems)
            if pair is not None:
                columns.append(pair)
                pairs.append((column, pair.name))
    expand = raw.get("expand")
    expand_count = None
    if expand is not None:
        expand_count = _lower(source, (*base, "expand", "count"), expand["count"], problems)
        if "parent" not in raw:
            problems.at(source, (*base, "expand"), "expand needs a parent")
    if "count" in raw and expand is not None:
        problems.at(source, (*base, "count"), "an expanded entity cannot also have a count")
    states = raw.get("states")
    if states and states["happy"] not in states["values"]:
        problems.at(source, (*base, "states", "happy"),
                    f"happy state {states['happy']!r} is not one of {states['values']}")
    if raw.get("tenant_column", "tenant_id") not in raw["columns"]:
        problems.at(source, (*base, "columns"),
                    f"no tenant column {raw.get('tenant_column', 'tenant_id')!r}: every table is "
                    "tenant-scoped (RLS, session 4); name it with tenant_column")
    if "id" not in raw["columns"]:
        problems.at(source, (*base, "columns"), "every entity needs an id column (its key)")
    return EntitySpec(
        name=name,
        schema=parts[0],
        table=parts[1],
        columns=tuple(columns),
        count=raw.get("count"),
        parent=raw.get("parent"),
        pick=raw.get("pick", "consistent" if raw.get("parent") and not expand else None),
        expand_count=expand_count,
        expand_max=int(expand["max"]) if expand else 0,
        states=tuple(states["values"]) if states else (),
        happy_state=states["happy"] if states else None,
        tenant_column=raw.get("tenant_column", "tenant_id"),
        batch_size=raw.get("batch_size"),
        pairs=tuple(pairs),
    )


def _expand_pair(source: Source, path: tuple[str, ...], old: str, spec: dict[str, Any],
                 declared: dict[str, Any], problems: Problems) -> ColumnSpec | None:
    """The new column of an expand/contract pair: written from the old one (`copy`)."""
    expand = spec.get("expand")
    if expand is None:
        return None
    new = expand["column"]
    if spec.get("virtual") or spec.get("encrypted"):
        problems.at(source, (*path, "expand"), "only a stored, unencrypted column can expand")
        return None
    if new in declared or new in RESERVED_COLUMNS or not check_identifier(new):
        problems.at(source, (*path, "expand", "column"),
                    f"{clip(new)} is already a column or not an allowed name")
        return None
    try:
        parse_sql_type(expand["type"])
    except ValueError as exc:
        problems.at(source, (*path, "expand", "type"), str(exc))
        return None
    lowered = _lower(source, (*path, "expand"), f"row.{old}", problems)
    if lowered is None:
        return None
    return ColumnSpec(new, expand["type"], bool(expand.get("nullable", True)), False, lowered)


def _check_references(
    source: Source, entities: dict[str, EntitySpec], problems: Problems
) -> None:
    for entity in entities.values():
        base = ("entities", entity.name)
        names = {c.name for c in entity.columns}
        if entity.parent is not None and entity.parent not in entities:
            problems.at(source, (*base, "parent"), f"unknown parent entity {entity.parent!r}")
        if entity.parent is not None and entity.expand_count is not None:
            parent = entities.get(entity.parent)
            if parent is not None:
                parent_columns = {c.name for c in parent.columns}
                for ref in sorted(entity.expand_count.columns - parent_columns):
                    problems.at(source, (*base, "expand", "count"),
                                f"row.{ref}: the count is evaluated on the parent row and "
                                f"{parent.name} has no column {ref!r}")
            if parent is not None and parent.expand_count is not None:
                problems.at(source, (*base, "parent"),
                            "an expanded entity's parent must have a count, not expand itself")
        for column in entity.columns:
            path = (*base, "columns", column.name, "expr")
            for ref in sorted(column.expr.columns - names):
                problems.at(source, path, f"row.{ref}: {entity.name} has no column {ref!r}")
            for target in sorted(column.expr.entities - set(entities)):
                problems.at(source, path, f"pick_row({target!r}): unknown entity")
            if column.expr.uses_parent and entity.parent is None:
                problems.at(source, path, f"`parent` used but {entity.name} has no parent")
        _check_column_cycles(source, entity, problems)


def _check_column_cycles(source: Source, entity: EntitySpec, problems: Problems) -> None:
    graph = {c.name: set(c.expr.columns) for c in entity.columns}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*trail[trail.index(nxt):], nxt] if nxt in trail else [node, nxt]
                problems.at(source, ("entities", entity.name, "columns", node, "expr"),
                            "columns refer to each other in a cycle: " + " -> ".join(cycle))
            elif state.get(nxt) is None:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if state.get(name) is None:
            visit(name, [name])
