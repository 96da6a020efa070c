"""``seedc finance quote``: quote one loan from the command line.

Why plain string options: every value goes through the same validation as the library
(:func:`seedc.finance.quote.quote`), so a bad value raises :class:`seedc.errors.InvalidInput`
(exit code 2 at the CLI edge) with the same message whether it came from Python or a shell.
"""

from __future__ import annotations

import json

import click

from seedc.errors import InvalidInput

from .quote import Quote, quote_to_json
from .quote import quote as quote_loan

__all__ = ["quote", "quote_command", "render_text"]


def _int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(
            f"{field} must be an integer, got {value!r}", rule="finance.terms"
        ) from None


def render_text(q: Quote) -> str:
    """A readable schedule table followed by the summary a customer would see."""
    header = ("#", "due", "opening", "interest", "amortization", "payment", "balance")
    rows = [
        (
            str(r.number),
            r.due_date.isoformat(),
            f"{r.opening_balance:,.2f}",
            f"{r.interest:,.2f}",
            f"{r.amortization:,.2f}",
            f"{r.payment:,.2f}",
            f"{r.balance:,.2f}",
        )
        for r in q.installments
    ]
    widths = [max(len(c[i]) for c in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].rjust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    t = q.terms
    rate = f"{t.rate_monthly} % a.m." if t.rate_monthly is not None else f"{t.rate_annual} % a.a."
    summary = [
        f"system {t.system}, {t.term} months at {rate}, day count {t.day_count}, "
        f"contract {t.contract_date.isoformat()}, borrower {t.borrower}",
        f"released amount      {q.released_amount:,.2f}",
        f"financed principal   {q.financed_principal:,.2f}",
        f"IOF ({t.iof})".ljust(21)
        + f"{q.iof_total:,.2f} (daily {q.iof_daily:,.2f} + additional {q.iof_additional:,.2f})",
        f"fees                 {q.fees_total:,.2f}",
        f"first payment        {q.payment:,.2f}",
        f"total paid           {q.total_paid:,.2f}",
        f"CET                  {q.cet_annual_percent} % a.a. ({q.cet_monthly_percent} % a.m.)",
    ]
    if q.capitalized_interest:
        summary.insert(3, f"capitalised interest {q.capitalized_interest:,.2f}")
    if q.iof_citation:
        summary.append(f"IOF rates: {q.iof_citation}")
    sep = "-" * len(line(header))
    return "\n".join([line(header), sep, *(line(r) for r in rows), sep, *summary])


@click.command("quote")
@click.option("--principal", required=True, help="Amount requested, in reais (e.g. 10000.00).")
@click.option("--rate-monthly", default=None, help="Interest rate, percent a month (e.g. 1.99).")
@click.option("--rate-annual", default=None, help="Effective rate, percent a year (e.g. 26.82).")
@click.option("--term", required=True, help="Number of monthly installments.")
@click.option("--system", default="price", show_default=True, help="price | sac")
@click.option("--contract-date", required=True, help="Contract (release) date, YYYY-MM-DD.")
@click.option("--first-due", default=None, help="First due date, YYYY-MM-DD (default +1 month).")
@click.option("--borrower", default="pf", show_default=True, help="pf | pj")
@click.option("--iof", default="financed", show_default=True, help="financed | upfront | none")
@click.option("--fee", "fees", multiple=True, help="Upfront fee in reais; repeatable.")
@click.option("--day-count", default="30/360", show_default=True, help="30/360 | actual/365")
@click.option(
    "--grace", default="0", show_default=True, help="Grace months (interest capitalised)."
)
@click.option("--carry", default="rounded", show_default=True, help="rounded (cent ledger) | exact")
@click.option("--json", "as_json", is_flag=True, help="Print the quote as canonical JSON.")
def quote_command(
    principal: str,
    rate_monthly: str | None,
    rate_annual: str | None,
    term: str,
    system: str,
    contract_date: str,
    first_due: str | None,
    borrower: str,
    iof: str,
    fees: tuple[str, ...],
    day_count: str,
    grace: str,
    carry: str,
    as_json: bool,
) -> None:
    """Quote a Price or SAC loan: schedule, IOF, released amount and CET."""
    if (rate_monthly is None) == (rate_annual is None):
        raise InvalidInput(
            "give exactly one of --rate-monthly and --rate-annual", rule="finance.terms"
        )
    q = quote_loan(
        principal,
        term=_int(term, "--term"),
        contract_date=contract_date,
        rate_monthly=rate_monthly,
        rate_annual=rate_annual,
        system=system,
        first_due=first_due,
        borrower=borrower,
        iof=iof,
        fees=fees,
        day_count=day_count,
        grace_months=_int(grace, "--grace"),
        carry=carry,
    )
    if as_json:
        click.echo(json.dumps(quote_to_json(q), sort_keys=True, indent=2, ensure_ascii=False))
    else:
        click.echo(render_text(q))


quote = quote_command  # the name the lead registers: `finance.add_command(cli.quote)`
