"""IOF on credit (Decreto 6.306/2007 art. 7º): one test per rate regime and the gross-up.

The single-installment cases make the decree arithmetic visible: a bullet loan of R$ 10.000
due in 30 days pays ``10.000 x daily x 30`` plus ``10.000 x additional``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seedc.errors import InvalidInput
from seedc.finance import (
    due_dates,
    gross_up,
    iof_for_schedule,
    iof_rate_on,
    iof_rate_table,
    price_schedule,
    quote,
    sac_schedule,
)

D = Decimal


def bullet_iof(contract: date, borrower: str, days: int = 30) -> tuple[Decimal, Decimal]:
    """(daily part, additional part) of R$ 10.000 repaid in one installment after ``days``."""
    due = date.fromordinal(contract.toordinal() + days)
    rate = iof_rate_on(contract, borrower)
    schedule = price_schedule(D("10000.00"), D(0), contract, [due], day_count="actual/365")
    iof = iof_for_schedule(schedule, contract, rate, principal=D("10000.00"))
    assert iof.total == iof.daily + iof.additional
    return iof.daily, iof.additional


@pytest.mark.parametrize(
    ("contract", "borrower", "daily", "additional", "decree"),
    [
        # Pessoa física: 0,0082 % a day + 0,38 % (art. 7º, I, b, 2 and § 15).
        (date(2024, 3, 1), "pf", "24.60", "38.00", "6.306/2007"),
        # PF is unchanged by the 2025 decrees.
        (date(2025, 6, 1), "pf", "24.60", "38.00", "6.306/2007"),
        # Pessoa jurídica before 2025: 0,0041 % a day + 0,38 % (max 1,88 % a year).
        (date(2025, 5, 22), "pj", "12.30", "38.00", "6.306/2007"),
        # Decreto 12.466/2025 (from 2025-05-23): 0,0082 % a day + 0,95 % for companies.
        (date(2025, 5, 23), "pj", "24.60", "95.00", "12.466/2025"),
        # Decreto 12.499/2025 (from 2025-06-11): additional back to 0,38 %, daily kept.
        (date(2025, 6, 11), "pj", "24.60", "38.00", "12.499/2025"),
        # Decreto Legislativo 176/2025 suspended the decrees (2025-06-27..2025-07-15).
        (date(2025, 7, 1), "pj", "12.30", "38.00", "Legislativo 176/2025"),
        # STF, ADC 96, restored Decreto 12.499/2025 from 2025-07-16.
        (date(2025, 7, 16), "pj", "24.60", "38.00", "12.499/2025"),
        (date(2026, 1, 10), "pj", "24.60", "38.00", "12.499/2025"),
        # Decreto 10.797/2021 raised the daily rates from 2021-09-20 to 2021-12-31.
        (date(2021, 10, 1), "pf", "33.54", "38.00", "10.797/2021"),
        (date(2021, 10, 1), "pj", "16.77", "38.00", "10.797/2021"),
        # Decreto 10.305/2020 (COVID-19): zero daily and additional rates.
        (date(2020, 6, 1), "pf", "0.00", "0.00", "10.305/2020"),
        (date(2020, 12, 20), "pj", "0.00", "0.00", "10.572/2020"),
        (date(2020, 12, 1), "pj", "12.30", "38.00", "10.551/2020"),
    ],
)
def test_bullet_loan_by_regime(
    contract: date, borrower: str, daily: str, additional: str, decree: str
) -> None:
    assert bullet_iof(contract, borrower) == (D(daily), D(additional))
    assert decree in iof_rate_on(contract, borrower).citation


def test_daily_part_is_capped_at_365_days() -> None:
    """Art. 7º § 1º: a two-year bullet pays 365 days. PJ under Decreto 12.466/2025 hits the
    press figure "até 3,95 % ao ano": 0,0082 % x 365 = 2,993 % plus 0,95 % = 3,943 %."""
    assert bullet_iof(date(2024, 3, 1), "pf", days=730) == (D("299.30"), D("38.00"))
    daily, additional = bullet_iof(date(2025, 5, 23), "pj", days=400)
    assert daily + additional == D("394.30")
    daily, additional = bullet_iof(date(2024, 3, 1), "pj", days=365)
    assert daily + additional == D("187.65")  # "até 1,88 % ao ano" before 2025


def test_base_is_each_installments_amortization_for_its_own_days() -> None:
    """IN SRF 46/2001 art. 2: the base follows the amortization system. Hand computation for
    a R$ 3.000 SAC in 3 months, PF 2024: 1.000 x 0,000082 x (31 + 61 + 92) = 15,088."""
    contract = date(2024, 3, 1)
    dues = due_dates(contract, 3)  # Apr 1 (31 days), May 1 (61), Jun 1 (92)
    schedule = sac_schedule(D(3000), D("0.02"), contract, dues)
    iof = iof_for_schedule(schedule, contract, iof_rate_on(contract, "pf"), principal=D(3000))
    assert [r.amortization for r in schedule] == [D("1000.00")] * 3
    assert iof.daily == D("15.09")
    assert iof.additional == D("11.40")


def test_table_has_no_gaps_and_refuses_unknown_dates() -> None:
    rows = iof_rate_table()
    assert {r.borrower for r in rows} == {"pf", "pj"}
    with pytest.raises(InvalidInput):
        iof_rate_on(date(2014, 12, 31), "pf")
    with pytest.raises(InvalidInput):
        iof_rate_on(date(2024, 1, 1), "mei")


def test_financed_gross_up_is_consistent() -> None:
    """F - IOF(F) == released, to the cent, IOF computed on F's own schedule."""
    q = quote("10000.00", term=24, contract_date="2025-08-01", rate_monthly="2.5", borrower="pj")
    assert q.financed_principal - q.iof_total == q.released_amount == D("10000.00")
    assert q.iof_daily > 0
    assert q.iof_additional == (q.financed_principal * D("0.0038")).quantize(D("0.01"))


def test_gross_up_solver_on_a_linear_tax() -> None:
    """IOF = 3 % of F: F = 1000 / 0.97 = 1030.93, the smallest cent with F - IOF >= 1000."""

    def tax(f: Decimal) -> Decimal:
        return (f * D("0.03")).quantize(D("0.01"))

    financed = gross_up(D("1000.00"), tax)
    assert financed == D("1030.93")
    assert financed - tax(financed) == D("1000.00")


@settings(max_examples=40, deadline=None)
@given(
    principal=st.integers(min_value=10_000, max_value=50_000_000).map(lambda c: D(c) / 100),
    rate=st.integers(min_value=0, max_value=800).map(lambda b: D(b) / 100),
    term=st.integers(min_value=1, max_value=60),
    system=st.sampled_from(["price", "sac"]),
    borrower=st.sampled_from(["pf", "pj"]),
    contract=st.dates(min_value=date(2015, 2, 1), max_value=date(2027, 12, 31)),
    day_count=st.sampled_from(["30/360", "actual/365"]),
)
def test_property_financed_gross_up(
    principal: Decimal,
    rate: Decimal,
    term: int,
    system: str,
    borrower: str,
    contract: date,
    day_count: str,
) -> None:
    q = quote(
        principal,
        term=term,
        contract_date=contract,
        rate_monthly=rate,
        system=system,
        borrower=borrower,
        day_count=day_count,
    )
    assert q.financed_principal - q.iof_total == principal
    assert q.released_amount == principal
