"""Connections as the runtime needs them: UTC, ISO dates, named, one role.

Session settings make PostgreSQL print values exactly as the plan encodes them (timestamps in
UTC with `+00`, ISO dates), so rows read back compare byte for byte.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from seedc.errors import GuardRefused

__all__ = ["connect", "set_tenant"]

SESSION = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3"


def connect(
    dsn: str, *, autocommit: bool = False, application: str = "seedc"
) -> psycopg.Connection:
    """Open a connection with seedc's session settings; unreachable servers are refusals."""
    try:
        conn = psycopg.connect(dsn, autocommit=True, application_name=application,
                               connect_timeout=10)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreachable"
        raise GuardRefused(f"cannot connect to the database: {first}",
                           rule="the target must be reachable before any write") from None
    conn.execute(SESSION)
    conn.autocommit = autocommit
    return conn


def set_tenant(conn: psycopg.Connection, tenant_id: str, *, local: bool) -> None:
    """Tenant context for RLS: `app.tenant_id`, transaction-local or for the session."""
    conn.execute(sql.SQL("SELECT set_config('app.tenant_id', %s, {})").format(
        sql.Literal(local)), (tenant_id,))
