"""``seedc finance quote``: quote one loan from the command line.

Why plain string options: every value goes through the same validation as the library
(:func:`seedc.finance.quote.quote`), so a bad value raises :class:`seedc.errors.InvalidInput`
(exit code 2 at the CLI edge) with the same message whether it came from Python or a shell.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from decimal import Decimal

import click

from seedc.errors import InvalidInput

from .quote import Quote, quote_to_json
from .quote import quote as quote_loan

__all__ = ["parse_amount", "parse_date", "quote", "quote_command", "render_text",
           "resolve_locale"]

PT_BR = "pt-BR"
_PT_GROUPED = re.compile(r"\d{1,3}(\.\d{3})+")  # 1.000 / 10.000: a dot before 3 digits
_PT_NUMBER = re.compile(r"(\d{1,3}(\.\d{3})+|\d+)(,\d+)?")  # 10.000,00 / 1,99 / 10000
_BR_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")  # 15/01/2025


def resolve_locale(option: str | None) -> str:
    """--locale, else pt-BR when LC_ALL (or else LANG) starts with pt_BR, else C.

    LC_ALL wins over LANG as in POSIX; an empty LC_ALL does not count.
    """
    if option:
        return option
    env = os.environ.get("LC_ALL") or os.environ.get("LANG") or ""
    return PT_BR if env.replace("-", "_").lower().startswith("pt_br") else "C"


def parse_amount(value: str, field: str, locale: str) -> str:
    """A Brazilian or canonical amount as a canonical decimal string (exactness kept).

    Accepts `R$ 10.000,00`, `10.000,00`, `1,99`, `10000.00`. A comma is always the decimal
    mark and then dots must group thousands. Without a comma a dot is the decimal mark, except
    in pt-BR when every dot is followed by exactly 3 digits (`1.000` is one thousand in pt-BR,
    one in C). `10,000.00` (US grouping) is refused rather than guessed.
    """
    text = value.strip()
    if text.upper().startswith("R$"):
        text = text[2:].strip()
    text = text.removesuffix("%").strip().replace("\u00a0", "").replace(" ", "")
    if "," in text or (locale == PT_BR and _PT_GROUPED.fullmatch(text)):
        if not _PT_NUMBER.fullmatch(text):
            raise InvalidInput(
                f"{field} is not a number: {value!r}", rule="finance.exact-input",
                details=["write 10.000,00 (pt-BR) or 10000.00; a comma is the decimal mark "
                         "and dots group thousands"])
        return text.replace(".", "").replace(",", ".")
    return text


def parse_date(value: str) -> str:
    """`15/01/2025` (DD/MM/AAAA) as ISO `2025-01-15`; anything else is passed on as is."""
    m = _BR_DATE.fullmatch(value.strip())
    return f"{m.group(3)}-{int(m.group(2)):02d}-{int(m.group(1)):02d}" if m else value.strip()


def _fmt(value: Decimal, locale: str) -> str:
    """Money with thousands grouping: 10,209.64 (C) or 10.209,64 (pt-BR)."""
    text = f"{value:,.2f}"
    return text.translate(str.maketrans(",.", ".,")) if locale == PT_BR else text


def _pct(value: object, locale: str) -> str:
    text = str(value)
    return text.replace(".", ",") if locale == PT_BR else text


def _day(value: date, locale: str) -> str:
    return value.strftime("%d/%m/%Y") if locale == PT_BR else value.isoformat()


def _int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(
            f"{field} must be an integer, got {value!r}", rule="finance.terms"
        ) from None


def render_text(q: Quote, locale: str = "C") -> str:
    """A readable schedule table followed by the summary a customer would see.

    In pt-BR amounts read `R$ 10.209,64` and rates `31,98 % a.a.`; otherwise `10,209.64`.
    """
    cur = "R$ " if locale == PT_BR else ""

    def m(value: Decimal) -> str:
        return cur + _fmt(value, locale)

    header = ("#", "due", "opening", "interest", "amortization", "payment", "balance")
    rows = [
        (
            str(r.number),
            _day(r.due_date, locale),
            _fmt(r.opening_balance, locale),
            _fmt(r.interest, locale),
            _fmt(r.amortization, locale),
            _fmt(r.payment, locale),
            _fmt(r.balance, locale),
        )
        for r in q.installments
    ]
    widths = [max(len(c[i]) for c in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].rjust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    t = q.terms
    rate = (f"{_pct(t.rate_monthly, locale)} % a.m." if t.rate_monthly is not None
            else f"{_pct(t.rate_annual, locale)} % a.a.")
    summary = [
        f"system {t.system}, {t.term} months at {rate}, day count {t.day_count}, "
        f"contract {_day(t.contract_date, locale)}, borrower {t.borrower}",
        f"released amount      {m(q.released_amount)}",
        f"financed principal   {m(q.financed_principal)}",
        f"IOF ({t.iof})".ljust(21)
        + f"{m(q.iof_total)} (daily {m(q.iof_daily)} + additional {m(q.iof_additional)})",
        f"fees                 {m(q.fees_total)}",
        f"first payment        {m(q.payment)}",
        f"total paid           {m(q.total_paid)}",
        f"CET                  {_pct(q.cet_annual_percent, locale)} % a.a. "
        f"({_pct(q.cet_monthly_percent, locale)} % a.m.)",
    ]
    if q.capitalized_interest:
        summary.insert(3, f"capitalised interest {m(q.capitalized_interest)}")
    if q.iof_citation:
        summary.append(f"IOF rates: {q.iof_citation}")
    sep = "-" * len(line(header))
    return "\n".join([line(header), sep, *(line(r) for r in rows), sep, *summary])


@click.command("quote")
@click.option("--principal", required=True,
              help="Amount requested, in reais: 10000.00, 10.000,00 or R$ 10.000,00.")
@click.option("--rate-monthly", default=None, help="Interest rate, percent a month (1.99 or 1,99).")
@click.option("--rate-annual", default=None, help="Effective rate, % a year (26.82 or 26,82).")
@click.option("--term", required=True, help="Number of monthly installments.")
@click.option("--system", default="price", show_default=True, help="price | sac (any case)")
@click.option("--contract-date", required=True,
              help="Contract (release) date, YYYY-MM-DD or DD/MM/YYYY.")
@click.option("--first-due", default=None,
              help="First due date, YYYY-MM-DD or DD/MM/YYYY (default +1 month).")
@click.option("--borrower", default="pf", show_default=True, help="pf | pj (any case)")
@click.option("--iof", default="financed", show_default=True, help="financed | upfront | none")
@click.option("--fee", "fees", multiple=True, help="Upfront fee in reais; repeatable.")
@click.option("--day-count", default="30/360", show_default=True, help="30/360 | actual/365")
@click.option(
    "--grace", default="0", show_default=True, help="Grace months (interest capitalised)."
)
@click.option("--carry", default="rounded", show_default=True, help="rounded (cent ledger) | exact")
@click.option("--locale", "locale_name", type=click.Choice([PT_BR, "C"]), default=None,
              help="Text output: pt-BR (R$ 10.209,64, 31,98 % a.a.) or C (10,209.64). "
                   "Default pt-BR when LC_ALL/LANG starts with pt_BR.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the quote as canonical JSON (dot decimals, ISO dates) in any locale.")
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
    locale_name: str | None,
    as_json: bool,
) -> None:
    """Quote a Price or SAC loan: schedule, IOF, released amount and CET.

    Amounts and rates may be written the Brazilian way: a comma is the decimal mark and dots
    group thousands (10.000,00, 1,99, R$ 10.000,00). Without a comma a dot is the decimal
    mark (10000.00, 1.99), except that in pt-BR a dot followed by exactly three digits
    groups thousands: 1.000 is one thousand in pt-BR and one otherwise. Dates may be
    DD/MM/YYYY (15/01/2025) or YYYY-MM-DD; PF/PJ and PRICE/SAC in any case.

    \b
    Examples:
      seedc finance quote --principal "R$ 10.000,00" --rate-monthly 1,99 --term 12 \\
          --contract-date 15/01/2025 --system SAC --borrower PF --locale pt-BR
      seedc finance quote --principal 10000.00 --rate-annual 26.82 --term 24 \\
          --contract-date 2025-01-15 --json
    """
    locale = resolve_locale(locale_name)
    if (rate_monthly is None) == (rate_annual is None):
        raise InvalidInput(
            "give exactly one of --rate-monthly and --rate-annual", rule="finance.terms"
        )

    def rate(value: str | None, field: str) -> str | None:
        return None if value is None else parse_amount(value, field, locale)

    q = quote_loan(
        parse_amount(principal, "principal", locale),
        term=_int(term, "--term"),
        contract_date=parse_date(contract_date),
        rate_monthly=rate(rate_monthly, "rate"),
        rate_annual=rate(rate_annual, "rate"),
        system=system.strip().lower(),
        first_due=None if first_due is None else parse_date(first_due),
        borrower=borrower.strip().lower(),
        iof=iof.strip().lower(),
        fees=tuple(parse_amount(f, "fee", locale) for f in fees),
        day_count=day_count.strip().lower(),
        grace_months=_int(grace, "--grace"),
        carry=carry.strip().lower(),
    )
    if as_json:
        click.echo(json.dumps(quote_to_json(q), sort_keys=True, indent=2, ensure_ascii=False))
    else:
        click.echo(render_text(q, locale))


quote = quote_command  # the name the lead registers: `finance.add_command(cli.quote)`
