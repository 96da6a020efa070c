"""Integrations stay in the sandbox (seeds sessions 8 and 18).

The model declares the application's routing surface (its outbox and the table mapping topics
to sinks); the manifest says what a sandbox sink looks like in its environment. Before the
first write, preflight reads every route that the plan's rows could trigger (the tenant's own
routes and the global ones) and refuses the run when one points outside the sandbox: an event
of a seeded row must never reach a real sink. Read-only; identifiers quoted, values bound.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql

__all__ = ["ROUTING_RULE", "check_routing", "redact_sink"]

ROUTING_RULE = "integrations stay in the sandbox: every route of seeded rows (sessions 8, 18)"

_USERINFO = re.compile(r"(//)[^/@\s]*@")


def redact_sink(sink: str) -> str:
    """A sink as it may be shown: credentials in a URL's user-info never reach a message."""
    shown = _USERINFO.sub(r"\1***@", sink)
    return shown if len(shown) <= 120 else shown[:117] + "…"


def _table(qualified: str) -> sql.Composable:
    schema, _, table = qualified.partition(".")
    return sql.Identifier(schema, table)


def _marker_problem(conn: psycopg.Connection, outbox: dict[str, str]) -> str | None:
    schema, _, table = outbox["table"].partition(".")
    row = conn.execute(
        "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attname = %s AND a.attnum > 0 "
        "AND NOT a.attisdropped", (schema, table, outbox["marker_column"])).fetchone()
    if row is None:
        return (f"outbox {outbox['table']} has no sandbox marker column "
                f"{outbox['marker_column']!r}")
    if row[0] != "boolean":
        return (f"outbox marker {outbox['table']}.{outbox['marker_column']} is {row[0]}, "
                "not boolean")
    return None


def _routes(conn: psycopg.Connection, routes: dict[str, str], topics: list[str],
            tenant_id: str) -> list[tuple[str, str]]:
    query = sql.SQL("SELECT {topic}, {sink} FROM {table} WHERE {topic} = ANY(%s) "
                    "AND ({tenant} IS NULL OR {tenant} = %s) ORDER BY 1, 2").format(
        topic=sql.Identifier(routes["topic_column"]),
        sink=sql.Identifier(routes["sink_column"]),
        tenant=sql.Identifier(routes["tenant_column"]),
        table=_table(routes["table"]))
    return [(str(t), str(s)) for t, s in conn.execute(query, (topics, tenant_id)).fetchall()]


def check_routing(conn: psycopg.Connection, plan: dict[str, Any]) -> tuple[bool, str]:
    """Refuse when the outbox lacks its marker or any triggerable route leaves the sandbox."""
    routing = plan["guards"].get("routing")
    if routing is None:
        return True, "the model declares no integrations"
    topics = list(routing["topics"])
    try:
        with conn.transaction():
            marker = _marker_problem(conn, routing["outbox"])
            found = _routes(conn, routing["routes"], topics, plan["tenant_id"]) if topics else []
    except psycopg.errors.Error as exc:
        return False, (f"cannot read the routes in {routing['routes']['table']}: "
                       f"{exc.diag.message_primary}; a run whose events cannot be checked is "
                       "refused")
    if marker:
        return False, marker
    pattern = re.compile(routing["sink_pattern"])
    outside = [(t, s) for t, s in found if not pattern.match(s)]
    if outside:
        shown = ", ".join(f"{t} -> {redact_sink(s)}" for t, s in outside[:5])
        more = f" (and {len(outside) - 5} more)" if len(outside) > 5 else ""
        return False, (f"{len(outside)} route(s) the tenant's rows could trigger leave the "
                       f"sandbox ({routing['sink_pattern']}): {shown}{more}; point them at a "
                       "sandbox sink first")
    return True, (f"{len(found)} route(s) for {len(topics)} topic(s) stay in the sandbox "
                  f"({routing['sink_pattern']})")
