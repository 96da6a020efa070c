"""Due dates and period lengths.

Why: the schedule, the IOF and the CET all hang off the same dates, so the month-end rule and
the day-count rule live here and nowhere else.

* Month-end rule: due dates are ``anchor + k months`` with the anchor's day kept; a day the
  month lacks falls on the month's last day, so an anchor on Jan 31 gives Feb 28/29, Mar 31,
  Apr 30, ... (never drifting to the 28th).
* Default anchor: the contract date, first due = contract + (1 + grace) months. With an
  explicit ``first_due`` the anchor is the first due date itself.
* Period lengths are measured in months. ``30/360``: a month is one period, whole months are
  counted with the rule above and leftover days count 1/30 each; ``actual/365``: actual
  calendar days / 30 (the monthly rate is compounded per day as (1+i)^(days/30)).
"""

from __future__ import annotations

import calendar as _calendar
import itertools
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Literal

from seedc.errors import InvalidInput

from .money import exact

__all__ = [
    "DayCount",
    "add_months",
    "days_between",
    "due_dates",
    "months_between",
    "period_months",
]

DayCount = Literal["30/360", "actual/365"]
DAY_COUNTS: tuple[DayCount, ...] = ("30/360", "actual/365")


def add_months(anchor: date, months: int) -> date:
    """The anchor moved by whole months, clamped to the month's last day (anchor day kept)."""
    years, month0 = divmod(anchor.month - 1 + months, 12)
    year = anchor.year + years
    month = month0 + 1
    last = _calendar.monthrange(year, month)[1]
    return date(year, month, min(anchor.day, last))


def days_between(start: date, end: date) -> int:
    """Calendar days from start to end (what the CET and IOF formulas call d_j - d_0)."""
    return (end - start).days


def months_between(start: date, end: date) -> tuple[int, int]:
    """Whole months (month-end rule) from start to end, then the leftover calendar days."""
    if end < start:
        raise InvalidInput(f"{end} is before {start}", rule="finance.dates-ordered")
    months = (end.year - start.year) * 12 + (end.month - start.month)
    while months > 0 and add_months(start, months) > end:
        months -= 1
    return months, (end - add_months(start, months)).days


def due_dates(
    contract_date: date,
    term: int,
    first_due: date | None = None,
    grace_months: int = 0,
) -> list[date]:
    """The ``term`` monthly due dates of a loan.

    Default first due = contract + (1 + grace_months) months, anchored on the contract day.
    An explicit ``first_due`` becomes the anchor and excludes ``grace_months`` (the two would
    say the same thing twice).
    """
    if term < 1:
        raise InvalidInput(f"term must be >= 1 month, got {term}", rule="finance.term")
    if grace_months < 0:
        raise InvalidInput(f"grace must be >= 0, got {grace_months}", rule="finance.grace")
    if first_due is None:
        return [add_months(contract_date, grace_months + k) for k in range(1, term + 1)]
    if grace_months:
        raise InvalidInput(
            "give either a first due date or a grace period, not both",
            rule="finance.grace",
            details=["grace moves the default first due date; an explicit one already does"],
        )
    if first_due <= contract_date:
        raise InvalidInput(
            f"first due date {first_due} must be after the contract date {contract_date}",
            rule="finance.dates-ordered",
        )
    return [add_months(first_due, k) for k in range(term)]


def period_months(
    contract_date: date,
    dues: Sequence[date],
    day_count: DayCount,
    grace_months: int = 0,
) -> tuple[Decimal, list[Decimal]]:
    """Length in months of the grace stretch and of each installment period.

    Grace runs from the contract to ``contract + grace`` months; the first period from there
    to the first due date; each later period between consecutive due dates.
    """
    if day_count not in DAY_COUNTS:
        raise InvalidInput(
            f"day count must be one of {', '.join(DAY_COUNTS)}, got {day_count!r}",
            rule="finance.day-count",
        )
    if not dues:
        raise InvalidInput("a schedule needs at least one due date", rule="finance.term")
    for earlier, later in itertools.pairwise(dues):
        if later <= earlier:
            raise InvalidInput("due dates must increase", rule="finance.dates-ordered")
    start = add_months(contract_date, grace_months)
    if dues[0] <= start:
        raise InvalidInput(
            f"first due date {dues[0]} must be after {start}", rule="finance.dates-ordered"
        )
    with exact():
        if day_count == "actual/365":
            grace = Decimal(days_between(contract_date, start)) / 30
            periods = [Decimal(days_between(start, dues[0])) / 30]
            periods += [Decimal(days_between(a, b)) / 30 for a, b in itertools.pairwise(dues)]
            return grace, periods
        whole, extra = months_between(contract_date, dues[0])
        first = Decimal(whole - grace_months) + Decimal(extra) / 30
        return Decimal(grace_months), [first] + [Decimal(1)] * (len(dues) - 1)
