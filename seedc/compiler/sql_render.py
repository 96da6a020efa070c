"""Render the SQL of batches and entities from jinja2 templates.

Identifiers go through the `ident` filter, which refuses anything but lower-case SQL-safe
names and double-quotes what it accepts; values never appear in the text: the tenant id is a
bound parameter and rows stream through COPY.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from seedc.compiler.model import DEFAULT_RLS_SETTING as DEFAULT_SETTING
from seedc.compiler.model import EntitySpec, check_identifier
from seedc.program.cells import parse_sql_type

__all__ = ["UnsafeIdentifier", "batch_sql", "entity_sql", "quote_ident"]


class UnsafeIdentifier(ValueError):
    """An identifier that seedc will not put into SQL."""


def quote_ident(name: str) -> str:
    """Validate and double-quote one identifier."""
    if not check_identifier(name):
        raise UnsafeIdentifier(f"unsafe SQL identifier {name!r}")
    return f'"{name}"'


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("seedc.compiler", "templates"),
        undefined=StrictUndefined,
        autoescape=False,  # noqa: S701  (SQL, not HTML: identifiers are validated by `ident`)
        keep_trailing_newline=False,
    )
    env.filters["ident"] = quote_ident
    env.filters["literal"] = quote_setting
    return env


def _statements(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.strip().splitlines():
        name, _, sql = line.partition(": ")
        out[name.strip()] = sql.strip()
    return out


def _stage_type(sql_type: str) -> str:
    base, length, scale = parse_sql_type(sql_type)
    if base == "varchar":
        return f"varchar({length})"
    if base == "numeric":
        return f"numeric({length},{scale})"
    return base


#: A custom PostgreSQL setting: `prefix.name` (the only form policies can read, issue 16).
SETTING = re.compile(r"[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}")


def quote_setting(name: str) -> str:
    """A validated setting name as a SQL string literal (never user text spliced)."""
    if not SETTING.fullmatch(name):
        raise UnsafeIdentifier(f"unsafe setting name {name!r}")
    return f"'{name}'"


def _context(entity: EntitySpec, tenant_column: str, rls_setting: str) -> dict[str, Any]:
    return {
        "rls_setting": rls_setting,
        "schema": entity.schema,
        "table": entity.table,
        "columns": [c.name for c in entity.stored],
        "encrypted": {c.name for c in entity.stored if c.encrypted},
        "stage_types": {c.name: _stage_type(c.sql_type) for c in entity.stored},
        "stage": f"seedc_stage_{entity.name}"[:63],
        "tenant_column": tenant_column,
    }


def batch_sql(entity: EntitySpec, tenant_column: str,
              rls_setting: str = DEFAULT_SETTING) -> dict[str, str]:
    """The statements one batch runs, by name: context, stage, clear, copy, insert."""
    return _statements(_env().get_template("batch.sql.j2").render(
        **_context(entity, tenant_column, rls_setting)))


def entity_sql(entity: EntitySpec, tenant_column: str,
               rls_setting: str = DEFAULT_SETTING) -> dict[str, str]:
    """The statements per entity: purge and read (verification and drift)."""
    return _statements(_env().get_template("entity.sql.j2").render(
        **_context(entity, tenant_column, rls_setting)))
