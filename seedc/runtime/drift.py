"""`seedc diff PLAN --dsn`: per entity, planned keys missing, rows changed, rows not in the plan.

Unlike the apply-time drift guard (multiset digests, flat memory), this reports which keys:
it regenerates and resolves every planned row and reads the tenant's rows, keyed by id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

from seedc.errors import GuardRefused, RuntimeFailure
from seedc.program.evaluate import Program
from seedc.runtime.db import set_tenant, set_timeouts
from seedc.runtime.keys import KeyProvider
from seedc.runtime.payload import build_payload
from seedc.runtime.pii.domains import PiiResolver
from seedc.runtime.state import copy_lines

__all__ = ["DriftReport", "diff_database", "render_drift_json", "render_drift_text"]


@dataclass
class EntityDrift:
    entity: str
    planned: int
    found: int
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


@dataclass
class DriftReport:
    plan_hash: str
    tenant: str
    environment: str
    entities: list[EntityDrift]

    @property
    def drifted(self) -> bool:
        return any(e.missing or e.changed or e.unexpected for e in self.entities)


def _keyed(lines: list[bytes]) -> dict[str, bytes]:
    return {line.split(b"\t", 1)[0].decode(): hashlib.blake2b(line, digest_size=16).digest()
            for line in lines}


def missing_tables(conn: psycopg.Connection, plan: dict[str, Any]) -> list[str]:
    """The plan's target tables this database lacks (schema or table not there)."""
    tables = [e["table"] for e in plan["entities"]]
    rows = conn.execute("SELECT t FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NULL",
                        (tables,)).fetchall()
    return [r[0] for r in rows]


def diff_database(conn: psycopg.Connection, plan: dict[str, Any],
                  keys: KeyProvider) -> DriftReport:
    """Compare every planned row (resolved) with the tenant's rows in the database.

    A target table that does not exist is a refusal naming it (exit 3); a read that fails
    (a lock held past the session's lock timeout, say) is a RuntimeFailure (exit 4), never a
    traceback (issue 9, issue 10 item 7).
    """
    timeouts = plan["guards"]["timeouts"]
    try:
        set_timeouts(conn, timeouts["statement_ms"], timeouts["lock_ms"])
        absent = missing_tables(conn, plan)
    except psycopg.Error as exc:
        raise RuntimeFailure(f"cannot read the database catalog: {exc.diag.message_primary}",
                             rule="drift is read from the target (session 8)") from None
    if absent:
        raise GuardRefused(
            f"the database lacks the plan's table(s) {', '.join(absent)}: apply the "
            "application's migrations first (or check --dsn)",
            rule="the target schema matches the plan (session 11)")
    try:
        return _diff(conn, plan, keys)
    except psycopg.Error as exc:
        raise RuntimeFailure(
            f"drift check failed: {exc.diag.message_primary or type(exc).__name__} "
            f"[SQLSTATE {exc.sqlstate}]",
            rule="every statement runs under a statement and lock timeout (session 5)") from None


def _diff(conn: psycopg.Connection, plan: dict[str, Any], keys: KeyProvider) -> DriftReport:
    key = keys.fetch(plan)
    resolver = PiiResolver(key.key, plan["keys"]["algorithm"])
    program = Program.from_json(plan["program"])
    planned: dict[str, dict[str, bytes]] = {e["name"]: {} for e in plan["entities"]}
    for batch in plan["batches"]:
        payload = build_payload(plan, program, batch, resolver)
        lines = payload.copy.split(b"\n")[:-1] if payload.copy else []
        planned[batch["entity"]].update(_keyed(lines))
    out = []
    with conn.transaction():
        set_tenant(conn, plan["tenant_id"], local=True)
        for entity in plan["entities"]:
            found = _keyed(list(copy_lines(conn, entity["sql"]["read"])))
            want = planned[entity["name"]]
            out.append(EntityDrift(
                entity["name"], len(want), len(found),
                missing=sorted(set(want) - set(found)),
                changed=sorted(k for k in set(want) & set(found) if want[k] != found[k]),
                unexpected=sorted(set(found) - set(want))))
    return DriftReport(plan["plan_hash"], plan["tenant"], plan["environment"], out)


def render_drift_text(report: DriftReport, limit: int = 10) -> str:
    head = (f"drift: tenant {report.tenant} ({report.environment}) vs plan {report.plan_hash}"
            if report.drifted else
            f"no drift: tenant {report.tenant} ({report.environment}) matches {report.plan_hash}")
    lines = [head]
    for e in report.entities:
        if not (e.missing or e.changed or e.unexpected):
            continue
        lines.append(f"  {e.entity}: planned {e.planned}, found {e.found}: "
                     f"{len(e.missing)} missing, {len(e.changed)} changed, "
                     f"{len(e.unexpected)} not in the plan")
        for label, keys in (("missing", e.missing), ("changed", e.changed),
                            ("not in plan", e.unexpected)):
            for k in keys[:limit]:
                lines.append(f"      {label}: {k}")
            if len(keys) > limit:
                lines.append(f"      … {len(keys) - limit} more {label}")
    return "\n".join(lines)


def render_drift_json(report: DriftReport) -> str:
    return json.dumps({"drifted": report.drifted, **asdict(report)}, indent=2, sort_keys=True)
