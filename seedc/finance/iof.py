"""IOF on credit operations (Decreto 6.306/2007, art. 7º), rates as dated data.

Why data and not constants: the rates changed ten times since 2020 (COVID zero rates, the
2021 increase, and the 2025 decrees for companies), and a loan pays the rate in force on its
contract date, so seeding historical loans needs the whole history. The table lives in
``iof_rates.json`` next to this module, each row with its decree citation.

Computation (IN SRF 46/2001 art. 2: the base is each installment's principal under the
contracted amortization system):

* daily part = sum over installments of ``amortization * daily_rate * min(days, 365)``, days
  counted from release (the contract date) to the due date; summed exactly, rounded once to
  the cent (ROUND_HALF_UP). An installment that amortizes nothing (or less) adds nothing.
  The quote uses each installment's exact amortization under the system (before the cent
  ledger's rounding), like the IN's "tabela prática" (IOF = principal x coefficient), so
  IOF(F) only grows with F and the financed gross-up always has a cent solution.
* additional part = ``principal * additional_rate``, rounded to the cent.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib import resources
from typing import Literal

from seedc.errors import InvalidInput, RuntimeFailure

from .money import CENT, ZERO, exact, round_money
from .schedule import Installment

__all__ = [
    "BORROWERS",
    "Borrower",
    "IofBreakdown",
    "IofRate",
    "gross_up",
    "iof_for_schedule",
    "iof_rate_on",
    "iof_rate_table",
]

Borrower = Literal["pf", "pj"]
BORROWERS: tuple[Borrower, ...] = ("pf", "pj")
MAX_DAYS = 365


@dataclass(frozen=True, slots=True)
class IofRate:
    """One dated row of the rate table; rates as fractions (0.000082 = 0.0082 % a day)."""

    borrower: Borrower
    effective_from: date
    effective_to: date | None
    daily: Decimal
    additional: Decimal
    citation: str
    note: str = ""

    def covers(self, on: date) -> bool:
        """True when a contract signed on ``on`` pays this row's rates."""
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


@dataclass(frozen=True, slots=True)
class IofBreakdown:
    """IOF of one operation: the two parts, their sum and the row they came from."""

    daily: Decimal
    additional: Decimal
    total: Decimal
    rate: IofRate


def _row(raw: dict[str, object]) -> IofRate:
    borrower = raw["borrower"]
    if borrower not in BORROWERS:
        raise RuntimeFailure(f"iof_rates.json: unknown borrower {borrower!r}")
    end = raw.get("effective_to")
    with exact():
        return IofRate(
            borrower=borrower,
            effective_from=date.fromisoformat(str(raw["effective_from"])),
            effective_to=None if end is None else date.fromisoformat(str(end)),
            daily=Decimal(str(raw["daily_percent"])) / 100,
            additional=Decimal(str(raw["additional_percent"])) / 100,
            citation=str(raw["citation"]),
            note=str(raw.get("note", "")),
        )


@lru_cache(maxsize=1)
def iof_rate_table() -> tuple[IofRate, ...]:
    """The packaged table, checked to have neither gaps nor overlaps per borrower."""
    text = resources.files("seedc.finance").joinpath("iof_rates.json").read_text("utf-8")
    rows = tuple(_row(r) for r in json.loads(text)["rates"])
    for borrower in BORROWERS:
        mine = sorted((r for r in rows if r.borrower == borrower), key=lambda r: r.effective_from)
        for earlier, later in itertools.pairwise(mine):
            if earlier.effective_to is None or earlier.effective_to + timedelta(days=1) != (
                later.effective_from
            ):
                raise RuntimeFailure(
                    f"iof_rates.json: {borrower} rows {earlier.effective_from} and "
                    f"{later.effective_from} leave a gap or overlap"
                )
        if not mine or mine[-1].effective_to is not None:
            raise RuntimeFailure(f"iof_rates.json: {borrower} has no row in force today")
    return rows


def iof_rate_on(on: date, borrower: str) -> IofRate:
    """The row in force for a contract signed on ``on`` by a ``pf`` or ``pj`` borrower."""
    if borrower not in BORROWERS:
        raise InvalidInput(
            f"borrower must be one of {', '.join(BORROWERS)}, got {borrower!r}",
            rule="finance.borrower",
        )
    for row in iof_rate_table():
        if row.borrower == borrower and row.covers(on):
            return row
    first = min(r.effective_from for r in iof_rate_table())
    raise InvalidInput(
        f"no IOF rate is known for contracts signed on {on}",
        rule="finance.iof-table",
        details=[f"the table in seedc/finance/iof_rates.json starts on {first}"],
    )


def iof_for_schedule(
    amortizations: Sequence[Installment] | Sequence[tuple[date, Decimal]],
    release_date: date,
    rate: IofRate,
    *,
    principal: Decimal,
) -> IofBreakdown:
    """IOF of a loan of ``principal`` released on ``release_date``.

    ``amortizations`` are the schedule rows or (due date, amortization) pairs; the quote
    passes the exact, unrounded amortizations (see ``amortization_shares``) so the tax is
    linear in the principal. Amortizations <= 0 (a first period whose interest exceeds the
    payment) carry no base.
    """
    with exact():
        daily = ZERO
        for item in amortizations:
            due, amount = (
                (item.due_date, item.amortization) if isinstance(item, Installment) else item
            )
            if amount > 0:
                days = min(max((due - release_date).days, 0), MAX_DAYS)
                daily += amount * rate.daily * days
        daily_part = round_money(daily)
        additional_part = round_money(principal * rate.additional)
    return IofBreakdown(daily_part, additional_part, daily_part + additional_part, rate)


def gross_up(released: Decimal, iof_of: Callable[[Decimal], Decimal]) -> Decimal:
    """Smallest cent amount F with ``F - iof_of(F) >= released``; equality is the normal case.

    Why a fixed point: IOF grows with F at under 4 % per real, so ``F = released + IOF(F)`` is
    a contraction; a few iterations land near it, then a short walk finds the cent where
    ``F - IOF(F)`` first reaches ``released``. When ``iof_of`` never decreases as F grows (true
    for the linear IOF the quote uses), F - IOF(F) rises at most one cent per cent of F, so
    that cent gives equality.
    """
    financed = released
    if released > 0:
        # IOF is nearly proportional to F: start at released / (1 - IOF(released)/released),
        # which lands within a cent or two; the iteration and the walk below then settle the
        # same cent as starting from `released` would, in far fewer IOF evaluations.
        with exact():
            ratio = iof_of(released) / released
        if ratio < 1:
            financed = (released / (1 - ratio)).quantize(CENT, rounding=ROUND_HALF_UP)
    for _ in range(50):
        nxt = released + iof_of(financed)
        if nxt == financed:
            break
        financed = nxt
    while financed - CENT >= released and (financed - CENT) - iof_of(financed - CENT) >= released:
        financed -= CENT
    while financed - iof_of(financed) < released:
        financed += CENT
    return financed
