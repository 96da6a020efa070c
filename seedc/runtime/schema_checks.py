"""Checks of the target schema that are advice, not guards: unindexed foreign-key columns.

PostgreSQL indexes the referenced side of a foreign key but never the referencing columns. A
load/dr purge or `seedc reset` deletes the tenant's rows child-first; each deleted parent row
then has its referential check look up the child table by those columns, and without an index
that is a full scan per parent row (311k rows took minutes, issue 10). Preflight reports such
columns as a warning: the run is still correct, only slow to purge.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

__all__ = ["unindexed_foreign_keys"]

#: A foreign key is covered when some valid index of the child table has exactly the key's
#: columns as its leading columns, in any order (what the referential check looks up by).
_QUERY = """
SELECT cn.nspname || '.' || c.relname AS child,
       (SELECT string_agg(a.attname, ', ' ORDER BY k.ord)
          FROM unnest(f.conkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.attnum) AS columns,
       pn.nspname || '.' || p.relname AS parent,
       f.conname
  FROM pg_constraint f
  JOIN pg_class c ON c.oid = f.conrelid
  JOIN pg_namespace cn ON cn.oid = c.relnamespace
  JOIN pg_class p ON p.oid = f.confrelid
  JOIN pg_namespace pn ON pn.oid = p.relnamespace
 WHERE f.contype = 'f'
   AND cn.nspname || '.' || c.relname = ANY(%(tables)s)
   AND NOT EXISTS (
       SELECT 1 FROM pg_index i
        WHERE i.indrelid = f.conrelid AND i.indisvalid AND i.indpred IS NULL
          AND i.indnkeyatts >= cardinality(f.conkey)
          AND (SELECT array_agg(x ORDER BY x)
                 FROM unnest((i.indkey::int2[])[0:cardinality(f.conkey) - 1]) AS x)
              = (SELECT array_agg(y ORDER BY y) FROM unnest(f.conkey) AS y))
 ORDER BY child, f.conname
"""


def _qualified(table: str | tuple[str, str]) -> str:
    if isinstance(table, tuple):
        return f"{table[0]}.{table[1]}"
    return table


def unindexed_foreign_keys(conn: psycopg.Connection,
                           tables: Sequence[str | tuple[str, str]]) -> list[str]:
    """One line per foreign key of `tables` whose columns lead no index, sorted.

    `tables` are `schema.table` names (or (schema, table) pairs, as preflight lists them).
    Each line names the child table, its columns and the parent, and says what to do.
    """
    names = sorted({_qualified(t) for t in tables})
    rows = conn.execute(_QUERY, {"tables": names}).fetchall()
    return [f"{child}({columns}) references {parent} without an index on those columns "
            f"(constraint {conname}): purge and reset scan {child} once per deleted "
            f"{parent} row; CREATE INDEX ON {child} ({columns})"
            for child, columns, parent, conname in rows]
