"""Issue 11 "first hour": everyday commands' text and --json output.

`finance quote` parsing is table-driven through the real CLI (exit codes from its edge); the
oracle for a Brazilian input is the same quote given in canonical form.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from seedc.cli import cli
from tests.manifests import REPO

C_ENV = {"LANG": "C.UTF-8", "LC_ALL": ""}
PT_ENV = {"LANG": "pt_BR.UTF-8", "LC_ALL": ""}
CANONICAL = ["finance", "quote", "--principal", "10000.00", "--rate-monthly", "1.99",
             "--term", "12", "--contract-date", "2025-01-15", "--system", "price",
             "--borrower", "pf", "--json"]


def _quote(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["finance", "quote", *args], env=env or C_ENV)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("principal", "rate", "date", "system", "borrower", "env"), [
    ("10.000,00", "1,99", "15/01/2025", "PRICE", "PF", C_ENV),
    ("R$ 10.000,00", "1,99", "15/01/2025", "Price", "pf", C_ENV),
    ("R$10.000", "1,99", "2025-01-15", "price", "Pf", PT_ENV),  # pt-BR: dot + 3 digits
    ("10000", "1.99", "15/1/2025", "price", "PF", PT_ENV),
    ("10000.00", "1.99", "2025-01-15", "price", "pf", C_ENV),
])
def test_brazilian_inputs_quote_like_canonical_ones(
        principal: str, rate: str, date: str, system: str, borrower: str,
        env: dict[str, str]) -> None:
    code, expected, _ = _quote(CANONICAL[2:], C_ENV)
    assert code == 0
    code, out, err = _quote(["--principal", principal, "--rate-monthly", rate, "--term", "12",
                             "--contract-date", date, "--system", system,
                             "--borrower", borrower, "--json"], env)
    assert code == 0, err
    assert out == expected  # --json stays canonical in every locale


def test_sac_in_any_case() -> None:
    base = ["--principal", "1.000,00", "--rate-monthly", "1,5", "--term", "6",
            "--contract-date", "15/01/2025", "--json"]
    upper, lower = _quote([*base, "--system", "SAC"]), _quote([*base, "--system", "sac"])
    assert upper[0] == lower[0] == 0
    assert upper[1] == lower[1]
    assert json.loads(upper[1])["financed_principal"].startswith("10")  # 1.000,00 is 1000


@pytest.mark.parametrize(("principal", "env", "expected"), [
    ("1.000", PT_ENV, "1000"),   # pt-BR: a dot before exactly 3 digits groups thousands
    ("1.000", C_ENV, "1.000"),   # elsewhere the dot is the decimal mark
    ("1.000,5", C_ENV, "1000.5"),  # a comma always makes it Brazilian
])
def test_ambiguous_dot_rule(principal: str, env: dict[str, str], expected: str) -> None:
    from decimal import Decimal

    code, out, err = _quote(["--principal", principal, "--rate-monthly", "1", "--term", "3",
                             "--contract-date", "2025-01-15", "--iof", "none", "--json"], env)
    assert code == 0, err
    assert Decimal(json.loads(out)["released_amount"]) == Decimal(expected)


@pytest.mark.parametrize("principal", ["10,000.00", "1.00,00", "R$ dez", "1.0000,00"])
def test_malformed_amounts_exit_2(principal: str) -> None:
    code, out, err = _quote(["--principal", principal, "--rate-monthly", "1", "--term", "3",
                             "--contract-date", "2025-01-15"])
    assert code == 2
    assert out == ""
    assert "principal is not a number" in err
    assert "Traceback" not in err


def test_pt_br_text_output() -> None:
    args = ["--principal", "R$ 10.000,00", "--rate-monthly", "1,99", "--term", "12",
            "--contract-date", "15/01/2025"]
    code, out, _ = _quote([*args, "--locale", "pt-BR"])
    assert code == 0
    data = json.loads(_quote([*args, "--json"])[1])
    total = data["total_paid"].replace(".", ",")
    integer, cents = total.split(",")
    grouped = f"{int(integer):,}".replace(",", ".") + "," + cents
    assert f"total paid           R$ {grouped}" in out
    cet = data["cet_annual_percent"].replace(".", ",")
    assert f"CET                  {cet} % a.a." in out
    assert "15/02/2025" in out  # dates DD/MM/YYYY in pt-BR text
    assert _quote(args, PT_ENV)[1] == out  # LANG=pt_BR picks pt-BR by default
    c_out = _quote([*args, "--locale", "C"], PT_ENV)[1]
    assert f"total paid           {data['total_paid'][:-6]},{data['total_paid'][-6:]}" in c_out
    assert "R$" not in c_out


def test_finance_help_has_examples_and_the_dot_rule() -> None:
    out = CliRunner().invoke(cli, ["finance", "quote", "--help"]).output
    assert "Examples:" in out
    assert "seedc finance quote --principal" in out
    assert "1.000 is one thousand in pt-BR" in " ".join(out.split())


# --- keys status without Vault: the dev key apply would use (issue 11) ----------------------

DEV_PLAN = REPO / "plans" / "dev" / "acme.plan.json"
CI_PLAN = REPO / "plans" / "ci" / "acme.plan.json"


def _dev_key(path: Path, version: int) -> Path:
    path.write_text(f"SEEDC_DEV_FPE_KEY={secrets.token_hex(32)}\n"
                    f"SEEDC_DEV_FPE_KEY_VERSION={version}\n")
    return path


def _keys(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["keys", "status", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def no_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VAULT_ADDR", "VAULT_TOKEN", "CI"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_vault")
def test_keys_status_isolated_dev_reports_the_local_key(tmp_path: Path) -> None:
    env = _dev_key(tmp_path / ".env.local", 1)
    code, out, err = _keys([str(DEV_PLAN), "--env-file", str(env)])
    assert code == 0, err
    assert out == f"seedc/dev/acme/fpe: plan salt_version 1, dev key ({env}) version 1: ok\n"
    code, out, _ = _keys([str(DEV_PLAN), "--env-file", str(env), "--json"])
    assert code == 0
    assert json.loads(out) == {
        "source": "local-dev", "ref": "seedc/dev/acme/fpe", "key_file": str(env),
        "plan_version": 1, "key_version": 1, "state": "ok",
        "message": f"the dev key in {env} is at version 1"}
    key = env.read_text().split("\n")[0].split("=")[1]
    assert key not in out


@pytest.mark.usefixtures("no_vault")
def test_keys_status_local_rotated_and_missing_exit_3_with_json(tmp_path: Path) -> None:
    env = _dev_key(tmp_path / ".env.local", 2)
    code, out, err = _keys([str(DEV_PLAN), "--env-file", str(env), "--json"])
    assert code == 3
    data = json.loads(out)
    assert (data["state"], data["key_version"], data["plan_version"]) == ("rotated", 2, 1)
    assert "seedc reset PLAN --yes" in err
    code, out, err = _keys([str(DEV_PLAN), "--env-file", str(tmp_path / "absent"), "--json"])
    assert code == 3
    assert json.loads(out)["state"] == "missing"
    assert "no dev key" in err
    assert "seedc demo" in err


@pytest.mark.usefixtures("no_vault")
def test_keys_status_refusals_print_json_then_exit_3(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _dev_key(tmp_path / ".env.local", 1)
    code, out, err = _keys([str(CI_PLAN), "--env-file", str(env), "--json"])
    assert code == 3
    data = json.loads(out)
    assert data["state"] == "refused"
    assert data["rule"] == "dev-only local key: isolated dev only, never in CI (session 1)"
    assert "only a dev manifest marked isolated_dev may use it" in data["message"]
    assert "configure Vault" in err
    monkeypatch.setenv("CI", "true")
    code, out, err = _keys([str(DEV_PLAN), "--env-file", str(env), "--json"])
    assert code == 3
    assert json.loads(out)["state"] == "refused"
    assert "refused because CI is set" in err
    monkeypatch.delenv("CI")
    code, out, err = _keys([str(REPO / "manifests" / "dev" / "acme.yaml"), "--json"])
    assert code == 2
    assert json.loads(out)["state"] == "invalid"
    assert "this is a manifest, not a plan" in err


def test_keys_status_help_has_examples() -> None:
    out = CliRunner().invoke(cli, ["keys", "status", "--help"]).output
    assert "Examples:" in out
    assert "seedc keys status plans/dev/acme.plan.json" in out
