"""Breakglass tickets (issue 15, spec session 5): an audited exception for one manual run.

`request` records who (the database session role) wants to run what (tenant, environment)
and why; `approve` must come from a different role and sets an expiry of at most 4 hours;
`spend_ticket` accepts the ticket once — a single `UPDATE … WHERE used_at IS NULL RETURNING`,
so two runs racing for one ticket cannot both win. The table's trigger (control migration
0008) stamps the roles from `session_user`, so no client can write another role's name.
Every step writes an audit row; a refused spend is audited by the run that presented it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from seedc.errors import GuardRefused, InvalidInput

__all__ = ["BREAKGLASS_RULE", "MAX_HOURS", "Ticket", "approve", "list_tickets", "request",
           "spend_ticket"]

BREAKGLASS_RULE = "breakglass: approved by another role, at most 4 h, used once (session 5)"
MAX_HOURS = 4

_COLUMNS = sql.SQL("id::text, tenant, environment, reason, requested_by, requested_at, "
                   "approved_by, approved_at, expires_at, used_at, used_by_run::text")


@dataclass(frozen=True)
class Ticket:
    id: str
    tenant: str
    environment: str
    reason: str
    requested_by: str
    requested_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    expires_at: datetime | None
    used_at: datetime | None
    used_by_run: str | None

    def state(self, now: datetime) -> str:
        if self.used_at is not None:
            return "used"
        if self.approved_by is None:
            return "requested"
        assert self.expires_at is not None
        return "expired" if self.expires_at <= now else "approved"

    def as_json(self) -> dict[str, Any]:
        def stamp(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {"id": self.id, "tenant": self.tenant, "environment": self.environment,
                "reason": self.reason, "requested_by": self.requested_by,
                "requested_at": stamp(self.requested_at), "approved_by": self.approved_by,
                "approved_at": stamp(self.approved_at), "expires_at": stamp(self.expires_at),
                "used_at": stamp(self.used_at), "used_by_run": self.used_by_run}


def _ticket_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidInput(f"breakglass ticket id {value!r} is not a ticket id (a UUID)",
                           rule=BREAKGLASS_RULE) from None


def _audit(conn: psycopg.Connection, ticket: Ticket, event: str, run_id: str | None = None,
           **detail: Any) -> None:
    conn.execute(
        "INSERT INTO seedc.audit (run_id, tenant, environment, event, rule, detail) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (run_id, ticket.tenant, ticket.environment, event, BREAKGLASS_RULE,
         json.dumps({"ticket": ticket.id, "requested_by": ticket.requested_by,
                     "approved_by": ticket.approved_by, **detail}, sort_keys=True)))


def _get(conn: psycopg.Connection, ticket_id: str) -> Ticket | None:
    row = conn.execute(sql.SQL("SELECT {} FROM seedc.breakglass WHERE id = %s").format(_COLUMNS),
                       (ticket_id,)).fetchone()
    return Ticket(*row) if row else None


def _now(conn: psycopg.Connection) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0]


def request(conn: psycopg.Connection, tenant: str, environment: str, reason: str) -> Ticket:
    """Record a request by the session's role; returns the ticket (not yet usable)."""
    if not reason.strip():
        raise InvalidInput("a breakglass request needs a --reason", rule=BREAKGLASS_RULE)
    if not tenant.strip() or not environment.strip():
        raise InvalidInput("a breakglass request names a --tenant and an --env",
                           rule=BREAKGLASS_RULE)
    with conn.transaction():
        row = conn.execute(sql.SQL(
            "INSERT INTO seedc.breakglass (id, tenant, environment, reason, requested_by, "
            "requested_at) VALUES (%s, %s, %s, %s, '', now()) RETURNING {}").format(_COLUMNS),
            (str(uuid.uuid4()), tenant, environment, reason.strip())).fetchone()
        assert row is not None
        ticket = Ticket(*row)
        _audit(conn, ticket, "breakglass.requested", reason=ticket.reason)
    return ticket


def approve(conn: psycopg.Connection, ticket_id: str, hours: float = MAX_HOURS) -> Ticket:
    """Approve another role's request for `hours` (at most 4); GuardRefused (exit 3) when the
    session's role is the requester, or the ticket is unknown, approved or used already."""
    ticket_id = _ticket_id(ticket_id)
    if not 0 < hours <= MAX_HOURS:
        raise InvalidInput(f"a breakglass approval lasts more than 0 and at most {MAX_HOURS} "
                           f"hours (got {hours:g})", rule=BREAKGLASS_RULE)
    with conn.transaction():
        ticket = _get(conn, ticket_id)
        row = conn.execute("SELECT session_user::text").fetchone()
        assert row is not None
        role = str(row[0])
        problem = None
        if ticket is None:
            problem = f"no breakglass ticket {ticket_id}"
        elif ticket.requested_by == role:
            problem = (f"breakglass ticket {ticket_id} was requested by {role}: it must be "
                       "approved by a different database role")
        elif ticket.approved_by is not None or ticket.used_at is not None:
            problem = f"breakglass ticket {ticket_id} is already {ticket.state(_now(conn))}"
        if problem is None:
            updated = conn.execute(sql.SQL(
                "UPDATE seedc.breakglass SET approved_by = session_user, approved_at = now(), "
                "expires_at = now() + make_interval(secs => %s) WHERE id = %s AND "
                "approved_by IS NULL AND requested_by <> session_user RETURNING {}").format(
                    _COLUMNS),
                (hours * 3600, ticket_id)).fetchone()
            if updated is None:
                problem = f"breakglass ticket {ticket_id} changed meanwhile; check it again"
            else:
                ticket = Ticket(*updated)
                _audit(conn, ticket, "breakglass.approved",
                       expires_at=ticket.expires_at.isoformat() if ticket.expires_at else None)
                return ticket
    if ticket is not None:
        _audit(conn, ticket, "breakglass.refused", by=role, message=problem)
    raise GuardRefused(problem, rule=BREAKGLASS_RULE)


def list_tickets(conn: psycopg.Connection, tenant: str | None = None,
                 environment: str | None = None) -> tuple[datetime, list[Ticket]]:
    """Tickets, newest first (optionally one tenant/environment), with the server's now()."""
    rows = conn.execute(sql.SQL(
        "SELECT {} FROM seedc.breakglass WHERE (%(t)s::text IS NULL OR tenant = %(t)s) "
        "AND (%(e)s::text IS NULL OR environment = %(e)s) ORDER BY requested_at DESC").format(
            _COLUMNS),
        {"t": tenant, "e": environment}).fetchall()
    return _now(conn), [Ticket(*r) for r in rows]


_USABLE = sql.SQL("used_at IS NULL AND approved_by IS NOT NULL AND expires_at > now() "
                  "AND requested_by = %s AND approved_by <> requested_by "
                  "AND tenant = %s AND environment = %s")


def spend_ticket(conn: psycopg.Connection, ticket_id: str, plan: dict[str, Any], role: str,
                 run_id: str | None = None, *, spend: bool = True) -> Ticket:
    """Accept the ticket for this run, once; GuardRefused (exit 3) with the reason otherwise.

    Race-safe: one UPDATE whose WHERE holds every condition, so of two runs only one gets a
    row back; the loser reads the ticket to say why. `spend=False` only checks that the
    ticket is usable (a run that other checks refuse does not use up its ticket).
    """
    ticket_id = _ticket_id(ticket_id)
    params = (ticket_id, role, plan["tenant"], plan["environment"])
    with conn.transaction():
        if spend:
            row = conn.execute(sql.SQL(
                "UPDATE seedc.breakglass SET used_at = now(), used_by_run = %s WHERE id = %s "
                "AND {} RETURNING {}").format(_USABLE, _COLUMNS), (run_id, *params)
            ).fetchone()
            if row is not None:
                _audit(conn, Ticket(*row), "breakglass.used", run_id=run_id, by=role)
        else:
            row = conn.execute(sql.SQL(
                "SELECT {} FROM seedc.breakglass WHERE id = %s AND {}").format(
                    _COLUMNS, _USABLE), params).fetchone()
    if row is not None:
        return Ticket(*row)
    raise GuardRefused(_why_not(conn, ticket_id, plan, role), rule=BREAKGLASS_RULE)


def _why_not(conn: psycopg.Connection, ticket_id: str, plan: dict[str, Any], role: str) -> str:
    """Why the ticket cannot be used by `role` for the plan's tenant and environment."""
    ticket = _get(conn, ticket_id)
    if ticket is None:
        return f"no breakglass ticket {ticket_id}"
    state = ticket.state(_now(conn))
    if (ticket.tenant, ticket.environment) != (plan["tenant"], plan["environment"]):
        return (f"breakglass ticket {ticket_id} is for {ticket.tenant}/{ticket.environment}, "
                f"not {plan['tenant']}/{plan['environment']}")
    if ticket.requested_by != role:
        return (f"breakglass ticket {ticket_id} was requested by {ticket.requested_by}; "
                f"database role {role} cannot use it")
    if state == "requested":
        return f"breakglass ticket {ticket_id} is not approved"
    problem = f"breakglass ticket {ticket_id} is {state}"
    return problem + f" (run {ticket.used_by_run})" if state == "used" else problem
