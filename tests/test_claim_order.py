"""Which ready batch a writer takes (issue 13): deepest dependency chain first, its own prebuilt
payload preferred — and never a batch whose parents are not all done, whatever it prefers."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from seedc.runtime.work_queue import claim, claim_order, mark_done, populate, register_worker
from tests.runtime_support import Target, prepared_target

REPO = Path(__file__).resolve().parent.parent
LOAD_PLAN = REPO / "plans" / "staging" / "acme-load.plan.json"


@pytest.fixture(scope="module")
def load_plan() -> dict[str, Any]:
    plan: dict[str, Any] = json.loads(LOAD_PLAN.read_text("utf-8"))
    return plan


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


def _first(order: list[dict[str, Any]], entity: str) -> int:
    return next(i for i, b in enumerate(order) if b["entity"] == entity)


def _last(order: list[dict[str, Any]], entity: str) -> int:
    return max(i for i, b in enumerate(order) if b["entity"] == entity)


def test_claim_order_is_topological_and_opens_deep_chains_before_leaves(
        load_plan: dict[str, Any]) -> None:
    order = claim_order(load_plan, load_plan["batches"])
    assert sorted(b["id"] for b in order) == sorted(b["id"] for b in load_plan["batches"])
    for i, batch in enumerate(order):  # every parent batch comes before its children
        for parent in batch["depends_on"]:
            assert _last(order, parent) < i, (batch["id"], parent)
    # contracts → loans → installments is the deepest chain: it starts before the big leaf
    assert _first(order, "contracts") < _first(order, "transactions")
    assert _first(order, "loans") < _first(order, "transactions")
    # plan order holds within an entity
    tx = [b["id"] for b in order if b["entity"] == "transactions"]
    assert tx == sorted(tx)


def test_claim_order_of_a_resumed_run_keeps_only_what_is_left(load_plan: dict[str, Any]) -> None:
    todo = [b for b in load_plan["batches"] if b["entity"] in ("loans", "installments")]
    order = claim_order(load_plan, todo)
    assert [b["entity"] for b in order] == ["loans"] * 12 + ["installments"] * 12


def _claims(target: Target) -> psycopg.Connection:
    return psycopg.connect(target.apply_dsn, autocommit=True)


def test_a_preferred_batch_is_taken_only_when_ready(target: Target,
                                                    load_plan: dict[str, Any]) -> None:
    plan = {**load_plan, "batches": load_plan["batches"][:20]}  # tenants … installments-0001
    run_id = str(uuid.uuid4())
    with _claims(target) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (plan["tenant_id"],))
        populate(conn, plan, run_id, plan["batches"])
        register_worker(conn, plan, run_id, "w1", "coordinator", 60)
        by_id = {b["id"]: b for b in plan["batches"]}
        customers = next(b["id"] for b in plan["batches"] if b["entity"] == "customers")
        # customers' parents (tenants, consultants) are not done: preferring it changes nothing
        first = claim(conn, run_id, "w1", prefer=[customers])
        assert first is not None
        assert first.batch_id != customers
        assert by_id[first.batch_id]["depends_on"] == []
        mark_done(conn, run_id, first.batch_id)
        # with tenants done, a ready batch that is preferred wins over claim order
        ready = [b["id"] for b in plan["batches"] if b["depends_on"] == ["tenants"]]
        assert len(ready) >= 3
        wanted = ready[-1]
        got = claim(conn, run_id, "w1", prefer=[wanted])
        assert got is not None
        assert got.batch_id == wanted
        mark_done(conn, run_id, wanted)
        # a batch another writer here is prebuilding goes last among the ready ones
        rest = [b for b in ready if b != wanted]
        got = claim(conn, run_id, "w1", avoid=[rest[0]])
        assert got is not None
        assert got.batch_id != rest[0]
        assert got.batch_id in rest


def test_a_writer_builder_serves_prebuilt_and_other_batches_and_closes_promptly(
        load_plan: dict[str, Any]) -> None:
    """The child builds in request order; `take` of a batch not prebuilt keeps the prebuilt
    payload for later; every payload equals an in-process build; a child whose answer was
    never read is gone at once on close (a full pipe must not hang the run's end)."""
    import time

    from seedc.program.evaluate import Program
    from seedc.runtime.payload import build_payload
    from seedc.runtime.pii.domains import PiiResolver
    from seedc.runtime.writers import _Builder

    key = bytes(range(32))
    batches = {b["entity"]: b for b in load_plan["batches"][:5]}
    program = Program.from_json(load_plan["program"])
    resolver = PiiResolver(key, load_plan["keys"]["algorithm"])
    builder = _Builder(load_plan, key, depth=1)
    try:
        assert builder.can_prebuild()
        builder.prebuild(batches["users"])
        assert not builder.can_prebuild()
        assert builder.held() == [batches["users"]["id"]]
        tenants = builder.take(batches["tenants"])
        assert builder.held() == [batches["users"]["id"]]
        users = builder.take(batches["users"])
        assert builder.held() == []
        assert builder.can_prebuild()
        for batch, payload in ((batches["tenants"], tenants), (batches["users"], users)):
            assert payload == build_payload(load_plan, program, batch, resolver)
        builder.prebuild(batches["customers"])  # 100k-row batch: its answer fills the pipe
        time.sleep(2)
    finally:
        t0 = time.monotonic()
        builder.close()
        assert time.monotonic() - t0 < 2
    assert builder.worker.proc.poll() is not None


def test_the_writer_that_built_a_parent_batch_prebuilds_its_children(
        load_plan: dict[str, Any]) -> None:
    """loans-k and installments-k sit side by side in the plan; the child process that quoted
    the loans keeps the quotes, so the same writer should build their installments."""
    from seedc.runtime.writers import _Lookahead, followers

    batches = load_plan["batches"]
    pairs = followers(batches)
    ids = {b["id"]: b for b in batches}
    loans = [b["id"] for b in batches if b["entity"] == "loans"]
    assert len(loans) > 1
    for loan in loans:
        assert ids[pairs[loan]]["entity"] == "installments"
        assert "loans" in ids[pairs[loan]]["depends_on"]
    assert all(ids[child]["entity"] != ids[parent]["entity"] for parent, child in pairs.items())
    look = _Lookahead(batches, claim_order(load_plan, batches))
    look.claimed(loans[0], "w1")
    assert pairs[loans[0]] in look.others("w2")
    for _ in range(len(batches)):
        nxt = look.next_for("w2")
        if nxt is None:
            break
        assert nxt["id"] != pairs[loans[0]]
    assert look.next_for("w1") == ids[pairs[loans[0]]]
