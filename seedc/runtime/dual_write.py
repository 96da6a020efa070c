"""Dual-read of expand/contract column pairs (seeds session 11).

During a parallel change (expand -> backfill -> contract) the seed writes both the old and the
new column (the compiler emits both from the model's `expand`); this module reads both back
and names the pairs whose values diverge in the tenant's rows, so apply refuses (exit 3) and
`seedc diff --dsn` reports (exit 1) instead of a silent half-migrated dataset. The caller sets
the tenant (RLS); identifiers are quoted, values bound.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from seedc.errors import GuardRefused, RuntimeFailure
from seedc.runtime.db import set_tenant

__all__ = ["DUAL_WRITE_RULE", "diverging_pairs", "diverging_pairs_of", "refuse_diverging_pairs"]

DUAL_WRITE_RULE = "expand/contract pairs hold the same value in both columns (session 11)"


def diverging_pairs(conn: psycopg.Connection, plan: dict[str, Any]) -> list[str]:
    """One line per pair whose old and new columns differ in some of the tenant's rows."""
    out = []
    for entity in plan["entities"]:
        for pair in entity.get("pairs", ()):
            schema, _, table = entity["table"].partition(".")
            query = sql.SQL("SELECT count(*) FROM {t} WHERE {tenant} = %s AND "
                            "{new}::text IS DISTINCT FROM {old}::text").format(
                t=sql.Identifier(schema, table), tenant=sql.Identifier(entity["tenant_column"]),
                new=sql.Identifier(pair["new"]), old=sql.Identifier(pair["old"]))
            row = conn.execute(query, (plan["tenant_id"],)).fetchone()
            count = int(row[0]) if row else 0
            if count:
                out.append(f"{entity['table']}: {pair['old']} and {pair['new']} differ in "
                           f"{count} row(s)")
    return out


def refuse_diverging_pairs(conn: psycopg.Connection, plan: dict[str, Any]) -> None:
    """Before any write: a dataset whose pairs diverge is refused (exit 3)."""
    lines = diverging_pairs(conn, plan)
    if lines:
        raise GuardRefused("expand/contract columns diverge: the old and the new column no "
                           "longer agree; find the writer that updates only one of them",
                           rule=DUAL_WRITE_RULE, details=lines)


def diverging_pairs_of(conn: psycopg.Connection, plan: dict[str, Any]) -> list[str]:
    """`diverging_pairs` in its own transaction under the tenant (for `seedc diff --dsn`)."""
    if not any(e.get("pairs") for e in plan["entities"]):
        return []
    try:
        with conn.transaction():
            set_tenant(conn, plan["tenant_id"], local=True)
            return diverging_pairs(conn, plan)
    except psycopg.Error as exc:
        raise RuntimeFailure(f"cannot read the expand/contract pairs: "
                             f"{exc.diag.message_primary or type(exc).__name__}",
                             rule=DUAL_WRITE_RULE) from None
