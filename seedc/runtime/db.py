"""Connections as the runtime needs them: UTC, ISO dates, named, one role, bounded waits.

Session settings make PostgreSQL print values exactly as the plan encodes them (timestamps in
UTC with `+00`, ISO dates), so rows read back compare byte for byte. Every connection detects a
dead peer in seconds (TCP keepalives and `tcp_user_timeout`), and every statement runs under a
statement and lock timeout, so no step of a run can wait unboundedly (issue 10, session 5).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from seedc.errors import GuardRefused

__all__ = ["CONTROL_TIMEOUTS", "connect", "set_tenant", "set_timeouts"]

SESSION = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3"
#: (statement_ms, lock_ms) for seedc's own short control statements (audit, lease, slot).
CONTROL_TIMEOUTS = (15000, 5000)


def connect(
    dsn: str, *, autocommit: bool = False, application: str = "seedc",
    timeouts: tuple[int, int] | None = CONTROL_TIMEOUTS, connect_timeout: int = 10,
) -> psycopg.Connection:
    """Open a connection with seedc's session settings; unreachable servers are refusals.

    `timeouts` is (statement_ms, lock_ms) for the whole session (None keeps the server's);
    `connect_timeout` bounds the whole connection start, TCP and startup packets alike.
    """
    try:
        # a dead server or network is noticed within ~10 s instead of the kernel's ~2 hours
        conn = psycopg.connect(dsn, autocommit=True, application_name=application,
                               connect_timeout=connect_timeout, keepalives=1, keepalives_idle=5,
                               keepalives_interval=2, keepalives_count=3,
                               tcp_user_timeout=10000)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreachable"
        raise GuardRefused(f"cannot connect to the database: {first}",
                           rule="the target must be reachable before any write") from None
    conn.execute(SESSION)
    if timeouts is not None:
        set_timeouts(conn, *timeouts)
    conn.autocommit = autocommit
    return conn


def set_timeouts(conn: psycopg.Connection, statement_ms: int, lock_ms: int) -> None:
    """Session-level `statement_timeout` and `lock_timeout` (values bound, never spliced)."""
    conn.execute("SELECT set_config('statement_timeout', %s, false), "
                 "set_config('lock_timeout', %s, false)", (str(int(statement_ms)),
                                                           str(int(lock_ms))))
    if not conn.autocommit:
        conn.commit()


def set_tenant(conn: psycopg.Connection, tenant_id: str, *, local: bool,
               setting: str | None = None) -> None:
    """Tenant context for RLS: `app.tenant_id` (seedc's own tables and the demo's policies),
    transaction-local or for the session; plus the application's own setting when its
    policies read another one (a plan's guards.schema.rls_setting, issue 16)."""
    conn.execute(sql.SQL("SELECT set_config('app.tenant_id', %s, {})").format(
        sql.Literal(local)), (tenant_id,))
    if setting and setting != "app.tenant_id":
        conn.execute(sql.SQL("SELECT set_config(%s, %s, {})").format(sql.Literal(local)),
                     (setting, tenant_id))


def plan_rls_setting(plan: dict[str, Any]) -> str | None:
    """The application's RLS setting named by a plan, if not the default."""
    setting = plan.get("guards", {}).get("schema", {}).get("rls_setting")
    return str(setting) if setting else None
