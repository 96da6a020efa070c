"""`seedc verify PLAN --dsn`: read-only post-deploy verification (session 14; issue 14).

Run by the Argo CD PostSync hook after every sync: does the database still hold exactly what
this plan put there? It needs no key: every batch's checkpoint carries the digest of the rows
it wrote (resolved PII included), so the tenant's rows are compared as multiset digests with
the checkpoints, in one READ ONLY, REPEATABLE READ snapshot. Nothing is written — no run row,
no audit, no lease — so a verification can run on any schedule beside live runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import IsolationLevel

from seedc.errors import GuardRefused
from seedc.runtime.db import connect, plan_rls_setting, set_tenant
from seedc.runtime.drift import missing_tables
from seedc.runtime.preflight import check_role
from seedc.runtime.state import (
    check_checkpoints,
    compare,
    database_digests,
    expected_digests,
    load_checkpoints,
)

__all__ = ["Verification", "verify_plan"]

_ROLE_RULE = "least-privilege role under RLS, no superuser/BYPASSRLS (sessions 5, 12)"
VERIFY_RULE = "verification reads the plan's tables and checkpoints, both present (session 14)"


@dataclass
class Verification:
    plan_hash: str
    tenant: str
    environment: str
    batches: int
    checkpointed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {"plan_hash": self.plan_hash, "tenant": self.tenant,
                "environment": self.environment, "batches": self.batches,
                "checkpointed": self.checkpointed, "equal": self.equal,
                "problems": self.problems}


def verify_plan(plan: dict[str, Any], dsn: str) -> Verification:
    """Compare the tenant's rows with the plan's checkpoints; GuardRefused (exit 3) when the
    verification itself cannot be trusted (role bypassing RLS, tables or schema missing)."""
    result = Verification(plan["plan_hash"], plan["tenant"], plan["environment"],
                          len(plan["batches"]))
    with connect(dsn, autocommit=True, application="seedc-verify") as conn:
        ok, detail = check_role(conn, plan)
        if not ok:
            raise GuardRefused(detail.replace("apply with", "verify with"), rule=_ROLE_RULE)
        missing = missing_tables(conn, plan)
        row = conn.execute("SELECT to_regclass('seedc.checkpoints') IS NOT NULL").fetchone()
        if not (row and row[0]):
            missing.append("seedc.checkpoints (run `seedc db install`)")
        if missing:
            raise GuardRefused("cannot verify: missing " + ", ".join(missing),
                               rule=VERIFY_RULE)
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            set_tenant(conn, plan["tenant_id"], local=True, setting=plan_rls_setting(plan))
            checkpoints = load_checkpoints(conn, plan["tenant_id"], plan["environment"])
            divergent = check_checkpoints(plan, checkpoints)
            actual = database_digests(conn, plan)
    planned = {b["id"] for b in plan["batches"]}
    result.checkpointed = len(planned & set(checkpoints))
    result.problems = list(divergent)
    if result.checkpointed < result.batches:
        result.problems.append(f"{result.batches - result.checkpointed} of {result.batches} "
                               "batches have no checkpoint: this plan is not (fully) applied")
    result.problems += compare(expected_digests(plan, checkpoints), actual)
    return result
