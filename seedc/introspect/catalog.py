"""What the PostgreSQL catalog says about the application tables: columns with their types and
nullability, keys, foreign keys, CHECK constraints, enum labels and row-level security.

Read once into plain dataclasses so that drafting a model and checking one share the same view
of the database (and tests can build catalogs without a server).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg

__all__ = ["Column", "ForeignKey", "Table", "normalise_type", "read_catalog", "rls_setting"]

_LONG_TYPES = {
    "character varying": "varchar",
    "timestamp with time zone": "timestamptz",
}


def normalise_type(formatted: str) -> str:
    """format_type() text in the model's spelling (varchar(11), timestamptz, numeric(14,2))."""
    for long, short in _LONG_TYPES.items():
        if formatted.startswith(long):
            formatted = short + formatted[len(long):]
    return formatted.replace(" ", "")


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    not_null: bool
    generated: bool = False
    identity: bool = False
    has_default: bool = False
    enum_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    target: str            # schema.table
    target_columns: tuple[str, ...]


@dataclass
class Table:
    schema: str
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    uniques: list[tuple[str, ...]] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    rls_enabled: bool = False
    rls_forced: bool = False
    policies: list[str] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       a.attgenerated <> '', a.attidentity <> '', a.atthasdef,
       coalesce((SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
                 WHERE e.enumtypid = a.atttypid), ARRAY[]::name[])
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""

_TABLES = """
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname
"""

_CONSTRAINTS = """
SELECT c.relname, k.contype,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i),
       tn.nspname || '.' || t.relname,
       ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(n, i)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i),
       pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class t ON t.oid = k.confrelid
LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE n.nspname = %s AND k.contype IN ('p', 'u', 'f', 'c')
ORDER BY c.relname, k.conname
"""

_POLICIES = """
SELECT tablename, coalesce(qual, ''), coalesce(with_check, '')
FROM pg_policies WHERE schemaname = %s ORDER BY tablename, policyname
"""


def read_catalog(conn: psycopg.Connection, schemas: list[str]) -> dict[str, Table]:
    """Every ordinary or partitioned table of `schemas`, keyed by schema.table."""
    tables: dict[str, Table] = {}
    for schema in schemas:
        for name, enabled, forced in conn.execute(_TABLES, (schema,)).fetchall():
            tables[f"{schema}.{name}"] = Table(schema, name, rls_enabled=bool(enabled),
                                               rls_forced=bool(forced))
        for row in conn.execute(_COLUMNS, (schema,)).fetchall():
            rel, col, typ, nn, gen, ident, hasdef, labels = row
            tables[f"{schema}.{rel}"].columns[col] = Column(
                col, normalise_type(typ), bool(nn), bool(gen), bool(ident), bool(hasdef),
                tuple(labels))
        for rel, kind, cols, target, tcols, definition in conn.execute(
                _CONSTRAINTS, (schema,)).fetchall():
            table = tables[f"{schema}.{rel}"]
            if kind == "p":
                table.primary_key = tuple(cols)
            elif kind == "u":
                table.uniques.append(tuple(cols))
            elif kind == "f":
                table.foreign_keys.append(ForeignKey(tuple(cols), target, tuple(tcols)))
            else:
                table.checks.append(definition)
        for rel, qual, check in conn.execute(_POLICIES, (schema,)).fetchall():
            if f"{schema}.{rel}" in tables:
                tables[f"{schema}.{rel}"].policies.append(f"{qual} {check}".strip())
    return tables


_SETTING = re.compile(r"current_setting\('([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)'")


def rls_setting(tables: dict[str, Table]) -> str | None:
    """The session setting the policies compare rows with (`current_setting('app.tenant_id')`
    in the demo; a foreign schema may use another name)."""
    for table in tables.values():
        for policy in table.policies:
            m = _SETTING.search(policy)
            if m:
                return m.group(1)
    return None
