"""The live dataset of each tenant and environment (`seedc.datasets`), for the TTL purge.

The runtime reads plans, never manifests, and a cron job has no plan file at hand: so a
succeeded apply records what `seedc purge --expired` needs later (sessions 5, 9) — the mode,
the plan's `ttl`, the finish of the run that wrote it (the TTL's origin) and a *spec* of the
plan's tables. The spec holds table and column names only, never SQL text: the purge renders
its DELETE statements from validated, quoted identifiers (psycopg.sql), so nothing stored in a
control table is ever executed as written.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import sql

from seedc.errors import InvalidInput

__all__ = ["forget_dataset", "parse_ttl", "purge_plan", "purge_spec", "record_dataset"]

_TTL = re.compile(r"([0-9]+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")

_RECORD = (
    "INSERT INTO seedc.datasets (tenant_id, environment, tenant, mode, plan_hash, run_id, "
    "finished_at, ttl, spec) SELECT r.tenant_id, r.environment, r.tenant, r.mode, r.plan_hash, "
    "r.run_id, r.finished_at, %(ttl)s, %(spec)s FROM seedc.runs r WHERE r.run_id = %(run_id)s "
    "AND r.status = 'succeeded' AND NOT r.dry_run AND r.finished_at IS NOT NULL "
    "ON CONFLICT (tenant_id, environment) DO UPDATE SET tenant = excluded.tenant, "
    "mode = excluded.mode, plan_hash = excluded.plan_hash, run_id = excluded.run_id, "
    "finished_at = excluded.finished_at, ttl = excluded.ttl, spec = excluded.spec"
)


def parse_ttl(text: str | None) -> timedelta | None:
    """`7d`, `12h` (the manifest's forms) or `30m`; None for a dataset kept until reseeded."""
    if text is None:
        return None
    match = _TTL.fullmatch(str(text))
    if not match:
        raise InvalidInput(f"ttl {text!r}: expected a number and m, h or d (e.g. 7d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def purge_spec(plan: dict[str, Any]) -> dict[str, Any]:
    """What a later purge needs of `plan`: names, timeouts and window; no SQL, no rows."""
    guards = plan["guards"]
    return {
        "plan_hash": plan["plan_hash"],
        "tenant": plan["tenant"],
        "tenant_id": plan["tenant_id"],
        "environment": plan["environment"],
        "mode": plan["mode"],
        "isolated_dev": bool(guards.get("isolated_dev")),
        "pipeline_role": guards.get("pipeline_role"),  # who may purge it (issue 15)
        "rls_setting": (guards.get("schema") or {}).get("rls_setting"),  # issue 16
        "timeouts": dict(guards["timeouts"]),
        "window": dict(guards["window"]),
        "ttl": guards.get("ttl"),
        "entities": [{"table": e["table"], "tenant_column": e["tenant_column"]}
                     for e in plan["entities"]],
    }


def record_dataset(conn: psycopg.Connection, plan: dict[str, Any], run_id: str) -> None:
    """After a succeeded, finished apply: this tenant's dataset is now the one `run_id` wrote.

    Baseline datasets are recorded too (with their mode), so the purge can say why it keeps
    them; a dry run or an unfinished run records nothing (the WHERE clause).
    """
    ttl = parse_ttl(plan["guards"].get("ttl")) if plan["mode"] in ("load", "dr") else None
    from psycopg.types.json import Jsonb

    conn.execute(_RECORD, {"ttl": ttl, "spec": Jsonb(purge_spec(plan)), "run_id": run_id})


def forget_dataset(conn: psycopg.Connection, plan: dict[str, Any]) -> None:
    """The tenant's dataset is gone (reset): nothing is left for a TTL purge to delete."""
    conn.execute("DELETE FROM seedc.datasets WHERE tenant_id = %s AND environment = %s",
                 (plan["tenant_id"], plan["environment"]))


def _identifier(name: str, what: str) -> str:
    if not _IDENT.fullmatch(name):
        raise InvalidInput(f"recorded dataset names {what} {name!r}, which is not a plain "
                           "lower-case identifier; refusing to purge with it")
    return name


def purge_plan(conn: psycopg.Connection, spec: dict[str, Any]) -> dict[str, Any]:
    """A plan-shaped dict for `purge_tenant`, its DELETEs rendered from quoted identifiers."""
    entities = []
    for entity in spec["entities"]:
        schema, _, table = str(entity["table"]).partition(".")
        column = _identifier(str(entity["tenant_column"]), "column")
        statement = sql.SQL("DELETE FROM {} WHERE {} = current_setting('app.tenant_id')::uuid"
                            ).format(sql.Identifier(_identifier(schema, "schema"),
                                                    _identifier(table, "table")),
                                     sql.Identifier(column))
        entities.append({"table": entity["table"],
                         "sql": {"purge": statement.as_string(conn)}})
    return {"plan_hash": spec["plan_hash"], "tenant": spec["tenant"],
            "tenant_id": spec["tenant_id"], "environment": spec["environment"],
            "mode": spec["mode"], "entities": entities,
            "guards": {"timeouts": spec["timeouts"], "window": spec["window"],
                       "ttl": spec.get("ttl"), "isolated_dev": spec.get("isolated_dev", False),
                       "pipeline_role": spec.get("pipeline_role"),
                       "schema": {"rls_setting": spec.get("rls_setting")}}}
