"""`seedc reset PLAN`: remove the tenant's dataset and checkpoints for a coordinated reseed.

The escape hatch after drift, a divergent checkpoint or a key rotation (session 8): under the
tenant lease, in one transaction, delete the tenant's rows from the plan's tables (children
first, one set-based statement per table: seedc/runtime/purge.py), its checkpoints and its
maintenance flag, and audit it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from seedc.runtime.abandoned import mark_abandoned
from seedc.runtime.db import connect, plan_rls_setting, set_tenant
from seedc.runtime.lease import LeaseSettings, tenant_lease
from seedc.runtime.purge import purge_tenant

__all__ = ["reset_tenant"]


def reset_tenant(plan: dict[str, Any], dsn: str, settings: LeaseSettings) -> dict[str, int]:
    """Delete the tenant's rows and checkpoints; returns rows deleted per table."""
    run_id = str(uuid.uuid4())
    with connect(dsn, autocommit=True, application="seedc-reset") as control, \
            connect(dsn, application="seedc-reset") as work:
        set_tenant(control, plan["tenant_id"], local=False, setting=plan_rls_setting(plan))
        mark_abandoned(control, plan["environment"])  # runs that died stay visible (issue 10)
        with tenant_lease(control, dsn, plan["tenant_id"], plan["environment"], run_id,
                          settings), work.transaction():
            set_tenant(work, plan["tenant_id"], local=True, setting=plan_rls_setting(plan))
            deleted = purge_tenant(work, plan, dry_run=False)
            work.execute("DELETE FROM seedc.maintenance WHERE tenant_id = %s AND "
                         "environment = %s", (plan["tenant_id"], plan["environment"]))
        control.execute(
            "INSERT INTO seedc.audit (run_id, tenant, environment, event, rule, detail) "
            "VALUES (%s, %s, %s, 'reset', 'coordinated reseed (session 8)', %s)",
            (run_id, plan["tenant"], plan["environment"],
             json.dumps({"plan_hash": plan["plan_hash"], "deleted": deleted}, sort_keys=True)))
    return deleted
