"""Loans and installments in plans come from the finance routine and agree with each other."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from seedc.compiler.pipeline import compile_manifest
from tests.manifests import variant


def _rows(plan: dict, entity: str) -> list[dict]:
    out = []
    for batch in plan["batches"]:
        if batch["entity"] == entity:
            out += [dict(zip(batch["columns"], r, strict=True)) for r in batch["rows"]]
    return out


def _load_plan(tmp: Path) -> dict:
    return compile_manifest(variant(tmp, [
        ("mode: baseline", "mode: load"),
        ("loans:         {count: 12, cap: 50}", "loans:         {count: 40, cap: 50}"),
        ("canary: {enabled: false}",
         "canary: {enabled: false}\nstates:\n"
         "  loans: {active: 0.4, settled: 0.2, defaulted: 0.3, cancelled: 0.1}"),
    ]))


def test_installments_sum_to_the_financed_amount_and_end_at_zero(tmp_path: Path) -> None:
    plan = compile_manifest(variant(tmp_path))
    loans = {r["id"]: r for r in _rows(plan, "loans")}
    per_loan: dict[str, list[dict]] = defaultdict(list)
    for inst in _rows(plan, "installments"):
        per_loan[inst["loan_id"]].append(inst)
    assert set(per_loan) == set(loans)
    for loan_id, items in per_loan.items():
        loan = loans[loan_id]
        items.sort(key=lambda r: int(r["number"]))
        assert len(items) == int(loan["term_months"])
        assert sum(Decimal(i["amortization"]) for i in items) == Decimal(loan["financed_amount"])
        assert items[-1]["balance"] == "0.00"
        assert items[0]["due_date"] == loan["first_due_date"]
        assert items[0]["amount"] == loan["installment_amount"]
        assert Decimal(loan["financed_amount"]) - Decimal(loan["iof_amount"]) == Decimal(
            loan["principal"])
        assert sum(Decimal(i["amount"]) for i in items) == Decimal(loan["total_payable"])


def test_baseline_loans_are_happy_path_only(tmp_path: Path) -> None:
    plan = compile_manifest(variant(tmp_path))
    assert {r["status"] for r in _rows(plan, "loans")} == {"active"}
    assert {r["status"] for r in _rows(plan, "installments")} <= {"paid", "open"}


def test_installment_statuses_follow_the_loan_state_as_of_the_reference_date(
    tmp_path: Path,
) -> None:
    plan = _load_plan(tmp_path)
    ref = plan["reference_datetime"][:10]
    loans = {r["id"]: r for r in _rows(plan, "loans")}
    assert {r["status"] for r in loans.values()} == {"active", "settled", "defaulted",
                                                     "cancelled"}
    for inst in _rows(plan, "installments"):
        state = loans[inst["loan_id"]]["status"]
        past = inst["due_date"] < ref
        expected = {
            "cancelled": "cancelled",
            "settled": "paid",
            "defaulted": "overdue" if past else "open",
            "active": "paid" if past else "open",
        }[state]
        assert inst["status"] == expected, (state, inst)
    defaulted = [lid for lid, loan in loans.items() if loan["status"] == "defaulted"]
    overdue = {i["loan_id"] for i in _rows(plan, "installments") if i["status"] == "overdue"}
    assert overdue
    assert overdue <= set(defaulted)


def test_contract_dates_derive_from_the_reference_datetime(tmp_path: Path) -> None:
    early = compile_manifest(variant(tmp_path / "a"))
    later = compile_manifest(variant(tmp_path / "b", [('"2025-01-01T00:00:00Z"',
                                                         '"2025-02-01T00:00:00Z"')]))
    a, b = _rows(early, "loans"), _rows(later, "loans")
    from datetime import date

    for x, y in zip(a, b, strict=True):
        shift = date.fromisoformat(y["contract_date"]) - date.fromisoformat(x["contract_date"])
        assert shift.days == 31


def test_installments_follow_each_loans_batch_over_the_same_loans(tmp_path: Path) -> None:
    """Expansions are scheduled right after their parent's batch, so the quotes computed for
    the loans are still cached when their installments are generated (flat memory)."""
    plan = compile_manifest(variant(tmp_path, [
        ("mode: baseline", "mode: load"),
        ("loans:         {count: 12, cap: 50}", "loans:         {count: 45, cap: 50}"),
        ("canary: {enabled: false}", "canary: {enabled: false}\nbatch_size: 20"),
    ]))
    ids = [b["id"] for b in plan["batches"]]
    loans = [i for i, b in enumerate(plan["batches"]) if b["entity"] == "loans"]
    assert len(loans) == 3
    for i in loans:
        parent, child = plan["batches"][i], plan["batches"][i + 1]
        assert child["entity"] == "installments", ids
        assert child["key_range"] == parent["key_range"]
    from seedc.plan.rows import rows_digest
    from seedc.program.batch import batch_cells
    from seedc.program.evaluate import Program

    cold = Program.from_json(plan["program"])  # no cache: same rows as with the cache
    for batch in plan["batches"][loans[0]:]:
        rng = batch["key_range"]
        cells = batch_cells(cold, batch["entity"], rng["start"], rng["stop"])
        assert rows_digest(cells) == batch["rows_digest"]
        cold.cache.clear()
