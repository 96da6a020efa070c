"""Delete one tenant's dataset from the plan's tables, children first, one statement per table.

Shared by load/dr re-creation (session 7: a re-run purges and re-creates its dataset) and by
`seedc reset` (session 8: coordinated reseed after drift or a divergent checkpoint). Each table
is emptied of the tenant's rows by one set-based `DELETE … WHERE tenant = current tenant`
(RLS restricts it to the tenant as well), never row by row. Children go before their parents so
no foreign key is violated on the way; how fast a parent's delete is depends on its children's
foreign-key columns being indexed (manifests/schema/0002_fk_indexes.sql), because each deleted
parent row is checked against them.
"""

from __future__ import annotations

from typing import Any

import psycopg

from seedc.runtime.db import plan_rls_setting, set_tenant

__all__ = ["child_first", "purge_tenant"]

_EDGES = """
SELECT cn.nspname || '.' || c.relname, pn.nspname || '.' || p.relname
  FROM pg_constraint f
  JOIN pg_class c ON c.oid = f.conrelid
  JOIN pg_namespace cn ON cn.oid = c.relnamespace
  JOIN pg_class p ON p.oid = f.confrelid
  JOIN pg_namespace pn ON pn.oid = p.relnamespace
 WHERE f.contype = 'f' AND f.conrelid <> f.confrelid
   AND cn.nspname || '.' || c.relname = ANY(%(tables)s)
   AND pn.nspname || '.' || p.relname = ANY(%(tables)s)
"""


def child_first(conn: psycopg.Connection, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's entities ordered so every table comes before the tables it references.

    The order comes from the database's foreign keys (the plan's entity order is parents
    first by construction, and breaks ties), so a foreign key the model does not know about
    still cannot make a purge fail half-way.
    """
    entities = list(reversed(plan["entities"]))
    names = [e["table"] for e in entities]
    parents: dict[str, set[str]] = {name: set() for name in names}
    for child, parent in conn.execute(_EDGES, {"tables": names}).fetchall():
        parents[child].add(parent)
    children: dict[str, set[str]] = {name: set() for name in names}
    for child, refs in parents.items():
        for parent in refs:
            children[parent].add(child)
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    while len(ordered) < len(entities):
        ready = [e for e in entities if e["table"] not in done
                 and children[e["table"]] <= done]
        if not ready:  # a cycle of foreign keys: keep the plan's order for what remains
            ready = [e for e in entities if e["table"] not in done][:1]
        ordered.append(ready[0])
        done.add(ready[0]["table"])
    return ordered


def purge_tenant(conn: psycopg.Connection, plan: dict[str, Any], *,
                 dry_run: bool) -> dict[str, int]:
    """Delete the tenant's rows from every target table, and its checkpoints unless `dry_run`.

    Runs in one transaction on `conn` (a savepoint when the caller already opened one, as a
    dry run does, so its rollback undoes the purge too), under the tenant's RLS context and the
    mode's statement and lock timeouts (session 5), so a held lock fails the purge instead of
    hanging it. Returns the rows deleted per table, children first, then `seedc.checkpoints`.
    """
    timeouts = plan["guards"]["timeouts"]
    deleted: dict[str, int] = {}
    with conn.transaction():
        conn.execute("SELECT set_config('statement_timeout', %s, true), "
                     "set_config('lock_timeout', %s, true)",
                     (str(timeouts["statement_ms"]), str(timeouts["lock_ms"])))
        set_tenant(conn, plan["tenant_id"], local=True, setting=plan_rls_setting(plan))
        for entity in child_first(conn, plan):
            deleted[entity["table"]] = conn.execute(entity["sql"]["purge"]).rowcount
        if not dry_run:
            deleted["seedc.checkpoints"] = conn.execute(
                "DELETE FROM seedc.checkpoints WHERE tenant_id = %s AND environment = %s",
                (plan["tenant_id"], plan["environment"])).rowcount
    return deleted
