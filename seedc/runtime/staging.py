"""The opening of every data-writing transaction: lease proof, timeouts, tenant, staged rows.

A batch of a full apply and a step of an incremental one write the same way: prove the run
still holds the tenant lease, bound the transaction's waits by the plan's timeouts, set the
tenant for RLS, then COPY the rows into the entity's (compiled) temporary stage table, from
which the caller's INSERT, UPDATE or DELETE reads.
"""

from __future__ import annotations

from typing import Any

import psycopg

from seedc.runtime.lease import LeaseProof, assert_lease

__all__ = ["stage_rows"]


def stage_rows(conn: psycopg.Connection, plan: dict[str, Any], statements: dict[str, str],
               proof: LeaseProof | None, lock_row: bool, copy_text: bytes) -> None:
    """Inside the caller's transaction: lease, timeouts, tenant context, rows in the stage."""
    timeouts = plan["guards"]["timeouts"]
    if proof is not None:
        assert_lease(conn, proof, lock_row=lock_row)
    conn.execute("SELECT set_config('statement_timeout', %s, true), "
                 "set_config('lock_timeout', %s, true)",
                 (str(timeouts["statement_ms"]), str(timeouts["lock_ms"])))
    conn.execute(statements["context"], {"tenant_id": plan["tenant_id"]})
    conn.execute(statements["stage"])
    conn.execute(statements["clear"])
    with conn.cursor() as cur, cur.copy(statements["copy"]) as copy:
        copy.write(copy_text)
