"""Compare what a model (or a plan) expects with the live catalog, finding by finding.

`seedc model check` reports every finding; apply's schema-fingerprint refusal uses
`column_differences` to name the columns behind a fingerprint mismatch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from seedc.compiler.model import ModelSpec
from seedc.introspect.catalog import Table

__all__ = ["Finding", "check_model", "column_differences"]


@dataclass(frozen=True)
class Finding:
    """One difference. kind: missing_table, extra_table, missing_column, extra_column,
    required_column, type_mismatch, nullability_mismatch, rls_setting_mismatch, rls_disabled
    or rls_not_forced."""

    kind: str
    table: str
    column: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def column_differences(expected: dict[str, list[str]],
                       tables: dict[str, Table]) -> list[Finding]:
    """Columns a plan or model names that the catalog lacks, and catalog columns it does not
    name (a NOT NULL one without default is a required field the seed does not cover:
    fail-closed, session 2)."""
    out: list[Finding] = []
    for qualified, columns in sorted(expected.items()):
        table = tables.get(qualified)
        if table is None:
            out.append(Finding("missing_table", qualified, None,
                               f"{qualified}: the table does not exist in the database"))
            continue
        for name in columns:
            if name not in table.columns:
                out.append(Finding("missing_column", qualified, name,
                                   f"{qualified}.{name}: in the model but not in the database "
                                   "(dropped or renamed)"))
        for name, col in table.columns.items():
            if name in columns or col.generated:
                continue
            if col.not_null and not col.has_default and not col.identity:
                out.append(Finding("required_column", qualified, name,
                                   f"{qualified}.{name}: NOT NULL {col.sql_type} without a "
                                   "default and no expression in the model (a required field "
                                   "the seed does not cover)"))
            else:
                out.append(Finding("extra_column", qualified, name,
                                   f"{qualified}.{name}: {col.sql_type} in the database but "
                                   "not in the model"))
    return out


def check_model(model: ModelSpec, tables: dict[str, Table]) -> list[Finding]:
    """Every difference between the model and the catalog of its application schemas."""
    expected = {e.qualified_table: [c.name for c in e.stored] for e in model.entities.values()}
    out = column_differences(expected, tables)
    # the tenant table's own key (id) says nothing: scoped tables are known by their column
    tenant_columns = {e.tenant_column for e in model.entities.values() if e.parent}
    schemas = {e.schema for e in model.entities.values()}
    # the application's integration surface (outbox, routes) is declared, not seeded
    declared = {t["table"] for t in (model.routing or {}).values()
                if isinstance(t, dict) and "table" in t}
    for qualified, table in sorted(tables.items()):
        if qualified not in expected and qualified not in declared and table.schema in schemas \
                and table.rls_enabled and tenant_columns & set(table.columns):
            out.append(Finding("extra_table", qualified, None,
                               f"{qualified}: a tenant-scoped table the model does not seed"))
    for entity in sorted(model.entities.values(), key=lambda e: e.qualified_table):
        found = tables.get(entity.qualified_table)
        if found is None:
            continue
        table = found
        q = entity.qualified_table
        for col in entity.stored:
            actual = table.columns.get(col.name)
            if actual is None:
                continue
            want = "bytea" if col.encrypted else col.sql_type.replace(" ", "")
            if actual.sql_type != want:
                out.append(Finding("type_mismatch", q, col.name,
                                   f"{q}.{col.name}: the model says {want}, the database has "
                                   f"{actual.sql_type}"))
            if actual.not_null == col.nullable:
                say = "NOT NULL" if actual.not_null else "nullable"
                out.append(Finding("nullability_mismatch", q, col.name,
                                   f"{q}.{col.name}: the database column is {say}, the model "
                                   f"says {'nullable' if col.nullable else 'NOT NULL'}"))
        wanted = f"current_setting('{model.rls_setting}'"
        if table.policies and not any(wanted in policy for policy in table.policies):
            out.append(Finding("rls_setting_mismatch", q, None,
                               f"{q}: no policy reads current_setting('{model.rls_setting}'), "
                               "the setting the model gives (rls.setting)"))
        if not table.rls_enabled:
            out.append(Finding("rls_disabled", q, None,
                               f"{q}: row-level security is disabled (every seeded table must "
                               "enable and force it, session 4)"))
        elif not table.rls_forced:
            out.append(Finding("rls_not_forced", q, None,
                               f"{q}: row-level security is enabled but not forced (the table "
                               "owner would bypass it)"))
    return out
