"""Seeds session 10: every loan equals the official routine to the cent, or compile fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from seedc.cli import cli
from tests.manifests import REPO, variant

ROUTINE_LINE = "kind: Model\n"


def _with_routine(tmp: Path, routine: str) -> Path:
    return variant(tmp, model_edits=[(ROUTINE_LINE, ROUTINE_LINE + "finance:\n"
                                      f"  official_routine: \"{routine}\"\n")])


def _loans(plan: dict) -> list[dict]:
    batch = next(b for b in plan["batches"] if b["entity"] == "loans")
    return [dict(zip(batch["columns"], row, strict=True)) for row in batch["rows"]]


def test_an_agreeing_official_routine_compiles_and_is_recorded(tmp_path: Path) -> None:
    manifest = _with_routine(tmp_path, "tests.finance_routines:agreeing")
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(cli, ["compile", str(manifest), "-o", str(out)])
    assert result.exit_code == 0, result.output
    plan = json.loads(out.read_text())
    assert plan["sources"]["finance_routine"] == "tests.finance_routines:agreeing"
    golden = json.loads((REPO / "plans" / "dev" / "acme.plan.json").read_text())
    assert _loans(plan) == _loans(golden)


def test_one_cent_off_on_one_loan_fails_compile_naming_the_loan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    golden = json.loads((REPO / "plans" / "dev" / "acme.plan.json").read_text())
    target = _loans(golden)[3]
    monkeypatch.setenv("SEEDC_TEST_WRONG_PRINCIPAL", target["principal"])
    manifest = _with_routine(tmp_path, "tests.finance_routines:off_by_one_cent")
    result = CliRunner().invoke(cli, ["compile", str(manifest), "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 2, result.output
    assert f"loans[3] (id {target['id']})" in result.output
    assert "payment: built-in" in result.output
    assert "official routine" in result.output
    assert not (tmp_path / "p.json").exists()


def test_an_unloadable_routine_is_invalid_input(tmp_path: Path) -> None:
    manifest = _with_routine(tmp_path, "tests.finance_routines:does_not_exist")
    result = CliRunner().invoke(cli, ["compile", str(manifest)])
    assert result.exit_code == 2
    assert "finance.official_routine" in result.output
    assert "cannot load" in result.output


def test_loan_rows_match_the_finance_quote_command() -> None:
    """A reviewer can check any loan of a plan with `seedc finance quote`."""
    golden = json.loads((REPO / "plans" / "dev" / "acme.plan.json").read_text())
    loan = _loans(golden)[0]
    result = CliRunner().invoke(cli, [
        "finance", "quote", "--principal", loan["principal"],
        "--rate-monthly", loan["rate_monthly_percent"], "--term", loan["term_months"],
        "--system", loan["amortization_system"], "--contract-date", loan["contract_date"],
        "--borrower", "pf", "--iof", "financed", "--json"])
    assert result.exit_code == 0, result.output
    quote = json.loads(result.output)
    assert quote["installments"][0]["payment"] == loan["installment_amount"]
    assert quote["iof_total"] == loan["iof_amount"]
    assert quote["cet_annual_percent"] == loan["cet_annual_percent"]
