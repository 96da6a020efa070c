"""Custo Efetivo Total (Resolução CMN 4.881/2020, same formula as 3.517/2007).

The CET is the annual rate that solves

    sum_j  FC_j / (1 + CET)^((d_j - d_0) / 365)  =  FC_0

where FC_0 is the amount actually released to the borrower (principal minus what the borrower
pays up front: IOF when not financed, fees) and FC_j the installments on their due dates.

Why Newton with a bisection fallback, in 40-digit Decimal: Newton converges in a handful of
steps; the bracket keeps it safe for odd cash flows; Decimal keeps the result reproducible to
far beyond the 1e-10 the specification asks (we stop at 1e-24).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from seedc.errors import InvalidInput

from .money import exact, round_percent

__all__ = [
    "cet_annual",
    "cet_monthly",
    "cet_percent",
    "irr_annual",
    "present_value",
]

_TOLERANCE = Decimal("1e-24")
_ONE_STEP = Decimal("1e-12")
_MAX_ITERATIONS = 200
_DAYS_IN_YEAR = Decimal(365)


def _times(release_date: date, flows: Sequence[tuple[date, Decimal]]) -> list[Decimal]:
    with exact():
        return [Decimal((when - release_date).days) / _DAYS_IN_YEAR for when, _ in flows]


def present_value(
    annual_rate: Decimal, release_date: date, flows: Sequence[tuple[date, Decimal]]
) -> Decimal:
    """Sum of the flows discounted to the release date at an annual rate, by exact days/365."""
    with exact():
        log_base = (1 + annual_rate).ln()
        return sum(
            (
                amount * (-(t * log_base)).exp()
                for t, (_, amount) in zip(_times(release_date, flows), flows, strict=True)
            ),
            Decimal(0),
        )


def _npv_and_slope(
    rate: Decimal, released: Decimal, times: Sequence[Decimal], amounts: Sequence[Decimal]
) -> tuple[Decimal, Decimal]:
    log_base = (1 + rate).ln()
    value, slope = -released, Decimal(0)
    for t, amount in zip(times, amounts, strict=True):
        discounted = amount * (-(t * log_base)).exp()
        value += discounted
        slope -= t * discounted / (1 + rate)
    return value, slope


def cet_annual(
    released: Decimal, release_date: date, flows: Sequence[tuple[date, Decimal]]
) -> Decimal:
    """The CET as a fraction (0.2341 = 23.41 % a.a.), to 1e-24.

    ``flows`` are (due date, amount paid) pairs, all after the release date and positive;
    each is discounted over its exact calendar days / 365.
    """
    if not flows or any(when <= release_date for when, _ in flows):
        raise InvalidInput("CET needs installments due after the release date", rule="finance.cet")
    return irr_annual(released, _times(release_date, flows), [amount for _, amount in flows])


def irr_annual(released: Decimal, times: Sequence[Decimal], amounts: Sequence[Decimal]) -> Decimal:
    """Annual rate x solving sum(amount_j / (1+x)^t_j) = released, t_j in years.

    The CET is this with t_j = days/365; textbook and calculator examples that assume whole
    periods use t_j = j/12.
    """
    if released <= 0:
        raise InvalidInput(
            f"released amount must be > 0, got {released}",
            rule="finance.cet",
            details=["upfront IOF and fees leave nothing to release"],
        )
    if not amounts or len(times) != len(amounts) or any(a <= 0 for a in amounts):
        raise InvalidInput("the rate needs positive installments", rule="finance.cet")
    if any(t <= 0 for t in times):
        raise InvalidInput("installments must fall after the release", rule="finance.cet")
    polished = _polish(_float_guess(released, times, amounts), released, times, amounts)
    if polished is not None:
        return polished
    with exact():
        low, high = Decimal("-0.99"), Decimal(1)
        if _npv_and_slope(low, released, times, amounts)[0] <= 0:
            raise InvalidInput("CET below -99 % a.a.; check the inputs", rule="finance.cet")
        while _npv_and_slope(high, released, times, amounts)[0] > 0:
            high *= 2
            if high > Decimal("1e9"):
                raise InvalidInput("CET above 1e11 % a.a.; check the inputs", rule="finance.cet")
        rate = Decimal("0.1") if low < Decimal("0.1") < high else (low + high) / 2
        for _ in range(_MAX_ITERATIONS):
            value, slope = _npv_and_slope(rate, released, times, amounts)
            if value > 0:
                low = rate
            else:
                high = rate
            step_ok = slope != 0
            candidate = rate - value / slope if step_ok else rate
            if not step_ok or not (low < candidate < high):
                candidate = (low + high) / 2
            if abs(candidate - rate) < _TOLERANCE or high - low < _TOLERANCE:
                return candidate
            rate = candidate
    raise InvalidInput("CET did not converge", rule="finance.cet")  # pragma: no cover


def _float_guess(released: Decimal, times: Sequence[Decimal],
                 amounts: Sequence[Decimal]) -> Decimal | None:
    """A starting point only: Newton in binary floating point, rounded to 12 digits.

    Rounding makes the start independent of the platform's last-ulp libm differences; the
    Decimal polish below then gives the same root everywhere.
    """
    fr, ts, ams = float(released), [float(t) for t in times], [float(a) for a in amounts]
    rate = 0.1
    for _ in range(60):
        if rate <= -0.99:
            return None
        log_base = math.log1p(rate)
        value, slope = -fr, 0.0
        for t, a in zip(ts, ams, strict=True):
            d = a * math.exp(-t * log_base)
            value += d
            slope -= t * d / (1 + rate)
        if slope == 0:
            return None
        step = value / slope
        rate -= step
        if abs(step) < 1e-13:
            return Decimal(repr(round(rate, 12)))
    return None


def _polish(start: Decimal | None, released: Decimal, times: Sequence[Decimal],
            amounts: Sequence[Decimal]) -> Decimal | None:
    """Decimal Newton from a close start; None when it does not settle (bracketed fallback)."""
    if start is None:
        return None
    with exact():
        rate = start
        for _ in range(6):
            value, slope = _npv_and_slope(rate, released, times, amounts)
            if slope == 0:
                return None
            candidate = rate - value / slope
            # Newton squares the error: a step under 1e-12 leaves one near 1e-24 (the bound
            # asked); a larger step means the start was poor, so iterate.
            if abs(candidate - rate) < _ONE_STEP:
                return candidate
            rate = candidate
    return None


def cet_monthly(annual: Decimal) -> Decimal:
    """Monthly equivalent of an annual rate: (1 + annual)^(1/12) - 1."""
    with exact():
        return (1 + annual) ** (Decimal(1) / 12) - 1


def cet_percent(annual: Decimal) -> tuple[Decimal, Decimal]:
    """(annual %, monthly %) with two decimals, ROUND_HALF_UP, as disclosed to customers."""
    return round_percent(annual), round_percent(cet_monthly(annual))
