"""Concurrency guards against real PostgreSQL: the tenant lease (one run per tenant) and the
environment's run slots (at most two runs, the rest queue up to a TTL), both fail-closed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from seedc.runtime.apply import ApplyOptions
from seedc.runtime.lease import SLOT_CLASS, TENANT_CLASS, LeaseSettings, lock_key
from tests.runtime_support import (
    Background,
    Target,
    advisory_held,
    compile_variant,
    hold_slots,
    hold_tenant_lock,
    planned_counts,
    start_cli,
    wait_for,
    zero_counts,
)

HOLDER = "seeder-7.example:4242:0b7c1d2e-run-in-progress"


def _slot_key(plan: dict[str, Any]) -> int:
    return lock_key(SLOT_CLASS, plan["environment"])


def _queue(target: Target) -> int:
    return int(target.scalar("SELECT count(*) FROM seedc.queue"))


def _assert_refused_cleanly(target: Target, plan: dict[str, Any], rule: str) -> None:
    """Zero rows, zero checkpoints, an audit 'refused' naming the rule, nothing left held."""
    assert target.counts(plan) == zero_counts(plan)
    assert target.checkpoints(plan) == []
    assert [r for e, r, _ in target.audit(plan) if e == "refused"] == [rule]
    assert target.runs(plan) == [("refused", False, 0)]
    assert _queue(target) == 0
    assert target.scalar("SELECT count(*) FROM seedc.maintenance") == 0


def test_a_busy_tenant_is_refused_after_the_lease_wait_naming_the_holder(
        target: Target, plan: dict[str, Any]) -> None:
    path = target.plan_file(plan)
    with hold_tenant_lock(target.admin_dsn, plan, holder=HOLDER):
        started = time.monotonic()
        result = target.cli("apply", str(path), "--dsn", target.apply_dsn, "--lease-wait", "1")
        waited = time.monotonic() - started
        assert result.code == 3, result.text
        assert f"is being seeded by {HOLDER}; waited 1 s" in result.error
        assert "[rule lease.tenant: one run per tenant/environment" in result.error
        assert waited >= 1
        # the refused run did not take over the holder's lease row
        assert target.scalar("SELECT holder FROM seedc.leases") == HOLDER
    _assert_refused_cleanly(
        target, plan, "one run per tenant/environment: advisory lock + 60 s lease (sessions 1, 4)")
    assert advisory_held(target.admin_dsn, _slot_key(plan), 0) == 0  # its slot was given back


def test_a_busy_tenant_is_waited_for_and_then_applied(
        target: Target, plan: dict[str, Any]) -> None:
    path = target.plan_file(plan)
    args = ["apply", str(path), "--dsn", target.apply_dsn, "--lease-wait", "20"]
    with hold_tenant_lock(target.admin_dsn, plan, holder=HOLDER) as holder, \
            start_cli(args, target.tmp) as run:
        wait_for(lambda: advisory_held(target.admin_dsn, _slot_key(plan), 0),
                 what="the run holding a slot and waiting for the lease", alive=run.alive)
        time.sleep(1.0)
        assert run.running
        assert target.counts(plan) == zero_counts(plan)
        holder.close()  # the other run ends
        result = run.finish()
    assert result.code == 0, result.text
    assert result.out.startswith("SUCCEEDED: wrote "), result.out
    assert target.counts(plan) == planned_counts(plan)
    assert target.scalar("SELECT count(*) FROM seedc.leases") == 0
    assert advisory_held(target.admin_dsn, lock_key(TENANT_CLASS, plan["environment"]),
                         lock_key(TENANT_CLASS, plan["tenant_id"])) == 0


def test_a_third_run_queues_and_is_refused_when_the_queue_ttl_expires(
        target: Target, plan: dict[str, Any]) -> None:
    path = target.plan_file(plan)
    args = ["apply", str(path), "--dsn", target.apply_dsn, "--queue-ttl", "2"]
    with hold_slots(target.admin_dsn, plan["environment"]), start_cli(args, target.tmp) as run:
        wait_for(lambda: _queue(target) == 1, what="the run in seedc.queue",
                 alive=run.alive)
        assert target.scalar("SELECT tenant FROM seedc.queue") == plan["tenant"]
        result = run.finish()
    assert result.code == 3, result.text
    assert "no free run slot in environment 'dev' (2 runs at most) within the queue TTL of 2 s" \
        in result.error
    assert "[rule slot.cluster: at most 2 concurrent runs per environment" in result.error
    _assert_refused_cleanly(
        target, plan, "at most 2 concurrent runs per environment, queue TTL 5 min (sessions 1, 16)")


def test_a_queued_run_proceeds_when_a_slot_frees(target: Target, plan: dict[str, Any]) -> None:
    path = target.plan_file(plan)
    args = ["apply", str(path), "--dsn", target.apply_dsn, "--queue-ttl", "20"]
    with hold_slots(target.admin_dsn, plan["environment"]) as slots, \
            start_cli(args, target.tmp) as run:
        wait_for(lambda: _queue(target) == 1, what="the run in seedc.queue",
                 alive=run.alive)
        slots[1].close()  # one of the two running runs ends
        result = run.finish()
    assert result.code == 0, result.text
    assert result.out.startswith("SUCCEEDED: wrote "), result.out
    assert _queue(target) == 0
    assert target.counts(plan) == planned_counts(plan)


def test_time_queued_for_a_slot_does_not_consume_the_write_budget(
        target: Target, tmp_path: Path) -> None:
    """The budget's clock is injected and only moves while the run is queued: 100 s pass
    there, far above `max_seconds: 2`, and none while it writes, so the outcome does not
    depend on this machine's speed."""
    plan = compile_variant(tmp_path / "budget", [("max_seconds: 60", "max_seconds: 2")])
    assert plan["estimate"]["seconds"] <= 2  # the write itself fits the budget easily
    clock = [0.0]
    options = ApplyOptions(lease=LeaseSettings(queue_ttl_s=30, poll_s=0.1),
                           clock=lambda: clock[0])
    with hold_slots(target.admin_dsn, plan["environment"]) as slots:
        run = Background(lambda: target.apply(plan, options))
        run.start()
        wait_for(lambda: _queue(target) == 1, what="the run in seedc.queue",
                 alive=run.alive)
        clock[0] += 100.0  # queued "longer" than max_seconds, well within the queue TTL
        slots[0].close()
        report = run.result()
    assert report.status == "succeeded"
    assert target.counts(plan) == planned_counts(plan)


def test_a_dead_run_at_the_head_of_the_queue_does_not_block_the_next(
        target: Target, plan: dict[str, Any]) -> None:
    """A run killed while queued leaves its row, older than ours and unexpired; when a slot
    frees, the live run takes it at once instead of waiting for the dead row's TTL."""
    target.execute(
        "INSERT INTO seedc.queue (run_id, environment, tenant, holder, enqueued_at, "
        "expires_at, backend_pid) VALUES (gen_random_uuid(), %s, 'ghost', 'dead:1', "
        "clock_timestamp() - interval '1 minute', clock_timestamp() + interval '4 minutes', "
        "2147483000)", (plan["environment"],))
    options = ApplyOptions(lease=LeaseSettings(queue_ttl_s=10, poll_s=0.1))
    with hold_slots(target.admin_dsn, plan["environment"]) as slots:
        run = Background(lambda: target.apply(plan, options))
        run.start()
        wait_for(lambda: _queue(target) == 2, what="our run queued behind the ghost",
                 alive=run.alive)
        slots[0].close()
        report = run.result()
    assert report.status == "succeeded"
    assert target.counts(plan) == planned_counts(plan)
