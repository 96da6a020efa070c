"""Applied plans kept in the control schema: the database knows which plan its rows came from.

Why: an incremental apply (issue 12) computes its delta from the plan the checkpoints belong to,
and an auditor can retrieve the exact applied plan without the repository. Plans are stored
as zlib-compressed canonical JSON (RFC 8785, the bytes the plan hash is taken over), keyed by
tenant, environment and hash, under the same row-level security as checkpoints; what is read
back is verified like any plan file (format, shape, hash) before anyone uses it.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import psycopg

from seedc.errors import GuardRefused, InvalidInput
from seedc.plan.canonical import canonical_bytes
from seedc.plan.format import MAX_PLAN_BYTES, verify_plan

__all__ = ["load_plan", "store_plan"]


def store_plan(conn: psycopg.Connection, plan: dict[str, Any], run_id: str) -> bool:
    """Keep `plan` (once per tenant, environment and hash); True when stored now.

    Runs in the caller's transaction, so a dry run's rollback takes it back too.
    """
    raw = canonical_bytes(plan)
    cur = conn.execute(
        "INSERT INTO seedc.plans (tenant_id, environment, plan_hash, mode, tenant, compressed, "
        "bytes, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (plan["tenant_id"], plan["environment"], plan["plan_hash"], plan["mode"],
         plan["tenant"], zlib.compress(raw, 9), len(raw), run_id))
    return cur.rowcount == 1


def load_plan(conn: psycopg.Connection, tenant_id: str, environment: str,
              plan_hash: str) -> dict[str, Any] | None:
    """The stored plan with that hash for this tenant, verified; None when not stored.

    A stored plan that no longer verifies (edited in the database, say) is a refusal:
    the delta must never be computed from a plan other than the one applied.
    """
    row = conn.execute(
        "SELECT compressed, bytes FROM seedc.plans WHERE tenant_id = %s AND environment = %s "
        "AND plan_hash = %s", (tenant_id, environment, plan_hash)).fetchone()
    if row is None:
        return None
    compressed, size = bytes(row[0]), int(row[1])
    where = f"the stored plan {plan_hash[:19]}…"
    try:
        if size > MAX_PLAN_BYTES:
            raise InvalidInput(f"{where} is larger than {MAX_PLAN_BYTES} bytes")
        inflater = zlib.decompressobj()
        raw = inflater.decompress(compressed, MAX_PLAN_BYTES + 1)
        if len(raw) != size or inflater.unconsumed_tail:
            raise InvalidInput(f"{where} does not inflate to its recorded size")
        plan = verify_plan(json.loads(raw), where)
    except (zlib.error, ValueError, InvalidInput) as exc:
        text = exc.message if isinstance(exc, InvalidInput) else str(exc)
        raise GuardRefused(f"{where} in seedc.plans is damaged: {text}",
                             rule="an incremental apply starts from the exact applied plan "
                                  "(issue 12)") from None
    if plan["plan_hash"] != plan_hash:
        raise GuardRefused(f"{where} in seedc.plans holds another plan",
                             rule="an incremental apply starts from the exact applied plan "
                                  "(issue 12)")
    return plan
