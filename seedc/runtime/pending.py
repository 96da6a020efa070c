"""`seedc diff NEW --dsn`: what applying NEW would do, separated from drift (issue 12).

Terraform's plan for seed data. When the tenant holds an earlier stored plan OLD, every row of
the tenant is classified by its key against OLD and NEW (both resolved with the tenant's key):

- as NEW wants it: nothing to do;
- as OLD had it, NEW wants it otherwise: a pending insert, update or delete (the change);
- matching neither: drift (missing, changed or not in either plan), which apply would refuse.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

from seedc.plan.diff_text import Line
from seedc.program.evaluate import Program
from seedc.runtime.db import plan_rls_setting, set_tenant
from seedc.runtime.delta import breaking_changes, key_of, planned_lines
from seedc.runtime.incremental import reseed_steps
from seedc.runtime.keys import KeyProvider
from seedc.runtime.pii.domains import PiiResolver
from seedc.runtime.plan_store import load_plan
from seedc.runtime.state import copy_lines

__all__ = ["EntityPending", "PendingReport", "pending_change", "render_pending_json",
           "render_pending_lines"]


@dataclass
class EntityPending:
    entity: str
    insert: int = 0
    update: int = 0
    delete: int = 0
    drift_missing: list[str] = field(default_factory=list)
    drift_changed: list[str] = field(default_factory=list)
    drift_unexpected: list[str] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return bool(self.insert or self.update or self.delete)

    @property
    def drifted(self) -> bool:
        return bool(self.drift_missing or self.drift_changed or self.drift_unexpected)


@dataclass
class PendingReport:
    tenant: str
    environment: str
    from_plan_hash: str
    to_plan_hash: str
    entities: list[EntityPending]
    breaking: list[str] = field(default_factory=list)  # why apply would refuse: a reseed

    @property
    def pending(self) -> bool:
        return bool(self.breaking) or any(e.pending for e in self.entities)

    @property
    def drifted(self) -> bool:
        return any(e.drifted for e in self.entities)

    def totals(self) -> dict[str, int]:
        return {k: sum(getattr(e, k) for e in self.entities)
                for k in ("insert", "update", "delete")}


def _digest(line: bytes) -> bytes:
    return hashlib.blake2b(line, digest_size=16).digest()


def _keyed(lines: Any) -> dict[bytes, bytes]:
    return {key_of(line): _digest(line) for line in lines}


def held_plan_hash(conn: psycopg.Connection, plan: dict[str, Any]) -> str | None:
    """The one plan the tenant's checkpoints belong to, if it is not `plan` (else None)."""
    rows = conn.execute("SELECT DISTINCT plan_hash FROM seedc.checkpoints WHERE tenant_id = %s "
                        "AND environment = %s", (plan["tenant_id"], plan["environment"]))
    hashes = [r[0] for r in rows.fetchall()]
    return hashes[0] if len(hashes) == 1 and hashes[0] != plan["plan_hash"] else None


def pending_change(conn: psycopg.Connection, plan: dict[str, Any],
                   keys: KeyProvider, path: str | None = None) -> PendingReport | None:
    """The change from the tenant's stored plan to `plan`, and the drift; None when the tenant
    does not hold another stored plan (then the plain drift report applies)."""
    with conn.transaction():
        set_tenant(conn, plan["tenant_id"], local=True, setting=plan_rls_setting(plan))
        held = held_plan_hash(conn, plan)
        old = load_plan(conn, plan["tenant_id"], plan["environment"], held) if held else None
    if old is None:
        return None
    breaking = breaking_changes(old, plan)
    if breaking:  # apply refuses it (change.reseed): say so instead of promising a delta
        return PendingReport(plan["tenant"], plan["environment"], old["plan_hash"],
                             plan["plan_hash"], [], [*breaking, *reseed_steps(plan, path)])
    key = keys.fetch(plan).key
    new_program, old_program = Program.from_json(plan["program"]), Program.from_json(old["program"])
    new_resolver = PiiResolver(key, plan["keys"]["algorithm"])
    old_resolver = PiiResolver(key, old["keys"]["algorithm"])
    old_names = {e["name"] for e in old["entities"]}
    out = []
    with conn.transaction():
        set_tenant(conn, plan["tenant_id"], local=True, setting=plan_rls_setting(plan))
        for entity in plan["entities"]:
            name = entity["name"]
            want = _keyed(planned_lines(plan, new_program, new_resolver, name))
            had = (_keyed(planned_lines(old, old_program, old_resolver, name))
                   if name in old_names else {})
            found = _keyed(copy_lines(conn, entity["sql"]["read"]))
            out.append(_classify(name, want, had, found))
    return PendingReport(plan["tenant"], plan["environment"], old["plan_hash"],
                         plan["plan_hash"], out)


def _classify(name: str, want: dict[bytes, bytes], had: dict[bytes, bytes],
              found: dict[bytes, bytes]) -> EntityPending:
    e = EntityPending(name)
    for key in sorted(set(want) | set(had) | set(found)):
        w, h, f = want.get(key), had.get(key), found.get(key)
        if f == w:
            continue                      # already as NEW wants it (or absent from both)
        k = key.decode("utf-8", "replace")
        if f == h:                        # as OLD left it: the change itself
            if w is None:
                e.delete += 1
            elif h is None:
                e.insert += 1
            else:
                e.update += 1
        elif f is None:
            e.drift_missing.append(k)
        elif h is None and w is None:
            e.drift_unexpected.append(k)
        else:
            e.drift_changed.append(k)
    return e


def render_pending_lines(report: PendingReport, limit: int = 10) -> list[Line]:
    """Per entity "N to insert, M to update, K to delete", the totals, then drift."""
    if report.breaking:
        return [(f"tenant {report.tenant} ({report.environment}) holds plan "
                 f"{report.from_plan_hash}; {report.to_plan_hash} cannot be applied as a "
                 "change (apply refuses it, rule change.reseed):", "bold red"),
                *[(f"  {reason}", "red") for reason in report.breaking]]
    lines: list[Line] = [(f"tenant {report.tenant} ({report.environment}) holds plan "
                          f"{report.from_plan_hash}; applying {report.to_plan_hash} would:",
                          "bold")]
    for e in report.entities:
        if e.pending:
            lines.append((f"  {e.entity}: {e.insert} to insert, {e.update} to update, "
                          f"{e.delete} to delete", "yellow"))
    t = report.totals()
    lines.append((f"Plan: {t['insert']} to insert, {t['update']} to update, {t['delete']} to "
                  "delete." if report.pending else "No changes: the tenant already holds "
                  "what this plan wants.", "bold"))
    if not report.drifted:
        lines.append(("no drift: every other row matches the applied plan", "green"))
        return lines
    lines.append(("drift (rows matching neither the applied plan nor this one; apply refuses "
                  "until it is resolved):", "bold red"))
    for e in report.entities:
        for label, keys in (("missing", e.drift_missing), ("changed", e.drift_changed),
                            ("not in either plan", e.drift_unexpected)):
            for k in keys[:limit]:
                lines.append((f"  {e.entity}: {label}: {k}", "red"))
            if len(keys) > limit:
                lines.append((f"  {e.entity}: … {len(keys) - limit} more {label} (see --json)",
                              "dim"))
    return lines


def render_pending_json(report: PendingReport) -> str:
    body = asdict(report)
    body["entities"] = {e.pop("entity"): e for e in body["entities"]}
    return json.dumps({"kind": "change", "pending": report.pending, "drifted": report.drifted,
                       "totals": report.totals(), **body}, indent=2, sort_keys=True,
                      ensure_ascii=False)
