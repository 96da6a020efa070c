"""Draft a seedc model (and a manifest skeleton) from a catalog read by `catalog.py`.

Every guess is written next to the column as a YAML comment saying why, so a reviewer reads
the draft like a diff: tenant column by foreign key to the tenant table (or by name), parent and
pick_row from foreign keys, pick() from CHECK ... IN lists and enum labels, PII generators from
column names, values unique by construction where a UNIQUE constraint asks for it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from seedc.introspect.catalog import Column, Table

__all__ = ["Draft", "DraftError", "draft_model", "render_manifest", "render_model"]

SUPPORTED = re.compile(r"^(uuid|text|date|timestamptz|boolean|smallint|integer|bigint|"
                       r"varchar\(\d+\)|numeric\(\d+,\d+\))$")
TENANT_NAMES = ("tenant_id", "tenant", "org_id", "organization_id", "account_id")
_IN_LIST = re.compile(r"\(+\(?([a-z_][a-z0-9_]*)\)?(?:::\w+(?: \w+)?)?\s*=\s*ANY\s*"
                      r"\(+ARRAY\[(.*?)\]")
_LITERAL = re.compile(r"'((?:[^']|'')*)'")


class DraftError(Exception):
    """The catalog cannot be drafted without a decision (a cycle, no tenant table...)."""


@dataclass
class DraftColumn:
    name: str
    sql_type: str
    expr: str
    why: str
    nullable: bool = False
    encrypted: bool = False


@dataclass
class DraftEntity:
    name: str
    table: Table
    tenant_column: str
    parent: str | None
    count: int | None
    columns: list[DraftColumn] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pick: str | None = None  # how rows pick their parent, when not the default


@dataclass
class Draft:
    entities: list[DraftEntity]
    skipped: list[str]
    schemas: list[str]
    rls_setting: str | None


def _quote(text: str) -> str:
    return json.dumps(text)


def _in_lists(table: Table) -> dict[str, list[str]]:
    """Column -> allowed values, from CHECK (col IN ('a', 'b')) (as PostgreSQL prints it)."""
    out: dict[str, list[str]] = {}
    for check in table.checks:
        m = _IN_LIST.search(check)
        if m and m.group(1) in table.columns:
            out[m.group(1)] = [v.replace("''", "'") for v in _LITERAL.findall(m.group(2))]
    return out


def _tenant_table(tables: dict[str, Table], wanted: str | None) -> Table:
    if wanted is not None:
        if wanted not in tables:
            raise DraftError(f"tenant table {wanted} is not among the introspected tables")
        return tables[wanted]
    for name in ("tenants", "tenant", "organizations", "orgs"):
        for table in tables.values():
            if table.name == name:
                return table
    raise DraftError("no tenant table found (tenants, organizations...): name it with "
                     "--tenant-table schema.table")


def _tenant_column(table: Table, tenant: Table, override: str | None) -> str | None:
    if override and override in table.columns:
        return override
    for fk in table.foreign_keys:
        if fk.target == tenant.qualified and len(fk.columns) == 1:
            return fk.columns[0]
    for name in TENANT_NAMES:
        if name in table.columns:
            return name
    return None


def _nullable(table: Table, columns: tuple[str, ...]) -> bool:
    return all(not table.columns[c].not_null for c in columns)


def _order(tables: list[Table], loose: bool = False) -> list[Table]:
    """Foreign-key order; a cycle through NOT NULL columns is reported with its columns.

    `loose` ignores nullable foreign keys: the cycle they close is broken by leaving them NULL.
    """
    by_name = {t.qualified: t for t in tables}
    done: list[Table] = []
    state: dict[str, int] = {}

    def visit(table: Table, trail: list[str]) -> None:
        state[table.qualified] = 1
        for fk in table.foreign_keys:
            target = by_name.get(fk.target)
            if target is None or target is table or (loose and _nullable(table, fk.columns)):
                continue
            if state.get(fk.target) == 1:
                cols = ", ".join(f"{table.qualified}.{c}" for c in fk.columns)
                raise DraftError(f"foreign keys form a cycle ({' -> '.join([*trail, fk.target])})"
                                 f": decide which side is seeded first; columns: {cols}")
            if state.get(fk.target) is None:
                visit(target, [*trail, fk.target])
        state[table.qualified] = 2
        done.append(table)

    for table in sorted(tables, key=lambda t: t.qualified):
        if state.get(table.qualified) is None:
            visit(table, [table.qualified])
    return done


def _unique_columns(table: Table) -> set[str]:
    """Columns that must be unique by construction: the non-foreign-key members of each UNIQUE
    (or primary key) constraint."""
    fk_cols = {c for fk in table.foreign_keys for c in fk.columns}
    out: set[str] = set()
    for cols in [table.primary_key, *table.uniques]:
        free = [c for c in cols if c not in fk_cols]
        out.update(free)
    return out


def _length(sql_type: str) -> int | None:
    m = re.match(r"varchar\((\d+)\)", sql_type)
    return int(m.group(1)) if m else None


_PII: list[tuple[re.Pattern[str], str, int, str]] = [
    # (name pattern, expression, minimum varchar length, why)
    (re.compile(r"(^|_)cpf($|_)"), "cpf()", 11, "named like a CPF"),
    (re.compile(r"(^|_)cnpj($|_)"), "cnpj()", 14, "named like a CNPJ"),
    (re.compile(r"e_?mail"), 'email("u")', 64, "named like an e-mail"),
    (re.compile(r"phone|telefone|celular|mobile"), "phone_mobile()", 11, "named like a phone"),
    (re.compile(r"(^|_)cep($|_)|zip|postal"), "cep()", 9, "named like a CEP"),
    (re.compile(r"street|endereco|address|logradouro"), "street()", 120, "named like a street"),
    (re.compile(r"neighbo|bairro|district"), "neighborhood()", 80, "named like a neighbourhood"),
    (re.compile(r"(^|_)(city|cidade)($|_)"), "city()", 60, "named like a city"),
    (re.compile(r"(^|_)(uf|state_code)($|_)"), "uf()", 2, "named like a UF"),
    (re.compile(r"legal_name|company|razao_social"), "company_name()", 120,
     "named like a company name"),
    (re.compile(r"(full_)?name$|(^|_)nome($|_)|first_name|last_name"), "full_name()", 80,
     "named like a person's name"),
]


#: PII generators whose values are distinct per entity (a rotation of the row's ordinal).
_UNIQUE_PII = frozenset({"cpf()", "cnpj()", 'email("u")', "phone_mobile()"})


def _text_expr(column: Column, unique: bool) -> tuple[str, str]:
    length = _length(column.sql_type)
    for pattern, expr, minimum, why in _PII:
        if pattern.search(column.name) and (length is None or length >= minimum):
            if unique and expr not in _UNIQUE_PII:
                continue  # names and places repeat: not for a UNIQUE column
            return expr, why + " (PII generator" + (", unique per entity)" if unique else ")")
    prefix = column.name.replace("_", "-")
    if length is None or length >= len(prefix) + 1 + 9:
        return (f'concat("{prefix}-", text(seq(1)))',
                "text: the column name and the row's sequence (unique by construction)")
    return (f'lpad(text(seq(1)), {length}, "0")',
            f"varchar({length}): the row's sequence, zero-padded (unique by construction)")


def _numeric_expr(sql_type: str) -> tuple[str, str]:
    precision, scale = (int(x) for x in sql_type[8:-1].split(","))
    top = min(10 ** (precision - scale) - 1, 1000)
    if scale == 0:
        return f"dec_range(1, {top})", f"{sql_type}: a positive value within its precision"
    zeros = "0" * scale
    return (f"dec_range(1.{zeros}, {top}.{zeros})",
            f"{sql_type}: a positive value within its precision and scale")


def _value_expr(column: Column, unique: bool, choices: list[str] | None) -> tuple[str, str]:
    """The expression and why for a column that is no key and no foreign key."""
    if choices:
        return (f"pick([{', '.join(_quote(v) for v in choices)}])",
                "CHECK ... IN list: one of the allowed values")
    if column.enum_labels:
        return (f"pick([{', '.join(_quote(v) for v in column.enum_labels)}])",
                "enum type: one of its labels")
    t = column.sql_type
    if t == "uuid":
        return "key_uuid()", "uuid: UUIDv5 of the row's logical key"
    if t in ("smallint", "integer", "bigint"):
        if unique:
            return "seq(1)", f"{t} in a UNIQUE constraint: the row's sequence"
        return "int_range(1, 100)", f"{t}: a small positive number"
    if t.startswith("numeric("):
        return _numeric_expr(t)
    if t == "date":
        return ("ref_date() - days(int_range(0, 3650))",
                "date: within ten years before the reference")
    if t == "timestamptz":
        return ("ref_ts() - seconds(int_range(0, 365 * 86400))",
                "timestamptz: within a year before the reference")
    if t == "boolean":
        return "chance(0.5)", "boolean: either"
    return _text_expr(column, unique)


_KEY_BITS = {"smallint": 15, "integer": 31, "bigint": 63}

_TENANT_FIELDS = {"slug": "tenant.slug", "name": "tenant.name",
                  "environment": "tenant.environment"}


def draft_model(tables: dict[str, Table], tenant_table: str | None = None,
                tenant_column: str | None = None, count: int = 10) -> Draft:
    """The draft of every tenant-scoped table; tables without a tenant column are skipped (and
    listed) because seedc writes only tenant-scoped rows (RLS, session 4)."""
    tenant = _tenant_table(tables, tenant_table)
    skipped: list[str] = []
    scoped: dict[str, str] = {}
    for table in tables.values():
        if table is tenant:
            continue
        found = _tenant_column(table, tenant, tenant_column)
        if "id" not in table.columns:
            skipped.append(f"{table.qualified}: no id column (seedc keys every row by id)")
        elif found is None:
            skipped.append(f"{table.qualified}: no tenant column (FK to {tenant.qualified} or "
                           f"one of {', '.join(TENANT_NAMES)})")
        elif not table.rls_enabled:
            skipped.append(f"{table.qualified}: row-level security is off, so it is not tenant "
                           "data seedc may write (configuration, e.g. routes; session 4)")
        else:
            scoped[table.qualified] = found
    chosen = [tenant, *(tables[q] for q in scoped)]
    for table in chosen:
        for column in table.columns.values():
            if not column.generated and not SUPPORTED.match(column.sql_type) \
                    and _encrypted_pii(column) is None:
                raise DraftError(f"{table.qualified}.{column.name}: type {column.sql_type} has "
                                 "no generator yet; exclude the table or change the column")
    try:
        ordered = _order(chosen)
    except DraftError as strict:
        try:
            ordered = _order(chosen, loose=True)
        except DraftError:
            raise strict from None
    names = {t.qualified: t.name for t in ordered}
    entities: list[DraftEntity] = []
    for table in ordered:
        entities.append(_entity(table, tenant, scoped, names, count))
    from seedc.introspect.catalog import rls_setting

    return Draft(entities, skipped, sorted({t.schema for t in chosen}), rls_setting(tables))


def _entity(table: Table, tenant: Table, scoped: dict[str, str], names: dict[str, str],
            count: int) -> DraftEntity:
    pk = table.primary_key
    if table is tenant:
        entity = DraftEntity(table.name, table, pk[0] if pk else "id", None, 1)
        for col in table.columns.values():
            if col.generated:
                continue
            if col.name == entity.tenant_column:
                expr, why = "tenant.id", "the tenant's key"
            elif col.name in _TENANT_FIELDS:
                expr, why = _TENANT_FIELDS[col.name], "the manifest's tenant " + col.name
            else:
                expr, why = _value_expr(col, False, _in_lists(table).get(col.name))
            entity.columns.append(DraftColumn(col.name, col.sql_type, expr, why, not col.not_null))
        return entity
    tenant_col = scoped[table.qualified]
    before = list(names)[:list(names).index(table.qualified)]
    fks = [fk for fk in table.foreign_keys if fk.target != tenant.qualified
           and fk.target in before]
    left_null: dict[str, str] = {}
    for fk in table.foreign_keys:
        if fk.target == tenant.qualified or fk.target in before:
            continue
        named = ", ".join(f"{table.qualified}.{c}" for c in fk.columns)
        if not _nullable(table, fk.columns):
            what = "itself" if fk.target == table.qualified else f"{fk.target}, not seeded " \
                "before it"
            raise DraftError(f"{named}: NOT NULL foreign key to {what}; decide how to fill it")
        why = ("self-reference" if fk.target == table.qualified else
               f"FK to {fk.target}, seeded later or not at all")
        for name in fk.columns:
            left_null[name] = why + ": left NULL (decide whether to link rows)"
    parent_fk = next((fk for fk in fks if all(table.columns[c].not_null for c in fk.columns)),
                     fks[0] if fks else None)
    parent = names[parent_fk.target] if parent_fk else tenant.name
    entity = DraftEntity(table.name, table, tenant_col, parent, None)
    fk_cols = {c for fk in table.foreign_keys for c in fk.columns} - {tenant_col}
    for unique_cols in table.uniques:
        only_fks = set(unique_cols) - {tenant_col} <= fk_cols
        if unique_cols and only_fks and parent_fk is not None \
                and set(parent_fk.columns) <= set(unique_cols):
            entity.notes.append(f"UNIQUE ({', '.join(unique_cols)}) is made of foreign keys "
                                f"only: keep this entity's count at most {parent}'s "
                                "(one row per parent); pick: round_robin gives each row "
                                "its own parent (a change of the parent's count then moves "
                                "references, see the growth-stability table)")
            entity.pick = "round_robin"
    fk_expr: dict[str, tuple[str, str]] = {}
    for fk in fks:
        target = names[fk.target]
        for name, tcol in zip(fk.columns, fk.target_columns, strict=True):
            if fk is parent_fk:
                fk_expr[name] = (f"parent.{tcol}", f"FK to {fk.target}: the parent row")
            else:
                fk_expr[name] = (f'pick_row("{target}").{tcol}',
                                 f"FK to {fk.target}: a picked row")
    unique = _unique_columns(table)
    choices = _in_lists(table)
    parent_tenant = "id" if parent == tenant.name else None
    for col in table.columns.values():
        if col.generated:
            continue  # left to the database
        if col.name == tenant_col:
            if parent_tenant:
                expr, why = "parent.id", "tenant column: FK to the tenant table"
            else:
                expr, why = (f"parent.{_parent_tenant_column(parent_fk, scoped)}",
                             "tenant column: the parent row's tenant")
        elif col.name in fk_expr:
            expr, why = fk_expr[col.name]
        elif col.name in left_null:
            expr, why = "null", left_null[col.name]
        elif col.name in pk and col.sql_type == "uuid":
            expr, why = "key_uuid()", "primary key: UUIDv5 of the row's logical key"
        elif col.name in pk and col.sql_type in _KEY_BITS:
            expr, why = (f"key_int({_KEY_BITS[col.sql_type]})",
                         f"{col.sql_type} primary key: hashed from the row's logical key "
                         "(stable for drift and resume, never the database's sequence)")
        elif (pii := _encrypted_pii(col)) is not None:
            expr, why = pii[0], pii[1] + "; bytea: encrypted at rest (encrypted: true)"
            entity.columns.append(DraftColumn(col.name, "text", expr, why, not col.not_null,
                                              encrypted=True))
            continue
        else:
            expr, why = _value_expr(col, col.name in unique, choices.get(col.name))
        entity.columns.append(DraftColumn(col.name, col.sql_type, expr, why, not col.not_null))
    return entity


def _encrypted_pii(column: Column) -> tuple[str, str] | None:
    """A bytea column named like PII: the PII generator, written through encrypt_pii()."""
    if column.sql_type != "bytea":
        return None
    for pattern, expr, _minimum, why in _PII:
        if pattern.search(column.name):
            return expr, why + " (PII generator)"
    return None


def _parent_tenant_column(fk: object, scoped: dict[str, str]) -> str:
    target = getattr(fk, "target", "")
    return scoped.get(target, "tenant_id")


def render_model(draft: Draft, name: str) -> str:
    """The model as YAML text, with the reason for every guess as a comment."""
    lines = [
        "# Drafted by `seedc model init` from the live catalog: review every guessed column",
        "# (the comment says why it was guessed), then compile and read the plan.",
    ]
    if draft.rls_setting:
        lines.append(f"# Row-level security policies read current_setting('{draft.rls_setting}').")
    for skipped in draft.skipped:
        lines.append(f"# skipped {skipped}")
    lines += ["apiVersion: seedc/v1", "kind: Model", "metadata:", f"  name: {name}",
              "  version: 1", "  description: Drafted from the database catalog.",
              f"application_schemas: [{', '.join(draft.schemas)}]"]
    if draft.rls_setting and draft.rls_setting != "app.tenant_id":
        lines.append(f"rls: {{setting: {draft.rls_setting}}}  # read by the schema's policies")
    lines += ["", "entities:"]
    for entity in draft.entities:
        lines.extend(f"  # {note}" for note in entity.notes)
        lines.append(f"  {entity.name}:")
        lines.append(f"    table: {entity.table.qualified}")
        if entity.count is not None:
            lines.append(f"    count: {entity.count}")
        if entity.parent:
            lines.append(f"    parent: {entity.parent}")
        if entity.pick:
            lines.append(f"    pick: {entity.pick}")
        lines.append(f"    tenant_column: {entity.tenant_column}")
        lines.append("    columns:")
        for col in entity.columns:
            extra = ", nullable: true" if col.nullable else ""
            extra += ", encrypted: true" if col.encrypted else ""
            lines.append(f"      {col.name}: {{type: {_quote(col.sql_type)}, "
                         f"expr: {_quote(col.expr)}{extra}}}  # {col.why}")
    return "\n".join(lines) + "\n"


def render_manifest(draft: Draft, model_path: str, environment: str, tenant: str,
                    migrations_head: str, flags: list[str], count: int = 10) -> str:
    """A manifest skeleton for one environment and tenant: counts and caps per entity."""
    volumetry = [f"  {e.name}: {{count: {count}, cap: {count * 10}}}"
                 for e in draft.entities if e.count is None]
    isolated = ["  isolated_dev: true"] if environment == "dev" else []
    flag_list = ", ".join(flags)
    return "\n".join([
        "# Drafted by `seedc model init --manifest`: adjust counts and caps, then compile.",
        "apiVersion: seedc/v1",
        "kind: Manifest",
        "metadata:",
        f"  environment: {environment}",
        f"  tenant: {tenant}",
        f"  tenant_name: {_quote(tenant)}",
        "  profile: drafted",
        "  version: 1",
        *isolated,
        "mode: baseline",
        'reference_datetime: "2025-01-01T00:00:00Z"',
        f"model: {model_path}",
        "volumetry:",
        *volumetry,
        "rate_limit:",
        "  target_rows_per_second: 5000",
        "  cap_rows_per_second: 20000",
        "  backoff: {initial_ms: 100, max_ms: 2000, max_retries: 5}",
        'ttl: {load: "7d", dr: "3d"}',
        "budget: {max_rows: 100000, max_bytes: 100000000, max_seconds: 300}",
        'window: {start_utc: "00:00", end_utc: "00:00"}',
        "keys:",
        f"  ref: seedc/{environment}/{tenant}/fpe",
        "  salt_version: 1",
        "  algorithm: FF1",
        f"schema: {{migrations_head: {_quote(migrations_head)}}}",
        f"flags: {{required: [{flag_list}]}}",
        "canary: {enabled: false}",
        "timeouts:",
        "  baseline: {statement_ms: 30000, lock_ms: 5000}",
        "  load:     {statement_ms: 90000, lock_ms: 15000}",
        "  dr:       {statement_ms: 90000, lock_ms: 15000}",
    ]) + "\n"
