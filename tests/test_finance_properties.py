"""Property tests: the ledger identities hold for any loan, and the CET prices it back."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from seedc.finance import due_dates, price_schedule, quote, sac_schedule

D = Decimal

principals = st.integers(min_value=100, max_value=200_000_000).map(lambda c: D(c) / 100)
monthly_rates = st.integers(min_value=0, max_value=150_000).map(lambda b: D(b) / 1_000_000)
contracts = st.dates(min_value=date(2015, 2, 1), max_value=date(2030, 12, 31))
day_counts = st.sampled_from(["30/360", "actual/365"])
builders = st.sampled_from([price_schedule, sac_schedule])


def discounted(annual: Decimal, release: date, flows: list[tuple[date, Decimal]]) -> float:
    """Independent of seedc: sum FC_j / (1 + CET)^(days_j / 365), in binary floating point
    (Resolução CMN 4.881/2020: t_j in calendar days / 365)."""
    return sum(float(amount) / (1 + float(annual)) ** ((due - release).days / 365)
               for due, amount in flows)


@settings(max_examples=150, deadline=None)
@given(
    principal=principals,
    rate=monthly_rates,
    term=st.integers(min_value=1, max_value=120),
    contract=contracts,
    day_count=day_counts,
    build=builders,
    first_due_offset=st.one_of(st.none(), st.integers(min_value=1, max_value=59)),
)
def test_rounded_ledger_sums_to_principal_and_reaches_zero(
    principal: Decimal,
    rate: Decimal,
    term: int,
    contract: date,
    day_count: str,
    build: object,
    first_due_offset: int | None,
) -> None:
    first_due = None if first_due_offset is None else contract + timedelta(days=first_due_offset)
    dues = due_dates(contract, term, first_due)
    schedule = build(principal, rate, contract, dues, day_count=day_count)  # type: ignore[operator]
    assert sum(r.amortization for r in schedule) == principal
    assert schedule[-1].balance == 0
    assert schedule[0].opening_balance == principal
    for row, nxt in itertools.pairwise(schedule):
        assert nxt.opening_balance == row.balance
    for row in schedule:
        assert row.opening_balance - row.amortization == row.balance
        assert row.interest + row.amortization == row.payment
        assert row.interest >= 0
        assert row.payment == row.payment.quantize(D("0.01"))


@settings(max_examples=100, deadline=None)
@given(
    principal=principals,
    rate=monthly_rates,
    term=st.integers(min_value=1, max_value=120),
    contract=contracts,
    day_count=day_counts,
    build=builders,
)
def test_exact_carry_also_ends_at_zero_within_cents(
    principal: Decimal, rate: Decimal, term: int, contract: date, day_count: str, build: object
) -> None:
    dues = due_dates(contract, term)
    schedule = build(principal, rate, contract, dues, day_count=day_count, carry="exact")  # type: ignore[operator]
    assert schedule[-1].balance == 0
    assert abs(sum(r.amortization for r in schedule) - principal) <= D("0.01") * term


@settings(max_examples=60, deadline=None)
@given(
    principal=st.integers(min_value=50_000, max_value=50_000_000).map(lambda c: D(c) / 100),
    rate=st.integers(min_value=0, max_value=900).map(lambda b: D(b) / 100),
    term=st.integers(min_value=1, max_value=72),
    system=st.sampled_from(["price", "sac"]),
    contract=contracts,
    day_count=day_counts,
    iof=st.sampled_from(["financed", "upfront", "none"]),
    borrower=st.sampled_from(["pf", "pj"]),
    fee=st.integers(min_value=0, max_value=20_000).map(lambda c: D(c) / 100),
    grace=st.integers(min_value=0, max_value=3),
)
def test_present_value_at_cet_equals_released(
    principal: Decimal,
    rate: Decimal,
    term: int,
    system: str,
    contract: date,
    day_count: str,
    iof: str,
    borrower: str,
    fee: Decimal,
    grace: int,
) -> None:
    q = quote(
        principal,
        term=term,
        contract_date=contract,
        rate_monthly=rate,
        system=system,
        day_count=day_count,
        iof=iof,
        borrower=borrower,
        fees=[fee],
        grace_months=grace,
    )
    flows = [(r.due_date, r.payment) for r in q.installments]
    released = float(q.released_amount)
    assert abs(discounted(q.cet_annual, contract, flows) - released) < max(1e-6, released * 1e-12)
    assert sum(r.amortization for r in q.installments) == q.financed_principal + (
        q.capitalized_interest
    )
    if grace == 0:
        assert q.capitalized_interest == 0
