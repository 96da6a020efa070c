"""`seedc finance quote` through click's CliRunner, text and --json.

The lead registers the command and maps SeedcError to exit codes at the CLI edge; this test
builds the same edge in a tiny group so exit code 2 for invalid input is checked here too.
"""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from seedc.errors import SeedcError
from seedc.finance import commands


class EdgeGroup(click.Group):
    """What the real CLI edge does: render a SeedcError and exit with its code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SeedcError as err:
            click.echo(err.render(), err=True)
            ctx.exit(int(err.exit_code))


@click.group(cls=EdgeGroup)
def finance() -> None:
    """Test stand-in for `seedc finance`."""


finance.add_command(commands.quote)

C_LOCALE = {"LANG": "C.UTF-8", "LC_ALL": ""}  # text output in the C locale, whatever the shell's
BASE = ["quote", "--principal", "10000.00", "--term", "12", "--contract-date", "2025-01-31"]


def test_text_output_has_table_and_summary() -> None:
    result = CliRunner(env=C_LOCALE).invoke(finance, [*BASE, "--rate-monthly", "1.99"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "amortization" in out
    assert "2025-02-28" in out
    assert "2025-03-31" in out
    assert "CET" in out
    assert "% a.a." in out
    assert "released amount      10,000.00" in out
    assert len([line for line in out.splitlines() if line.strip().startswith("12 ")]) == 1


def test_json_output_is_canonical_and_complete() -> None:
    args = [
        *BASE,
        "--rate-annual",
        "26.82",
        "--system",
        "sac",
        "--fee",
        "150",
        "--fee",
        "25.50",
        "--iof",
        "upfront",
        "--borrower",
        "pj",
        "--day-count",
        "actual/365",
        "--json",
    ]
    result = CliRunner(env=C_LOCALE).invoke(finance, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert result.output.strip() == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False)
    assert data["fees_total"] == "175.50"
    assert len(data["installments"]) == 12
    assert data["installments"][-1]["balance"] == "0.00"
    released = 10000 * 100 - round(float(data["iof_total"]) * 100) - 17550  # cents, test only
    assert data["released_amount"] == f"{released // 100}.{released % 100:02d}"
    assert set(data["installments"][0]) == {
        "number",
        "due_date",
        "opening_balance",
        "payment",
        "interest",
        "amortization",
        "balance",
    }


def test_grace_and_first_due_options() -> None:
    result = CliRunner(env=C_LOCALE).invoke(
        finance, [*BASE, "--rate-monthly", "2", "--grace", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["installments"][0]["due_date"] == "2025-04-30"
    assert data["capitalized_interest"] != "0.00"
    result = CliRunner(env=C_LOCALE).invoke(
        finance, [*BASE, "--rate-monthly", "2", "--first-due", "2025-03-10", "--json"]
    )
    assert json.loads(result.output)["installments"][1]["due_date"] == "2025-04-10"


def test_invalid_input_exits_2() -> None:
    runner = CliRunner(env=C_LOCALE)
    both = runner.invoke(finance, [*BASE, "--rate-monthly", "1", "--rate-annual", "12"])
    assert both.exit_code == 2
    assert "exactly one" in both.stderr
    neither = runner.invoke(finance, BASE)
    assert neither.exit_code == 2
    bad_system = runner.invoke(finance, [*BASE, "--rate-monthly", "1", "--system", "german"])
    assert bad_system.exit_code == 2
    assert "system must be one of" in bad_system.stderr
    bad_term = runner.invoke(
        finance, [*BASE[:3], "--term", "twelve", *BASE[5:], "--rate-monthly", "1"]
    )
    assert bad_term.exit_code == 2
