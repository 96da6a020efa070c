"""Incremental apply: take a tenant from the plan it holds (OLD) to a reviewed change (NEW).

Terraform's plan/apply for seed data (issue 12). When the tenant's checkpoints all belong to a
complete, stored, earlier baseline plan of the same tenant, environment and mode, and the change
is not breaking, apply writes only the delta: it checks that the database still equals OLD (any
drift refuses, exit 3, nothing written), writes inserts, updates and deletes in foreign-key-safe
steps — each one SERIALIZABLE transaction with its own checkpoint, under the run's lease, so a
kill -9 resumes without writing anything twice — then swaps OLD's checkpoints for NEW's in one
transaction and verifies that the database equals NEW in one snapshot.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from seedc.errors import GuardRefused
from seedc.runtime.db import plan_rls_setting, set_tenant
from seedc.runtime.delta import (
    Delta,
    DeltaStep,
    breaking_changes,
    changed_entities,
    compute_delta,
    delta_steps,
    key_of,
    step_effect,
)
from seedc.runtime.lease import Heartbeat, assert_lease
from seedc.runtime.payload import line_hash
from seedc.runtime.plan_store import load_plan, store_plan
from seedc.runtime.staging import stage_rows
from seedc.runtime.state import (
    Checkpoint,
    EntityDigest,
    check_checkpoints,
    compare,
    copy_digest,
    copy_lines,
    expected_digests,
    refuse_drift,
    unordered,
)

__all__ = ["ChangeContext", "apply_change", "change_base", "reseed_steps"]

RESEED_RULE = ("a change of reference clock, key, tenant, mode or the shape of a table with rows "
               "is a coordinated reseed, not a delta (sessions 8, 17)")
BASE_RULE = "an incremental apply starts from a complete, stored earlier plan (issue 12)"


def _refuse(message: str, details: list[str] | None = None) -> GuardRefused:
    return GuardRefused(message, rule=BASE_RULE, details=details or [])


def change_base(conn: psycopg.Connection, plan: dict[str, Any],
                checkpoints: dict[str, Checkpoint],
                plan_path: str | None = None) -> dict[str, Any] | None:
    """OLD, when the tenant's checkpoints belong to an earlier plan that NEW can follow.

    None for the ordinary paths: no checkpoints, checkpoints of this very plan (resume or
    NOOP), or a load/DR plan (which re-creates its dataset, session 7). Every other case is a
    refusal that says what to do.
    """
    if not checkpoints or plan["mode"] != "baseline":
        return None
    hashes = sorted({cp.plan_hash for cp in checkpoints.values()})
    if hashes == [plan["plan_hash"]]:
        return None
    reseed = reseed_steps(plan, plan_path)
    if len(hashes) > 1:
        raise _refuse("the tenant's checkpoints belong to several plans; reseed", reseed)
    old = load_plan(conn, plan["tenant_id"], plan["environment"], hashes[0])
    if old is None:
        raise _refuse(f"the tenant's data came from plan {hashes[0][:19]}…, which this database "
                      "does not hold (applied before plans were stored); reseed once", reseed)
    unfinished = check_checkpoints(old, checkpoints)
    if unfinished or len(checkpoints) != len(old["batches"]):
        raise _refuse(f"the earlier plan {hashes[0][:19]}… was not applied completely "
                      f"({len(checkpoints)} of {len(old['batches'])} batches): finish it "
                      "(`seedc apply` of that plan) or reseed", reseed)
    breaking = breaking_changes(old, plan)
    if breaking:
        raise GuardRefused(f"this change from plan {old['plan_hash'][:19]}… cannot be "
                           "applied as a delta; reseed", rule=RESEED_RULE,
                           details=[*breaking, *reseed])
    return old


def reseed_steps(plan: dict[str, Any], plan_path: str | None = None) -> list[str]:
    """The coordinated reseed, with the plan file as the user named it."""
    path = shlex.quote(plan_path) if plan_path else "PLAN"
    return [f"reseed: `seedc reset {path} --yes` (deletes tenant {plan['tenant']}'s dataset "
            f"and checkpoints), then `seedc apply {path}` (with the same --dsn, if you gave one)"]


@dataclass
class ChangeContext:
    """What an incremental run needs from `apply` (its connections, lease, report, options)."""

    plan: dict[str, Any]
    old: dict[str, Any]
    checkpoints: dict[str, Checkpoint]
    work: psycopg.Connection
    key: bytes
    heartbeat: Heartbeat
    dry_run: bool
    run_id: str
    audit_event: Callable[..., None]
    maintenance: Callable[[], Any]        # context manager factory: the tenant's flag
    write_step: Callable[[DeltaStep, Callable[[], None]], None]  # retries, report, budget
    skip_step: Callable[[DeltaStep], None]  # a step committed by an earlier, interrupted run
    verify: Callable[[dict[str, EntityDigest]], None]


def _done_steps(conn: psycopg.Connection, plan: dict[str, Any], old_hash: str) -> set[str]:
    """Steps of this change already committed; another change's unfinished steps refuse."""
    rows = conn.execute(
        "SELECT step_id, from_plan_hash, to_plan_hash FROM seedc.delta_checkpoints "
        "WHERE tenant_id = %s AND environment = %s",
        (plan["tenant_id"], plan["environment"])).fetchall()
    other = sorted({r[2] for r in rows if (r[1], r[2]) != (old_hash, plan["plan_hash"])})
    if other:
        raise _refuse(f"an incremental apply to plan {other[0][:19]}… was interrupted: finish "
                      "it (`seedc apply` of that plan) or reseed", reseed_steps(plan))
    return {r[0] for r in rows}


def _read_entities(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The entities whose tables hold the tenant's rows while the change is under way."""
    names = {e["name"] for e in new["entities"]}
    gone = [e for e in old["entities"] if e["name"] not in names and e["rows"]]
    return {"entities": [*new["entities"], *gone]}


def _expected_now(ctx: ChangeContext, steps: list[DeltaStep], done: set[str],
                  ) -> dict[str, EntityDigest]:
    """OLD's rows with the committed steps of this change applied (multiset digests add)."""
    expected = expected_digests(ctx.old, ctx.checkpoints)
    for entity in ctx.plan["entities"]:
        expected.setdefault(entity["name"], EntityDigest())
    for step in steps:
        if step.id in done:
            effect = step_effect(step)
            expected[step.entity].add(effect.rows, effect.digest)
    return expected


def _step_sql(plan: dict[str, Any], old: dict[str, Any], step: DeltaStep
              ) -> tuple[dict[str, str], sql.SQL | sql.Composed]:
    """The staging statements (compiled into the plan) and the statement that applies a step."""
    source = plan if step.kind != "delete" or any(
        e["name"] == step.entity for e in plan["entities"]) else old
    batch = next(b for b in source["batches"] if b["entity"] == step.entity)
    entity = next(e for e in source["entities"] if e["name"] == step.entity)
    schema, table = entity["table"].split(".", 1)
    target = sql.Identifier(schema, table)
    stage = sql.Identifier(f"seedc_stage_{step.entity}"[:63])
    key = sql.Identifier("id")
    if step.kind == "insert":
        return batch["sql"], sql.SQL(batch["sql"]["insert"])
    if step.kind == "delete":
        return batch["sql"], sql.SQL("DELETE FROM {} t USING {} s WHERE t.{} = s.{}").format(
            target, stage, key, key)
    encrypted = set(entity.get("encrypted") or [])
    columns = [c for c in entity["columns"] if c != "id"]
    values = [sql.SQL("{}.encrypt_pii(s.{})").format(sql.Identifier(schema), sql.Identifier(c))
              if c in encrypted else sql.SQL("s.{}").format(sql.Identifier(c)) for c in columns]
    return batch["sql"], sql.SQL("UPDATE {} t SET ({}) = ROW({}) FROM {} s WHERE t.{} = s.{}"
                                 ).format(target, sql.SQL(", ").join(map(sql.Identifier, columns)),
                                          sql.SQL(", ").join(values), stage, key, key)


def _write_step(ctx: ChangeContext, step: DeltaStep) -> None:
    """One step and its checkpoint in one transaction, proving the lease first."""
    conn, plan = ctx.work, ctx.plan
    staging, statement = _step_sql(plan, ctx.old, step)
    with conn.transaction():
        stage_rows(conn, plan, staging, ctx.heartbeat.proof, not ctx.dry_run,
                   b"\n".join(step.lines) + b"\n")
        with conn.cursor() as cur:
            cur.execute(statement)
            if cur.rowcount != step.rows:
                raise GuardRefused(
                    f"step {step.id}: {step.kind} touched {cur.rowcount} rows, expected "
                    f"{step.rows}; rolled back", rule="no data outside the plan, fail-closed "
                    "(session 8)")
            if ctx.dry_run:
                return
            cur.execute(
                "INSERT INTO seedc.delta_checkpoints (tenant_id, environment, from_plan_hash, "
                "to_plan_hash, step_id, entity, kind, row_count, run_id) VALUES (%s, %s, %s, "
                "%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (plan["tenant_id"], plan["environment"], ctx.old["plan_hash"],
                 plan["plan_hash"], step.id, step.entity, step.kind, step.rows, ctx.run_id))
            if cur.rowcount != 1:
                raise GuardRefused(f"step {step.id}: its checkpoint already exists (written "
                                   "concurrently?)",
                                   rule="checkpoint written with the data, exactly one row")


def _switch_checkpoints(ctx: ChangeContext, delta: Delta) -> None:
    """OLD's checkpoints and the change's steps out, NEW's checkpoints in: one transaction."""
    conn, plan = ctx.work, ctx.plan
    with conn.transaction():
        if ctx.heartbeat.proof is not None:
            assert_lease(conn, ctx.heartbeat.proof, lock_row=True)
        where = (plan["tenant_id"], plan["environment"])
        conn.execute("DELETE FROM seedc.checkpoints WHERE tenant_id = %s AND environment = %s",
                     where)
        conn.execute("DELETE FROM seedc.delta_checkpoints WHERE tenant_id = %s AND "
                     "environment = %s", where)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO seedc.checkpoints (tenant_id, environment, batch_id, chain_hash, "
                "plan_hash, entity, row_count, resolved_digest, run_id) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(plan["tenant_id"], plan["environment"], b["id"], b["chain_hash"],
                  plan["plan_hash"], b["entity"], delta.new_batches[b["id"]].rows,
                  f"{delta.new_batches[b['id']].digest:032x}", ctx.run_id)
                 for b in plan["batches"]])


def _read_database(conn: psycopg.Connection, read: dict[str, Any], keep: set[str]
                   ) -> tuple[dict[str, EntityDigest], dict[str, dict[bytes, bytes]]]:
    """The tenant's rows as multiset digests (the drift check), and the lines of the entities
    in `keep` by key (an unchanged row's resolved line is the one the database holds)."""
    digests, lines = {}, {}
    for entity in read["entities"]:
        statement = unordered(entity["sql"]["read"])
        if entity["name"] not in keep:
            digests[entity["name"]] = copy_digest(conn, statement)
            continue
        acc = EntityDigest()
        held: dict[bytes, bytes] = {}
        for line in copy_lines(conn, statement):
            acc.add(1, line_hash(line))
            held[key_of(line)] = line
        digests[entity["name"]] = acc
        lines[entity["name"]] = held
    return digests, lines


def apply_change(ctx: ChangeContext) -> Delta:
    """Check, write and verify the delta OLD -> NEW; returns it (for the report)."""
    plan, old, work = ctx.plan, ctx.old, ctx.work
    outer = work.transaction(force_rollback=True) if ctx.dry_run else nullcontext()
    with outer:
        # never an implicit transaction: the steps below must commit one by one
        with work.transaction():
            set_tenant(work, plan["tenant_id"], local=True, setting=plan_rls_setting(plan))
            done = _done_steps(work, plan, old["plan_hash"])
            found, held = _read_database(work, _read_entities(old, plan),
                                         changed_entities(old, plan))
        delta = compute_delta(old, plan, ctx.key, ctx.checkpoints, held)
        del held
        steps = delta_steps(delta)
        refuse_drift(compare(_expected_now(ctx, steps, done), found))
        max_rows = plan["guards"]["budget"]["max_rows"]
        if delta.rows > max_rows:
            raise GuardRefused(f"the change writes {delta.rows} rows, above budget.max_rows "
                               f"{max_rows}", rule="estimate within budget (sessions 7, 16)")
        with work.transaction():
            set_tenant(work, plan["tenant_id"], local=True, setting=plan_rls_setting(plan))
            store_plan(work, plan, ctx.run_id)
        ctx.audit_event("change", BASE_RULE, **delta.summary(), resumed_steps=len(done))
        with ctx.maintenance():
            for step in steps:
                if step.id in done:
                    ctx.skip_step(step)
                else:
                    ctx.write_step(step, lambda s=step: _write_step(ctx, s))  # type: ignore[misc]
            if not ctx.dry_run:
                _switch_checkpoints(ctx, delta)
            ctx.verify({name: EntityDigest(d.rows, d.digest)
                        for name, d in delta.new_totals().items()})
    return delta
