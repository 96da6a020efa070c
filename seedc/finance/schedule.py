"""Price (French, constant installment) and SAC (constant amortization) schedules.

Conventions (why: published tables differ only in these, so they are options, not accidents):

* Rates: ``monthly_rate`` is a fraction (0.0199 for 1.99 % a.m.). The interest of a period of
  ``t`` months (see :mod:`.calendar`) is ``balance * ((1+i)^t - 1)``; regular 30/360 periods
  have t = 1, so this is the plain monthly rate.
* Grace (``grace_months``): interest accrues and is **capitalised** into the balance:
  installment 1 opens on ``principal * (1+i)^grace`` (rounded to the cent), and the
  amortizations sum to that capitalised balance.
* ``carry="rounded"`` (default) - a ledger in cents: each row's interest is rounded from the
  previous *rounded* balance, the Price payment / SAC amortization is rounded once, and the
  last installment absorbs the residual, so amortizations sum exactly to the (capitalised)
  principal, every row satisfies ``opening - amortization == balance`` and
  ``interest + amortization == payment``, and the balance ends at 0.00. For SAC the
  amortization is ``round(principal / n)`` for rows 1..n-1.
  When rate x term is so extreme that cent errors compound faster than the loan amortizes
  (no fixed payment in cents keeps the Price ledger >= 0, e.g. 13 % a.m. over 8 years),
  the Price ledger is re-anchored on the exact balances: each row's balance is the exact
  balance rounded, amortization is the difference of rounded balances and the payment may
  differ from the nominal one by a cent; all the identities above still hold.
* ``carry="exact"`` - the spreadsheet convention: balances are carried unrounded (40 digits)
  and every printed cell is that exact value rounded on its own. It reproduces tables made in
  Excel; the identities above then hold only to a cent or so, and the last row pays the exact
  remaining balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from seedc.errors import InvalidInput

from .calendar import DayCount, period_months
from .money import CENT, ZERO, exact, growth, round_money

__all__ = [
    "CARRIES",
    "Carry",
    "Installment",
    "amortization_shares",
    "price_schedule",
    "sac_schedule",
]

Carry = Literal["rounded", "exact"]
CARRIES: tuple[Carry, ...] = ("rounded", "exact")


@dataclass(frozen=True, slots=True)
class Installment:
    """One row of a schedule; money in cents (``Decimal`` with two places)."""

    number: int
    due_date: date
    opening_balance: Decimal
    payment: Decimal
    interest: Decimal
    amortization: Decimal
    balance: Decimal


def _check(principal: Decimal, monthly_rate: Decimal, dues: Sequence[date], carry: str) -> None:
    if principal <= 0:
        raise InvalidInput(f"principal must be > 0, got {principal}", rule="finance.principal")
    if monthly_rate < 0:
        raise InvalidInput(f"rate must be >= 0, got {monthly_rate}", rule="finance.rate")
    if carry not in CARRIES:
        raise InvalidInput(
            f"carry must be one of {', '.join(CARRIES)}, got {carry!r}", rule="finance.carry"
        )
    if not dues:
        raise InvalidInput("a schedule needs at least one due date", rule="finance.term")


def _factors(
    monthly_rate: Decimal,
    contract_date: date,
    dues: Sequence[date],
    day_count: DayCount,
    grace_months: int,
) -> tuple[Decimal, list[Decimal]]:
    """Growth over the grace stretch and per period; 30/360 regular periods cost one multiply."""
    grace, periods = period_months(contract_date, dues, day_count, grace_months)
    one_month = growth(monthly_rate, Decimal(1))
    factors = [one_month if t == 1 else growth(monthly_rate, t) for t in periods]
    return growth(monthly_rate, grace), factors


def price_schedule(
    principal: Decimal,
    monthly_rate: Decimal,
    contract_date: date,
    dues: Sequence[date],
    *,
    day_count: DayCount = "30/360",
    carry: Carry = "rounded",
    grace_months: int = 0,
) -> list[Installment]:
    """Constant-installment schedule; the payment solves sum(PMT * v_k) = principal.

    ``v_k`` is the discount factor to due date k built from the period factors, so irregular
    first periods (``actual/365`` or an explicit first due date) still amortize to zero.
    """
    _check(principal, monthly_rate, dues, carry)
    capital_factor, factors = _factors(monthly_rate, contract_date, dues, day_count, grace_months)
    with exact():
        capital = principal * capital_factor
        discount, annuity = Decimal(1), Decimal(0)
        for factor in factors:
            discount /= factor
            annuity += discount
        exact_payment = capital / annuity
        if carry == "exact":
            return _price_exact(capital, exact_payment, factors, dues)
        rows = _price_rounded(round_money(capital), round_money(exact_payment), factors, dues)
        if any(r.balance < 0 for r in rows):
            # Tiny loans: rounding the payment up by a fraction of a cent, term after term,
            # would repay early; round it down instead (the last row then pays a bit more).
            floor = exact_payment.quantize(CENT, rounding=ROUND_DOWN)
            rows = _price_rounded(round_money(capital), floor, factors, dues)
        if any(r.balance < 0 for r in rows):
            # Extreme rate x term: cent errors compound faster than the loan amortizes, so no
            # fixed payment in cents keeps the ledger >= 0. Re-anchor every row on the exact
            # balance instead (payments then vary by a cent or so; sums stay exact).
            rows = _price_reanchored(capital, exact_payment, factors, dues)
        return rows


def _price_reanchored(
    capital: Decimal, payment: Decimal, factors: Sequence[Decimal], dues: Sequence[date]
) -> list[Installment]:
    rows: list[Installment] = []
    balance = capital
    opening = round_money(capital)
    last = len(dues) - 1
    for k, (factor, due) in enumerate(zip(factors, dues, strict=True)):
        interest = round_money(balance * (factor - 1))
        balance = ZERO if k == last else balance * factor - payment
        closing = round_money(balance)
        amortization = opening - closing
        rows.append(
            Installment(
                k + 1, due, opening, interest + amortization, interest, amortization, closing
            )
        )
        opening = closing
    return rows


def _price_rounded(
    capital: Decimal, payment: Decimal, factors: Sequence[Decimal], dues: Sequence[date]
) -> list[Installment]:
    rows: list[Installment] = []
    balance = capital
    last = len(dues) - 1
    for k, (factor, due) in enumerate(zip(factors, dues, strict=True)):
        interest = round_money(balance * (factor - 1))
        amortization = balance if k == last else payment - interest
        closing = balance - amortization
        rows.append(
            Installment(
                k + 1, due, balance, interest + amortization, interest, amortization, closing
            )
        )
        balance = closing
    return rows


def _price_exact(
    capital: Decimal, payment: Decimal, factors: Sequence[Decimal], dues: Sequence[date]
) -> list[Installment]:
    rows: list[Installment] = []
    balance = capital
    last = len(dues) - 1
    for k, (factor, due) in enumerate(zip(factors, dues, strict=True)):
        interest = balance * (factor - 1)
        amortization = balance if k == last else payment - interest
        closing = ZERO if k == last else balance - amortization
        rows.append(
            Installment(
                k + 1,
                due,
                round_money(balance),
                round_money(interest + amortization),
                round_money(interest),
                round_money(amortization),
                round_money(closing),
            )
        )
        balance = closing
    return rows


def amortization_shares(
    system: Literal["price", "sac"],
    monthly_rate: Decimal,
    contract_date: date,
    dues: Sequence[date],
    *,
    day_count: DayCount = "30/360",
    grace_months: int = 0,
) -> list[Decimal]:
    """Exact (unrounded) amortization of each installment per 1.00 of principal.

    Why: the IOF base is each installment's principal under the amortization system (IN SRF
    46/2001 art. 2). Taking it before cent rounding makes the IOF linear in the principal,
    as in the IN's own "tabela prática", which is what lets the financed gross-up always
    land on the cent. With grace the shares add up to the capitalisation factor.
    """
    _check(Decimal(1), monthly_rate, dues, "exact")
    capital, factors = _factors(monthly_rate, contract_date, dues, day_count, grace_months)
    n = len(dues)
    with exact():
        if system == "sac":
            return [capital / n] * n
        discount, annuity = Decimal(1), Decimal(0)
        for factor in factors:
            discount /= factor
            annuity += discount
        payment = capital / annuity
        shares: list[Decimal] = []
        balance = capital
        for k, factor in enumerate(factors):
            amortization = balance if k == n - 1 else payment - balance * (factor - 1)
            shares.append(amortization)
            balance -= amortization
        return shares


def sac_schedule(
    principal: Decimal,
    monthly_rate: Decimal,
    contract_date: date,
    dues: Sequence[date],
    *,
    day_count: DayCount = "30/360",
    carry: Carry = "rounded",
    grace_months: int = 0,
) -> list[Installment]:
    """Constant-amortization schedule: principal / n per installment plus the period's interest."""
    _check(principal, monthly_rate, dues, carry)
    capital_factor, factors = _factors(monthly_rate, contract_date, dues, day_count, grace_months)
    n = len(dues)
    rows: list[Installment] = []
    last = n - 1
    with exact():
        if carry == "exact":
            balance = principal * capital_factor
            step = balance / n
            for k, (factor, due) in enumerate(zip(factors, dues, strict=True)):
                interest = balance * (factor - 1)
                amortization = balance if k == last else step
                closing = ZERO if k == last else balance - amortization
                rows.append(
                    Installment(
                        k + 1,
                        due,
                        round_money(balance),
                        round_money(interest + amortization),
                        round_money(interest),
                        round_money(amortization),
                        round_money(closing),
                    )
                )
                balance = closing
            return rows
        balance = round_money(principal * capital_factor)
        step = round_money(balance / n)
        if step * (n - 1) > balance:  # tiny balances: never let the last row go negative
            step = (balance / n).quantize(CENT, rounding=ROUND_DOWN)
        for k, (factor, due) in enumerate(zip(factors, dues, strict=True)):
            interest = round_money(balance * (factor - 1))
            amortization = balance if k == last else step
            closing = balance - amortization
            rows.append(
                Installment(
                    k + 1, due, balance, interest + amortization, interest, amortization, closing
                )
            )
            balance = closing
    return rows
