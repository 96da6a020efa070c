"""`seedc breakglass request|approve|list`: the audited way to run by hand outside dev (issue 15).

Each command connects as the database role of its DSN: that role is the requester or the
approver (stamped by the control schema from `session_user`, never taken from an option).
"""

from __future__ import annotations

import json

import click

from seedc.runtime.breakglass import MAX_HOURS, Ticket

__all__ = ["breakglass_group"]


def _connect(dsn: str | None):  # type: ignore[no-untyped-def]
    from seedc.cli import _dsn
    from seedc.runtime.db import connect

    return connect(_dsn(dsn), autocommit=True, application="seedc-breakglass")


def _line(ticket: Ticket, state: str) -> str:
    expires = ticket.expires_at.isoformat(timespec="seconds") if ticket.expires_at else "-"
    return (f"{ticket.id}  {ticket.tenant}/{ticket.environment}  {state:<9}  "
            f"requested by {ticket.requested_by}  approved by {ticket.approved_by or '-'}  "
            f"expires {expires}  reason: {ticket.reason}")


@click.group("breakglass")
def breakglass_group() -> None:
    """Breakglass tickets: one audited manual run outside isolated dev.

    \b
    Examples:
      seedc breakglass request --tenant acme --env staging --reason "INC-123 reseed"
      seedc breakglass approve 6f1c… --dsn "$APPROVER_DSN"
    """


@breakglass_group.command("request")
@click.option("--tenant", required=True, help="The tenant the manual run is for.")
@click.option("--env", "environment", required=True, help="Its environment (ci, staging…).")
@click.option("--reason", required=True, help="Why (an incident or change ticket).")
@click.option("--dsn", help="The database, as the role that will run (the requester).")
@click.option("--json", "as_json", is_flag=True, help="Print the ticket as JSON.")
def request_cmd(tenant: str, environment: str, reason: str, dsn: str | None,
                as_json: bool) -> None:
    """Request a breakglass ticket; a different database role must approve it.

    \b
    Examples:
      seedc breakglass request --tenant acme --env staging --reason "INC-123 reseed"
    """
    from seedc.runtime.breakglass import request

    with _connect(dsn) as conn:
        ticket = request(conn, tenant, environment, reason)
    if as_json:
        click.echo(json.dumps(ticket.as_json(), indent=2, sort_keys=True))
        return
    click.echo(f"breakglass ticket {ticket.id} requested by {ticket.requested_by} for "
               f"{tenant}/{environment}; ask a different role to run "
               f"`seedc breakglass approve {ticket.id}`")


@breakglass_group.command("approve")
@click.argument("ticket_id")
@click.option("--hours", type=float, default=float(MAX_HOURS), show_default=True,
              help=f"How long the ticket stays valid (at most {MAX_HOURS}).")
@click.option("--dsn", help="The database, as the approver's role (not the requester's).")
@click.option("--json", "as_json", is_flag=True, help="Print the ticket as JSON.")
def approve_cmd(ticket_id: str, hours: float, dsn: str | None, as_json: bool) -> None:
    """Approve another role's ticket for at most 4 hours (exit 3 for your own).

    \b
    Examples:
      seedc breakglass approve 6f1c2d3e-0000-4000-8000-000000000000 --hours 1
    """
    from seedc.runtime.breakglass import approve

    with _connect(dsn) as conn:
        ticket = approve(conn, ticket_id, hours)
    if as_json:
        click.echo(json.dumps(ticket.as_json(), indent=2, sort_keys=True))
        return
    assert ticket.expires_at is not None
    click.echo(f"breakglass ticket {ticket.id} approved by {ticket.approved_by} until "
               f"{ticket.expires_at.isoformat(timespec='seconds')}: "
               f"`seedc apply PLAN --breakglass {ticket.id}` (once)")


@breakglass_group.command("list")
@click.option("--tenant", help="Only this tenant.")
@click.option("--env", "environment", help="Only this environment.")
@click.option("--dsn", help="The database holding the seedc schema.")
@click.option("--json", "as_json", is_flag=True, help="Print the tickets as a JSON list.")
def list_cmd(tenant: str | None, environment: str | None, dsn: str | None,
             as_json: bool) -> None:
    """List breakglass tickets, newest first, with their state.

    \b
    Examples:
      seedc breakglass list --tenant acme --json
    """
    from seedc.runtime.breakglass import list_tickets

    with _connect(dsn) as conn:
        now, tickets = list_tickets(conn, tenant, environment)
    if as_json:
        click.echo(json.dumps([{**t.as_json(), "state": t.state(now)} for t in tickets],
                              indent=2, sort_keys=True))
        return
    if not tickets:
        click.echo("no breakglass tickets")
    for t in tickets:
        click.echo(_line(t, t.state(now)))
