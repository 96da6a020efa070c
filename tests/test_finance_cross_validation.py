"""Seeds session 10: every loan equals the official routine to the cent, or compile fails.

Official routines are registered plugins (entry-point group ``seedc.official_routines`` of an
installed distribution), never `module:function` paths. The tests register theirs the way a
product package does: a real ``*.dist-info`` (METADATA + entry_points.txt) on ``sys.path``,
read by ``importlib.metadata`` like any installed distribution.
"""

from __future__ import annotations

import json
import tomllib
from importlib.metadata import EntryPoint, distribution, entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner

from seedc.cli import cli
from seedc.finance import quote_terms
from seedc.finance.routines import ENTRY_POINT_GROUP, RoutineNotRegistered, load_routine
from tests.manifests import REPO, variant

ROUTINE_LINE = "kind: Model\n"


def _with_routine(tmp: Path, routine: str) -> Path:
    return variant(tmp, model_edits=[(ROUTINE_LINE, ROUTINE_LINE + "finance:\n"
                                      f"  official_routine: \"{routine}\"\n")])


def _loans(plan: dict) -> list[dict]:
    batch = next(b for b in plan["batches"] if b["entity"] == "loans")
    return [dict(zip(batch["columns"], row, strict=True)) for row in batch["rows"]]


@pytest.fixture
def acme_credit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An installed distribution `acme-credit 2.3.1` registering two routines."""
    routines = {"acme_agreeing": "tests.finance_routines:agreeing",
                "acme_off_by_one_cent": "tests.finance_routines:off_by_one_cent"}
    info = tmp_path / "site" / "acme_credit-2.3.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-credit\nVersion: 2.3.1\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in routines.items()))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return routines


def test_a_registered_agreeing_routine_compiles_and_is_recorded(
        tmp_path: Path, acme_credit: dict[str, str]) -> None:
    manifest = _with_routine(tmp_path / "m", "acme_agreeing")
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(cli, ["compile", str(manifest), "-o", str(out)])
    assert result.exit_code == 0, result.output
    plan = json.loads(out.read_text())
    assert plan["sources"]["finance_routine"] == {
        "name": "acme_agreeing", "distribution": "acme-credit", "version": "2.3.1"}
    golden = json.loads((REPO / "plans" / "dev" / "acme.plan.json").read_text())
    assert _loans(plan) == _loans(golden)


def test_one_cent_off_on_one_loan_fails_compile_naming_the_loan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, acme_credit: dict[str, str]
) -> None:
    golden = json.loads((REPO / "plans" / "dev" / "acme.plan.json").read_text())
    target = _loans(golden)[3]
    monkeypatch.setenv("SEEDC_TEST_WRONG_PRINCIPAL", target["principal"])
    manifest = _with_routine(tmp_path / "m", "acme_off_by_one_cent")
    result = CliRunner().invoke(cli, ["compile", str(manifest), "-o", str(tmp_path / "p.json")])
    assert result.exit_code == 2, result.output
    assert f"loans[3] (id {target['id']})" in result.output
    assert "payment: built-in" in result.output
    assert "official routine" in result.output
    assert not (tmp_path / "p.json").exists()


def test_an_unknown_routine_is_invalid_input_listing_the_registered(
        tmp_path: Path, acme_credit: dict[str, str]) -> None:
    manifest = _with_routine(tmp_path / "m", "does_not_exist")
    result = CliRunner().invoke(cli, ["compile", str(manifest)])
    assert result.exit_code == 2
    assert "finance.official_routine" in result.stderr
    assert "no official routine 'does_not_exist' is registered (registered: " in result.stderr
    assert "acme_agreeing, acme_off_by_one_cent" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("path", ["sys:exit", "builtins:input", "evil:run",
                                  "tests.finance_routines:agreeing"])
def test_a_python_path_is_refused_and_never_imported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """A model used to make the compiler import and call anything importable."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "evil.py").write_text(
        "from pathlib import Path\nPath('imported').write_text('x')\ndef run(t): return t\n")
    manifest = _with_routine(tmp_path / "m", path)
    result = CliRunner().invoke(cli, ["compile", str(manifest)])
    assert result.exit_code == 2, result.output
    assert f"{path!r} is not a registered routine name" in result.stderr
    assert f'[project.entry-points."{ENTRY_POINT_GROUP}"]' in result.stderr
    assert not (tmp_path / "imported").exists()


def test_registry_refuses_a_name_registered_twice(tmp_path: Path) -> None:
    eps = [EntryPoint("dup", "a.b:c", ENTRY_POINT_GROUP),
           EntryPoint("dup", "x.y:z", ENTRY_POINT_GROUP)]
    with pytest.raises(RoutineNotRegistered, match="registered twice"):
        load_routine("dup", source=lambda: eps)


def _declared() -> dict[str, str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    declared: dict[str, str] = pyproject["project"]["entry-points"][ENTRY_POINT_GROUP]
    return declared


def test_pyproject_registers_the_reference_routine() -> None:
    """The declared entry points resolve, whatever is installed (checks pyproject itself)."""
    declared = _declared()
    assert declared == {"quote_terms": "seedc.finance.quote:quote_terms"}
    for name, value in declared.items():
        assert EntryPoint(name, value, ENTRY_POINT_GROUP).load() is quote_terms


def test_installed_seedc_registers_what_pyproject_declares() -> None:
    """The installed distribution's metadata (refreshed by `pip install -e .`) carries the
    registrations of pyproject.toml, so a model can name `quote_terms`."""
    installed = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)
                 if ep.dist is not None and ep.dist.metadata["Name"] == "seedc"}
    assert installed == _declared(), "reinstall seedc: pip install -e ."
    routine = load_routine("quote_terms")
    assert routine.function is quote_terms
    assert routine.record() == {"name": "quote_terms", "distribution": "seedc",
                                "version": distribution("seedc").version}


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
