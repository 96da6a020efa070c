"""`seedc reset PLAN`: remove the tenant's dataset and checkpoints for a coordinated reseed.

The escape hatch after drift, a divergent checkpoint or a key rotation (session 8): under the
tenant lease, in one transaction, delete the tenant's rows from the plan's tables (children
first, one set-based statement per table: seedc/runtime/purge.py), its checkpoints and its
maintenance flag, and audit it. Outside isolated dev only a pipeline identity or an approved
breakglass may do it (issue 15: seedc/runtime/access.py); a refusal is audited, nothing deleted.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from seedc.errors import GuardRefused
from seedc.runtime.abandoned import mark_abandoned
from seedc.runtime.access import require_pipeline_identity
from seedc.runtime.datasets import forget_dataset
from seedc.runtime.db import connect, plan_rls_setting, set_tenant
from seedc.runtime.lease import LeaseSettings, tenant_lease
from seedc.runtime.purge import purge_tenant

__all__ = ["reset_tenant"]


def reset_tenant(plan: dict[str, Any], dsn: str, settings: LeaseSettings, keys: Any = None,
                 breakglass: str | None = None) -> dict[str, int]:
    """Delete the tenant's rows and checkpoints; returns rows deleted per table.

    `keys` is the key provider (or hvac client) whose Vault token proves the pipeline
    identity; `breakglass` an approved ticket id, spent by this reset.
    """
    run_id = str(uuid.uuid4())
    with connect(dsn, autocommit=True, application="seedc-reset") as control, \
            connect(dsn, application="seedc-reset") as work:
        try:
            identity = require_pipeline_identity(control, plan, keys, breakglass, run_id)
        except GuardRefused as exc:
            control.execute(
                "INSERT INTO seedc.audit (run_id, tenant, environment, event, rule, detail) "
                "VALUES (%s, %s, %s, 'reset.refused', %s, %s)",
                (run_id, plan["tenant"], plan["environment"], exc.rule,
                 json.dumps({"plan_hash": plan["plan_hash"], "message": exc.message},
                            sort_keys=True)))
            raise
        set_tenant(control, plan["tenant_id"], local=False, setting=plan_rls_setting(plan))
        mark_abandoned(control, plan["environment"])  # runs that died stay visible (issue 10)
        with tenant_lease(control, dsn, plan["tenant_id"], plan["environment"], run_id,
                          settings), work.transaction():
            set_tenant(work, plan["tenant_id"], local=True, setting=plan_rls_setting(plan))
            deleted = purge_tenant(work, plan, dry_run=False)
            work.execute("DELETE FROM seedc.maintenance WHERE tenant_id = %s AND "
                         "environment = %s", (plan["tenant_id"], plan["environment"]))
            forget_dataset(work, plan)  # no TTL purge of a dataset already gone (issue 14)
        control.execute(
            "INSERT INTO seedc.audit (run_id, tenant, environment, event, rule, detail) "
            "VALUES (%s, %s, %s, 'reset', 'coordinated reseed (session 8)', %s)",
            (run_id, plan["tenant"], plan["environment"],
             json.dumps({"plan_hash": plan["plan_hash"], "deleted": deleted,
                         "identity": identity.as_json()}, sort_keys=True, default=str)))
    return deleted
