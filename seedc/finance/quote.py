"""One call from loan terms to a full quote: schedule, IOF, released amount and CET.

Why a ``LoanTerms`` value: the compiler calls the built-in routine ``quote_terms`` for every
loan and checks it against the product's registered official routine of the same type,
``Callable[[LoanTerms], Quote]`` (see :data:`QuoteRoutine` and :mod:`.routines`).

Money flow, in the order it is computed:

* ``iof="none"``: financed principal = principal, no IOF.
* ``iof="upfront"``: financed principal = principal; IOF is computed on that loan and paid
  out of the released money.
* ``iof="financed"``: the IOF is added to the principal (gross-up): the financed principal F
  is the smallest cent amount with ``F - IOF(F) = principal``, IOF(F) computed on F's own
  amortizations (so the IOF base includes the IOF itself).
* The IOF base of each installment is its exact amortization under the system (before cent
  rounding), so IOF(F) is linear in F before its final rounding; see :mod:`.iof`.
* Fees are paid up front by the borrower and reduce the released amount.
* released amount = principal - upfront IOF - fees; the CET equates it to the installments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from seedc.errors import InvalidInput

from .calendar import DAY_COUNTS, DayCount, due_dates
from .cet import cet_annual, cet_percent
from .iof import BORROWERS, Borrower, IofBreakdown, gross_up, iof_for_schedule, iof_rate_on
from .money import ZERO, exact, parse_decimal
from .schedule import (
    CARRIES,
    Carry,
    Installment,
    amortization_shares,
    price_schedule,
    sac_schedule,
)

__all__ = [
    "IOF_MODES",
    "SYSTEMS",
    "IofMode",
    "LoanTerms",
    "Quote",
    "QuoteRoutine",
    "System",
    "quote",
    "quote_terms",
    "quote_to_json",
]

System = Literal["price", "sac"]
IofMode = Literal["financed", "upfront", "none"]
SYSTEMS: tuple[System, ...] = ("price", "sac")
IOF_MODES: tuple[IofMode, ...] = ("financed", "upfront", "none")
MAX_TERM = 600


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """Everything a quote depends on; rates in percent (1.99 = 1.99 % a.m. / a.a.).

    Exactly one of ``rate_monthly`` and ``rate_annual`` is set; an annual rate is an effective
    rate, converted with (1 + a)^(1/12) - 1.
    """

    principal: Decimal
    term: int
    contract_date: date
    rate_monthly: Decimal | None = None
    rate_annual: Decimal | None = None
    system: System = "price"
    first_due: date | None = None
    borrower: Borrower = "pf"
    iof: IofMode = "financed"
    fees: tuple[Decimal, ...] = ()
    day_count: DayCount = "30/360"
    grace_months: int = 0
    carry: Carry = "rounded"

    def monthly_rate(self) -> Decimal:
        """The monthly rate as a fraction, full precision (an annual rate is converted)."""
        with exact():
            if self.rate_monthly is not None:
                return self.rate_monthly / 100
            if self.rate_annual is None:
                raise InvalidInput("give a monthly or an annual rate", rule="finance.terms")
            return (1 + self.rate_annual / 100) ** (Decimal(1) / 12) - 1


@dataclass(frozen=True, slots=True)
class Quote:
    """The result of :func:`quote_terms`; money in cents, CET as disclosed (two decimals)."""

    terms: LoanTerms
    released_amount: Decimal
    financed_principal: Decimal
    capitalized_interest: Decimal
    iof_total: Decimal
    iof_daily: Decimal
    iof_additional: Decimal
    iof_citation: str
    fees_total: Decimal
    cet_annual: Decimal
    cet_annual_percent: Decimal
    cet_monthly_percent: Decimal
    payment: Decimal
    total_paid: Decimal
    installments: tuple[Installment, ...]


QuoteRoutine = Callable[[LoanTerms], Quote]
"""The type of an official quoting routine; ``quote_terms`` is the built-in one."""


def _validate(terms: LoanTerms) -> None:
    rule = "finance.terms"
    if (terms.rate_monthly is None) == (terms.rate_annual is None):
        raise InvalidInput("give exactly one of the monthly and the annual rate", rule=rule)
    rate = terms.rate_monthly if terms.rate_monthly is not None else terms.rate_annual
    if rate is None or rate < 0:
        raise InvalidInput(f"the rate must be >= 0 percent, got {rate}", rule=rule)
    if terms.principal <= 0:
        raise InvalidInput(f"principal must be > 0, got {terms.principal}", rule=rule)
    if terms.principal != terms.principal.quantize(Decimal("0.01")):
        raise InvalidInput(f"principal must be in cents, got {terms.principal}", rule=rule)
    if not 1 <= terms.term <= MAX_TERM:
        raise InvalidInput(f"term must be 1..{MAX_TERM} months, got {terms.term}", rule=rule)
    choices: list[tuple[str, object, Iterable[str]]] = [
        ("system", terms.system, SYSTEMS),
        ("borrower", terms.borrower, BORROWERS),
        ("iof", terms.iof, IOF_MODES),
        ("day count", terms.day_count, DAY_COUNTS),
        ("carry", terms.carry, CARRIES),
    ]
    for name, value, allowed in choices:
        if value not in tuple(allowed):
            raise InvalidInput(
                f"{name} must be one of {', '.join(allowed)}, got {value!r}", rule=rule
            )
    if any(fee < 0 or fee != fee.quantize(Decimal("0.01")) for fee in terms.fees):
        raise InvalidInput("fees must be >= 0 and in cents", rule=rule)


def quote_terms(terms: LoanTerms) -> Quote:
    """The built-in official routine: a full, exact quote for one loan."""
    _validate(terms)
    rate = terms.monthly_rate()
    dues = due_dates(terms.contract_date, terms.term, terms.first_due, terms.grace_months)
    breakdown: IofBreakdown | None = None
    financed = terms.principal
    if terms.iof != "none":
        iof_rate = iof_rate_on(terms.contract_date, terms.borrower)
        shares = amortization_shares(
            terms.system,
            rate,
            terms.contract_date,
            dues,
            day_count=terms.day_count,
            grace_months=terms.grace_months,
        )

        def iof_of(principal: Decimal) -> IofBreakdown:
            with exact():
                base = [(due, principal * share) for due, share in zip(dues, shares, strict=True)]
            return iof_for_schedule(base, terms.contract_date, iof_rate, principal=principal)

        if terms.iof == "financed":
            financed = gross_up(terms.principal, lambda p: iof_of(p).total)
        breakdown = iof_of(financed)
    build = price_schedule if terms.system == "price" else sac_schedule
    rows = tuple(
        build(
            financed,
            rate,
            terms.contract_date,
            dues,
            day_count=terms.day_count,
            carry=terms.carry,
            grace_months=terms.grace_months,
        )
    )
    iof_total = breakdown.total if breakdown else ZERO
    fees_total = sum(terms.fees, ZERO)
    upfront_iof = iof_total if terms.iof == "upfront" else ZERO
    released = terms.principal - upfront_iof - fees_total
    annual = cet_annual(released, terms.contract_date, [(r.due_date, r.payment) for r in rows])
    annual_pct, monthly_pct = cet_percent(annual)
    return Quote(
        terms=terms,
        released_amount=released,
        financed_principal=financed,
        capitalized_interest=rows[0].opening_balance - financed,
        iof_total=iof_total,
        iof_daily=breakdown.daily if breakdown else ZERO,
        iof_additional=breakdown.additional if breakdown else ZERO,
        iof_citation=breakdown.rate.citation if breakdown else "",
        fees_total=fees_total,
        cet_annual=annual,
        cet_annual_percent=annual_pct,
        cet_monthly_percent=monthly_pct,
        payment=rows[0].payment,
        total_paid=sum((r.payment for r in rows), ZERO),
        installments=rows,
    )


def _as_date(value: date | str, field: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{field} must be a date (YYYY-MM-DD), got {value!r}", rule="finance.terms"
        ) from None


def quote(
    principal: Decimal | int | str,
    *,
    term: int,
    contract_date: date | str,
    rate_monthly: Decimal | int | str | None = None,
    rate_annual: Decimal | int | str | None = None,
    system: str = "price",
    first_due: date | str | None = None,
    borrower: str = "pf",
    iof: str = "financed",
    fees: Iterable[Decimal | int | str] = (),
    day_count: str = "30/360",
    grace_months: int = 0,
    carry: str = "rounded",
) -> Quote:
    """Build :class:`LoanTerms` from loose input (strings, ints, Decimals) and quote it."""
    if isinstance(term, bool) or not isinstance(term, int):
        raise InvalidInput(f"term must be an integer, got {term!r}", rule="finance.terms")
    if isinstance(grace_months, bool) or not isinstance(grace_months, int):
        raise InvalidInput(f"grace must be an integer, got {grace_months!r}", rule="finance.terms")
    terms = LoanTerms(
        principal=parse_decimal(principal, "principal"),
        term=term,
        contract_date=_as_date(contract_date, "contract date"),
        rate_monthly=None if rate_monthly is None else parse_decimal(rate_monthly, "rate"),
        rate_annual=None if rate_annual is None else parse_decimal(rate_annual, "rate"),
        system=system,  # type: ignore[arg-type]  # validated in quote_terms
        first_due=None if first_due is None else _as_date(first_due, "first due date"),
        borrower=borrower,  # type: ignore[arg-type]
        iof=iof,  # type: ignore[arg-type]
        fees=tuple(parse_decimal(f, "fee") for f in fees),
        day_count=day_count,  # type: ignore[arg-type]
        grace_months=grace_months,
        carry=carry,  # type: ignore[arg-type]
    )
    return quote_terms(terms)


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def quote_to_json(q: Quote) -> dict[str, object]:
    """A JSON-ready dict: money and percentages as decimal strings, dates as ISO strings."""
    t = q.terms
    return {
        "terms": {
            "principal": _money(t.principal),
            "term": t.term,
            "contract_date": t.contract_date.isoformat(),
            "rate_monthly_percent": None if t.rate_monthly is None else str(t.rate_monthly),
            "rate_annual_percent": None if t.rate_annual is None else str(t.rate_annual),
            "system": t.system,
            "first_due": None if t.first_due is None else t.first_due.isoformat(),
            "borrower": t.borrower,
            "iof": t.iof,
            "fees": [_money(f) for f in t.fees],
            "day_count": t.day_count,
            "grace_months": t.grace_months,
            "carry": t.carry,
        },
        "released_amount": _money(q.released_amount),
        "financed_principal": _money(q.financed_principal),
        "capitalized_interest": _money(q.capitalized_interest),
        "iof_total": _money(q.iof_total),
        "iof_daily": _money(q.iof_daily),
        "iof_additional": _money(q.iof_additional),
        "iof_citation": q.iof_citation,
        "fees_total": _money(q.fees_total),
        "cet_annual_percent": _money(q.cet_annual_percent),
        "cet_monthly_percent": _money(q.cet_monthly_percent),
        "payment": _money(q.payment),
        "total_paid": _money(q.total_paid),
        "installments": [
            {
                "number": r.number,
                "due_date": r.due_date.isoformat(),
                "opening_balance": _money(r.opening_balance),
                "payment": _money(r.payment),
                "interest": _money(r.interest),
                "amortization": _money(r.amortization),
                "balance": _money(r.balance),
            }
            for r in q.installments
        ],
    }

