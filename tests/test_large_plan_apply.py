"""The large-plan path on a small plan: rows regenerated at apply, digest-checked, by workers.

Load plans above INLINE_ROW_LIMIT rows (seedc/compiler/build.py) carry the generator program
and key ranges instead of rows (README "load plan size"; spec seeds 000, sessions 2 and 10 for
load mode), so apply regenerates every batch and checks it against the batch's `rows_digest`
before writing it. The manifest is dev/acme in load mode with 24,000 transactions (~24.4k rows
in all: just over the limit, a few seconds to apply); there is no manifest option that lowers
the limit.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from seedc.compiler.build import INLINE_ROW_LIMIT
from seedc.compiler.pipeline import compile_manifest
from seedc.plan.canonical import plan_hash
from tests.manifests import variant
from tests.runtime_support import Target, planned_counts, prepared_target

LOAD_EDITS = [
    ("mode: baseline ", "mode: load     "),
    ("transactions:  {count: 200, cap: 500}", "transactions:  {count: 24000, cap: 30000}"),
    ("max_rows: 2000, max_bytes: 2000000", "max_rows: 40000, max_bytes: 20000000"),
]
#: The argument edited in the tampered plan: the upper bound of transactions.amount.
AMOUNT_HIGH = ["lit", "dec", "5000.00"]


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return compile_manifest(variant(tmp_path_factory.mktemp("large"), LOAD_EDITS))


@pytest.fixture
def target(pg_db: str, apply_role_dsn: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Target:
    return prepared_target(pg_db, apply_role_dsn, tmp_path, monkeypatch)


def _tampered(plan: dict[str, Any]) -> dict[str, Any]:
    """One generator argument edited and the plan hash recomputed, so only digests can tell."""
    out = copy.deepcopy(plan)
    columns = out["program"]["entities"]["transactions"]["columns"]
    amount = next(c for c in columns if c["name"] == "amount")
    assert amount["expr"][0:2] == ["call", "money"]
    assert amount["expr"][2][1] == AMOUNT_HIGH
    amount["expr"][2][1] = ["lit", "dec", "5001.00"]
    out["plan_hash"] = plan_hash(out)
    return out


def test_the_plan_carries_the_program_not_rows(plan: dict[str, Any]) -> None:
    assert plan["mode"] == "load"
    assert plan["rows_inline"] is False
    assert sum(b["row_count"] for b in plan["batches"]) == 24_418 > INLINE_ROW_LIMIT
    assert not [b["id"] for b in plan["batches"] if "rows" in b]
    assert all(b["rows_digest"].startswith("sha256:") for b in plan["batches"])
    assert plan_hash(plan) == plan["plan_hash"]


def test_large_plan_applies_then_no_drift_then_noop(target: Target,
                                                    plan: dict[str, Any]) -> None:
    """`seedc apply` (generation workers, as the CLI wires them) then `seedc diff --dsn`."""
    path = target.plan_file(plan)
    applied = target.cli("apply", str(path), "--dsn", target.apply_dsn)
    assert applied.code == 0, applied.text[-2000:]
    assert target.counts(plan) == planned_counts(plan)
    assert target.counts(plan)["app.transactions"] == 24_000
    assert len(target.checkpoints(plan)) == len(plan["batches"])
    drift = target.cli("diff", str(path), "--dsn", target.apply_dsn)
    assert drift.code == 0, drift.text[-2000:]
    again = target.cli("apply", str(path), "--dsn", target.apply_dsn)
    assert again.code == 0, again.text[-2000:]
    assert [status for status, _, _ in target.runs(plan)] == ["succeeded", "noop"]


def test_tampered_program_is_caught_before_its_batch_writes(target: Target,
                                                            plan: dict[str, Any]) -> None:
    """A program edit that keeps the plan hash valid is caught by the first transactions
    batch's digest check, before that batch writes anything. The 12 batches before it were
    already committed, so by the house exit codes this is a stop after writes began: exit 4 and
    an `aborted` run whose detail says why, not 3 (3 promises nothing was written)."""
    bad = _tampered(plan)
    path = target.plan_file(bad)
    result = target.cli("apply", str(path), "--dsn", target.apply_dsn)
    assert "Traceback" not in result.text
    ids = [b["id"] for b in bad["batches"]]
    first = next(b["id"] for b in bad["batches"] if b["entity"] == "transactions")
    assert first == "0013-transactions-0001"
    before = bad["batches"][: ids.index(first)]
    assert f"batch {first}: rows do not match the plan's digest" in result.error
    counts = target.counts(bad)
    assert counts["app.transactions"] == 0
    assert [batch for batch, _ in target.checkpoints(bad)] == [b["id"] for b in before]
    assert {t: n for t, n in counts.items() if n} == {
        b["table"]: b["row_count"] for b in before}
    detail = target.scalar("SELECT detail FROM seedc.runs WHERE tenant = %s", (bad["tenant"],))
    assert "rows do not match the plan's digest" in (detail or ""), detail
    assert (result.code, target.runs(bad)) == (
        4, [("aborted", False, sum(b["row_count"] for b in before))]), result.error
