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

from seedc.program.evaluate import Program
from seedc.runtime.db import set_tenant
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


def diff_database(conn: psycopg.Connection, plan: dict[str, Any],
                  keys: KeyProvider) -> DriftReport:
    """Compare every planned row (resolved) with the tenant's rows in the database."""
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
