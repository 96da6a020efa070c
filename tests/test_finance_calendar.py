"""Due dates: month-end rule, anchors, grace, and the 30/360 vs actual period lengths."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seedc.errors import InvalidInput
from seedc.finance import due_dates
from seedc.finance.calendar import months_between, period_months


def test_month_end_anchor_is_kept() -> None:
    """Jan 31 -> Feb 29 (leap) -> Mar 31 -> Apr 30: the 31st never drifts to the 29th."""
    assert due_dates(date(2024, 1, 31), 4) == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
    ]
    assert due_dates(date(2025, 1, 31), 2) == [date(2025, 2, 28), date(2025, 3, 31)]


def test_default_first_due_is_one_month_after_contract() -> None:
    assert due_dates(date(2025, 3, 10), 1) == [date(2025, 4, 10)]
    assert due_dates(date(2025, 12, 15), 2) == [date(2026, 1, 15), date(2026, 2, 15)]


def test_explicit_first_due_becomes_the_anchor() -> None:
    assert due_dates(date(2025, 1, 5), 3, first_due=date(2025, 2, 20)) == [
        date(2025, 2, 20),
        date(2025, 3, 20),
        date(2025, 4, 20),
    ]


def test_grace_moves_the_first_due_and_conflicts_with_explicit_first_due() -> None:
    assert due_dates(date(2025, 1, 31), 2, grace_months=3) == [
        date(2025, 5, 31),
        date(2025, 6, 30),
    ]
    with pytest.raises(InvalidInput):
        due_dates(date(2025, 1, 31), 2, first_due=date(2025, 3, 1), grace_months=1)
    with pytest.raises(InvalidInput):
        due_dates(date(2025, 1, 31), 2, first_due=date(2025, 1, 31))
    with pytest.raises(InvalidInput):
        due_dates(date(2025, 1, 31), 0)


def test_period_lengths() -> None:
    """30/360: one month per period, leftover days in 1/30; actual/365: days / 30."""
    contract = date(2025, 1, 31)
    dues = due_dates(contract, 3)
    grace, periods = period_months(contract, dues, "30/360")
    assert (grace, periods) == (Decimal(0), [Decimal(1)] * 3)
    _, actual = period_months(contract, dues, "actual/365")
    assert [(p * 30).quantize(Decimal(1)) for p in actual] == [28, 31, 30]
    odd = [date(2025, 3, 17)]  # 1 month (Feb 28) + 17 days
    (first,) = period_months(contract, odd, "30/360")[1]
    assert abs(first - (1 + Decimal(17) / 30)) < Decimal("1e-20")  # test context: 28 digits
    assert months_between(date(2025, 1, 31), date(2025, 2, 28)) == (1, 0)


@settings(max_examples=300, deadline=None)
@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    st.integers(min_value=1, max_value=120),
)
def test_property_month_end_rule(contract: date, term: int) -> None:
    """Every due date keeps the anchor day or, in a shorter month, its last day."""
    previous = contract
    for k, due in enumerate(due_dates(contract, term), start=1):
        expected_month = (contract.month - 1 + k) % 12 + 1
        last = calendar.monthrange(due.year, due.month)[1]
        assert due.month == expected_month
        assert due.day == min(contract.day, last)
        assert due.year == contract.year + (contract.month - 1 + k) // 12
        assert due - previous >= timedelta(days=28)
        previous = due
