"""`seedc diff PLAN --dsn`: per entity, planned keys missing, rows changed, rows not in the plan.

Unlike the apply-time drift guard (multiset digests, flat memory), this reports which keys:
it regenerates and resolves every planned row and reads the tenant's rows, keyed by id.
For changed rows it names the columns that differ (issue 11): only for the entities that
differ and at most `ROWS_DETAILED` rows each (a second, filtered read), with planned and found
values for ordinary columns and `[PII]` for PII columns — those hold FPE-resolved values
(session 6), compared only as differs/not and never printed. Rendering is in `drift_render`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import psycopg

from seedc.errors import GuardRefused, RuntimeFailure
from seedc.plan.diff import PII_MASK, ColumnChange, RowChange
from seedc.plan.rows import NULL_CELL, unescape
from seedc.program.evaluate import Program
from seedc.runtime.db import plan_rls_setting, set_tenant, set_timeouts
from seedc.runtime.keys import KeyProvider
from seedc.runtime.payload import build_payload
from seedc.runtime.pii.domains import PiiResolver
from seedc.runtime.state import copy_lines
from seedc.runtime.telemetry.redaction import redact_text

__all__ = ["ROWS_DETAILED", "DriftReport", "EntityDrift", "diff_database"]

#: Changed rows per entity whose columns are named; the rest are counted.
ROWS_DETAILED = 10


@dataclass
class EntityDrift:
    entity: str
    planned: int
    found: int
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    changed_rows: list[RowChange] = field(default_factory=list)
    changed_rows_not_detailed: int = 0


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


def _planned_lines(plan: dict[str, Any], program: Program, resolver: PiiResolver,
                   entity: str) -> Any:
    for batch in plan["batches"]:
        if batch["entity"] == entity:
            payload = build_payload(plan, program, batch, resolver)
            yield from payload.copy.split(b"\n")[:-1] if payload.copy else []


def _key_of(line: bytes) -> str:
    return line.split(b"\t", 1)[0].decode()


def _cell(raw: str) -> str | None:
    """A non-PII cell for display; redacted too, since a hand edit can put anything there."""
    return None if raw == NULL_CELL else redact_text(unescape(raw))


def _columns(entity: dict[str, Any], want: bytes, found: bytes) -> dict[str, ColumnChange]:
    """The columns whose cells differ; PII (and encrypted) ones masked, never decoded."""
    hidden = set(entity.get("pii") or []) | set(entity.get("encrypted") or [])
    a = want.decode("utf-8", "replace").split("\t")
    b = found.decode("utf-8", "replace").split("\t")
    out: dict[str, ColumnChange] = {}
    for i, col in enumerate(entity["columns"]):
        old = a[i] if i < len(a) else NULL_CELL
        new = b[i] if i < len(b) else NULL_CELL
        if old != new:
            out[col] = (ColumnChange(PII_MASK, PII_MASK) if col in hidden
                        else ColumnChange(_cell(old), _cell(new)))
    return out


def _detail(conn: psycopg.Connection, plan: dict[str, Any], program: Program,
            resolver: PiiResolver, entity: dict[str, Any], drift: EntityDrift) -> None:
    """Name the changed columns of the first `ROWS_DETAILED` changed rows of one entity."""
    keys = set(drift.changed[:ROWS_DETAILED])
    want = {_key_of(line): line for line in _planned_lines(plan, program, resolver,
                                                            entity["name"])
            if _key_of(line) in keys}
    found = {}
    for line in copy_lines(conn, entity["sql"]["read"]):
        if _key_of(line) in keys:
            found[_key_of(line)] = line
    for key in drift.changed[:ROWS_DETAILED]:
        if key in want and key in found:
            drift.changed_rows.append(RowChange(key, _columns(entity, want[key], found[key])))
    drift.changed_rows_not_detailed = len(drift.changed) - len(drift.changed_rows)


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
        set_tenant(conn, plan["tenant_id"], local=True, setting=plan_rls_setting(plan))
        for entity in plan["entities"]:
            found = _keyed(list(copy_lines(conn, entity["sql"]["read"])))
            want = planned[entity["name"]]
            drift = EntityDrift(
                entity["name"], len(want), len(found),
                missing=sorted(set(want) - set(found)),
                changed=sorted(k for k in set(want) & set(found) if want[k] != found[k]),
                unexpected=sorted(set(found) - set(want)))
            del found
            if drift.changed:
                _detail(conn, plan, program, resolver, entity, drift)
            out.append(drift)
    return DriftReport(plan["plan_hash"], plan["tenant"], plan["environment"], out)
